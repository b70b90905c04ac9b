"""Schedules per second with the event ring (or the parent's watchdog) on and off, in the same run.

The ring is meant to stay on in every run: this measures what that costs.
`--measure watchdog` measures the alarm and stdout guard around each run's
init and check instead.  On and off batches alternate on one executor so
that machine noise falls on both sides alike.
"""
import contextlib
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
    parser.add_argument("--measure", choices=("ring", "watchdog"), default="ring",
                        help="what to switch on and off: the event ring, or the watchdog of init and check "
                             "(default: ring)")
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
        guard = ex._in_parent

        def switch(on):
            if args.measure == "ring":
                _core.set_ring(ex.pool, on)
            else:
                ex._in_parent = guard if on else contextlib.nullcontext()
        for _ in range(args.rounds):
            switch(True)
            on.append(batch_rate(ex, strategy, scenarios, per_batch))
            switch(False)
            off.append(batch_rate(ex, strategy, scenarios, per_batch))
        switch(True)
    rate_on, rate_off = sum(on) / len(on), sum(off) / len(off)
    what = args.measure
    figures = {"model": model.name, "variant": variant, f"{what}_on_per_s": round(rate_on, 1),
               f"{what}_off_per_s": round(rate_off, 1), "ratio_on_off": round(rate_on / rate_off, 3)}
    print(f"{model.name} {variant}: {what} on {rate_on:.0f} schedules/s, off {rate_off:.0f} schedules/s, "
          f"ratio {figures['ratio_on_off']:.3f}" + (" (target >= 0.8)" if what == "ring" else ""))
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
