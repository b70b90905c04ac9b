"""Schedules per second with the event ring on and off, in the same run, on the seed model.

The ring is meant to stay on in every run: this measures what that costs.
Ring-on and ring-off batches alternate on one executor so that machine noise
falls on both sides alike.
"""
import argparse
import json
import time

from fuzzmm import _core
from fuzzmm.models import load_model
from fuzzmm.sched.executor import Executor
from fuzzmm.sched.strategies import PCT


def batch_rate(ex, strategy, scenarios, seconds):
    n, start, i = 0, time.perf_counter(), 0
    while n < 5 or time.perf_counter() - start < seconds:
        scenario = scenarios[i % len(scenarios)]
        ex.run(scenario, strategy.schedule(scenario.ntasks))
        n += 1
        i += 1
    return n / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="thp-numa", help="model to run (default: thp-numa, the seed model)")
    parser.add_argument("--variant", help="variant (default: the model's first)")
    parser.add_argument("--seconds", type=float, default=4.0, help="total measuring time (default 4)")
    parser.add_argument("--rounds", type=int, default=8, help="alternating on/off batches (default 8)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)

    model = load_model(args.model)
    variant = args.variant or next(iter(model.variants))
    with Executor(model.ref(variant)) as ex:
        import random
        rng = random.Random(0)
        scenarios = [ex.program.default_scenario()] + [ex.program.random_scenario(rng) for _ in range(15)]
        per_batch = args.seconds / (2 * args.rounds)
        on, off = [], []
        strategy = PCT(1)
        batch_rate(ex, strategy, scenarios, per_batch)        # warm up
        for _ in range(args.rounds):
            _core.set_ring(ex.pool, True)
            on.append(batch_rate(ex, strategy, scenarios, per_batch))
            _core.set_ring(ex.pool, False)
            off.append(batch_rate(ex, strategy, scenarios, per_batch))
        _core.set_ring(ex.pool, True)
    rate_on, rate_off = sum(on) / len(on), sum(off) / len(off)
    figures = {"model": model.name, "variant": variant, "ring_on_per_s": round(rate_on, 1),
               "ring_off_per_s": round(rate_off, 1), "ratio_on_off": round(rate_on / rate_off, 3)}
    print(f"{model.name} {variant}: ring on {rate_on:.0f} schedules/s, off {rate_off:.0f} schedules/s, "
          f"ratio {figures['ratio_on_off']:.3f} (target >= 0.8)")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
