"""Campaign runs per second with and without publishing its state for dashboards, in the same command.

A campaign writes its jobs' state to its corpus store every couple of seconds
(fuzzmm.publish), from its own process, not its jobs'.  This runs one-job
campaigns on the seed model in pairs, one publishing and one not, back to back
(the order alternating, after a warm-up campaign that is not counted), and prints each side's runs per second (median over
the pairs; each job's runs over its own searching time, start-up excluded), the
median of the pairs' ratios (target at least 0.98), and the share of the
campaign's time its process spent writing the state: the most publishing can
take from the runs, even were that process on the job's own CPU.
`--corpus redis://...` publishes to a Redis server instead of a directory.
"""
import argparse
import json
import statistics
import tempfile


def campaign(variant, seconds, corpus, publish, interval):
    """(runs per second of a one-job campaign's job, share of its time spent publishing)."""
    from fuzzmm.campaign import Campaign, Job
    from fuzzmm.models import load_model
    model = load_model("thp-numa")
    job = Job(model.name, variant, model.ref(variant), "pct", 1)
    run = Campaign([job], seconds, 1, corpus, lambda event: None, publish=publish)
    if run.publisher is not None:
        run.publisher.interval = interval
    summary = run.run()
    (row,) = summary["jobs"]
    if row["error"]:
        raise SystemExit(f"the job failed: {row['error']}")
    if publish and run.publisher.failed:
        raise SystemExit(f"publishing failed: {run.publisher.failed}")
    share = run.publisher.spent_s / summary["elapsed_s"] if publish and summary["elapsed_s"] else 0.0
    return (row["runs"] / row["seconds"] if row["seconds"] else 0.0), share


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="hugh", help="seed-model variant (default hugh)")
    parser.add_argument("--seconds", type=float, default=4.0, help="each campaign's --duration (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of campaigns, one of each side (default 3)")
    parser.add_argument("--interval", type=float, default=None,
                        help="seconds between two publications (default: the campaign's own, 2 s)")
    parser.add_argument("--corpus", help="where to publish: a directory or redis://host:port/db "
                        "(default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the figures")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0:
        parser.error("--rounds must be at least 1 and --seconds positive")
    from fuzzmm.publish import PUBLISH_S
    interval = args.interval or PUBLISH_S
    on, off, ratios, shares = [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        corpus = args.corpus or scratch
        campaign(args.variant, min(args.seconds, 1.0), corpus, False, interval)      # warm-up, not counted
        for i in range(args.rounds):
            pair = {}
            for publish in ((True, False) if i % 2 == 0 else (False, True)):
                pair[publish] = campaign(args.variant, args.seconds, corpus, publish, interval)
            on.append(pair[True][0])
            off.append(pair[False][0])
            shares.append(pair[True][1])
            ratios.append(pair[True][0] / pair[False][0] if pair[False][0] else float("nan"))
    rate_on, rate_off = statistics.median(on), statistics.median(off)
    figures = {"variant": args.variant, "seconds": args.seconds, "rounds": args.rounds, "interval_s": interval,
               "publishing_runs_per_s": round(rate_on, 1), "silent_runs_per_s": round(rate_off, 1),
               "ratio_on_off": round(statistics.median(ratios), 3),
               "publishing_time_share": round(statistics.median(shares), 5),
               "samples_publishing": [round(r, 1) for r in on], "samples_silent": [round(r, 1) for r in off]}
    print(f"thp-numa {args.variant}, one pct job, {args.seconds:g} s, {args.rounds} pairs: publishing every "
          f"{interval:g} s {rate_on:.0f} runs/s, not publishing {rate_off:.0f} runs/s; median ratio of the pairs "
          f"{figures['ratio_on_off']} (target >= 0.98); publishing took {100 * figures['publishing_time_share']:.2f}% "
          f"of the campaign process's time")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
