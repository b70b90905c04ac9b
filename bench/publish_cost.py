"""Campaign runs per second with and without publishing its state for dashboards, in the same command.

A campaign writes its jobs' state to its corpus store every couple of seconds
(fuzzmm.publish).  This runs one-job campaigns on the seed model, publishing and
not in alternation (so that machine noise falls on both sides alike), and prints
the runs per second of each side (median of the rounds; each job's runs over its
own searching time, start-up excluded) and their ratio.  The target is at least
0.98.  `--corpus redis://...` publishes to a Redis server instead of a directory.
"""
import argparse
import json
import statistics
import tempfile


def campaign_rate(variant, seconds, corpus, publish, interval):
    """Runs per second of one one-job campaign's job."""
    from fuzzmm.campaign import Campaign, Job
    from fuzzmm.models import load_model
    model = load_model("thp-numa")
    job = Job(model.name, variant, model.ref(variant), "pct", 1)
    campaign = Campaign([job], seconds, 1, corpus, lambda event: None, publish=publish)
    if campaign.publisher is not None:
        campaign.publisher.interval = interval
    summary = campaign.run()
    (row,) = summary["jobs"]
    if row["error"]:
        raise SystemExit(f"the job failed: {row['error']}")
    if publish and campaign.publisher.failed:
        raise SystemExit(f"publishing failed: {campaign.publisher.failed}")
    return row["runs"] / row["seconds"] if row["seconds"] else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="hugh", help="seed-model variant (default hugh, which finds nothing)")
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
    on, off = [], []
    with tempfile.TemporaryDirectory() as scratch:
        corpus = args.corpus or scratch
        for i in range(args.rounds):
            sides = (True, False) if i % 2 == 0 else (False, True)
            for publish in sides:
                (on if publish else off).append(campaign_rate(args.variant, args.seconds, corpus, publish, interval))
    rate_on, rate_off = statistics.median(on), statistics.median(off)
    figures = {"variant": args.variant, "seconds": args.seconds, "rounds": args.rounds, "interval_s": interval,
               "publishing_runs_per_s": round(rate_on, 1), "silent_runs_per_s": round(rate_off, 1),
               "ratio_on_off": round(rate_on / rate_off, 3) if rate_off else None}
    print(f"thp-numa {args.variant}, one pct job, {args.seconds:g} s x {args.rounds} rounds per side: publishing "
          f"every {interval:g} s {rate_on:.0f} runs/s, not publishing {rate_off:.0f} runs/s, "
          f"ratio {figures['ratio_on_off']} (target >= 0.98)")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
