"""Time to bug: wall time and runs until each seed hazard first shows, per strategy,
against a stress baseline measured the same way in the same command.

Hazards (the README's seed-model section): H1 counter-leak on `mel`, H3 lost-write on
`v3.8-rc2`, H4 use-after-free or bad-page-state on `v3.8-rc2`.  The `stress`
baseline runs the same model the way a user would stress it by hand: for every
run, fresh processes started together, with no schedule control and no injected
delays.  `free-run` is a stronger reference: the same free-running tasks in
fuzzmm's persistent workers, thousands of runs a second.  Both run the model's
own scenario under the same oracles.  Every attempt has a time limit; an
attempt that finds nothing within it is reported as not found.
"""
import argparse
import json
import os
import statistics
import time

import multiprocess

from fuzzmm.sched.strategies import PORTFOLIO, PORTFOLIO_NAME, summaries as strategy_summaries

HAZARDS = {
    "H1": ("mel", ("counter-leak",)),
    "H3": ("v3.8-rc2", ("lost-write",)),
    "H4": ("v3.8-rc2", ("use-after-free", "bad-page-state")),
}
BASELINES = ("free-run", "stress")
STRATEGIES = (*strategy_summaries(), *BASELINES)        # fuzzmm's strategies, the portfolio, then the baselines
DEFAULT_STRATEGY = "pct"


def attempt(hazard, strategy, seed, limit_s):
    """One attempt: (seconds, runs) to the first finding of the hazard's kinds, or (None, runs).

    The time is when the run that showed it ended: `hypothesis` then shrinks the
    finding before it reports it, which is not counted (other strategies leave
    shrinking to `fuzzmm minimize`)."""
    from fuzzmm.models import load_model
    from fuzzmm.sched.executor import Executor
    from fuzzmm.sched.search import Search
    variant, kinds = HAZARDS[hazard]
    ref = load_model("thp-numa").ref(variant)
    if strategy == PORTFOLIO_NAME:
        return portfolio_attempt(ref, kinds, seed, limit_s)
    with Executor(ref, start_method="fork" if strategy == "stress" else None) as ex:
        start = time.monotonic()
        if strategy in BASELINES:
            scenario = ex.program.default_scenario()
            runs = 0
            while time.monotonic() - start < limit_s:
                if strategy == "stress":
                    ex.respawn()
                result = ex.run(scenario, mode="chaos")
                runs += 1
                if result.finding is not None and result.finding.kind in kinds:
                    return time.monotonic() - start, runs
            return None, runs
        search = Search(ex, strategy, seed=seed)
        for found in search.run(seconds=limit_s):
            if found.finding.kind in kinds:
                return found.elapsed_s, found.run
        return None, search.runs


def _portfolio_member(ref, kinds, strategy, seed, limit_s, out):
    from fuzzmm.sched.executor import Executor
    from fuzzmm.sched.search import Search
    with Executor(ref) as ex:
        search = Search(ex, strategy, seed=seed)
        for found in search.run(seconds=limit_s):
            if found.finding.kind in kinds:
                out.put((found.elapsed_s, found.run))
                return
        out.put((None, search.runs))


def portfolio_attempt(ref, kinds, seed, limit_s):
    """Every strategy at once, each on its own executor; the first to find wins.
    Like the other rows, its time counts from the search's start, not the executors'."""
    ctx = multiprocess.get_context("fork")
    results = ctx.Queue()
    members = [ctx.Process(target=_portfolio_member, args=(ref, kinds, s, seed, limit_s, results))
               for s in PORTFOLIO]
    for p in members:
        p.start()
    best, runs, answers = None, 0, 0
    while answers < len(members):
        seconds, n = results.get(timeout=limit_s + 60)
        answers += 1
        runs += n
        if seconds is not None:
            best = seconds
            break
    for p in members:
        p.kill()
        p.join(5)
    return best, runs


def _run_one(args):
    return args, attempt(*args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="attempts per hazard and strategy (default 5)")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per attempt (default 60)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated subset")
    parser.add_argument("--hazards", default=",".join(HAZARDS), help="comma-separated subset")
    parser.add_argument("--jobs", type=int, default=1, help="attempts run at once (default 1; "
                        "keep it at most cores/4, since an attempt uses a few processes)")
    parser.add_argument("--plot", help="write an SVG plot of median time to bug per strategy here")
    parser.add_argument("--json", action="store_true", help="end with one JSON object of the results")
    args = parser.parse_args(argv)

    todo = [(h, s, seed, args.limit) for h in args.hazards.split(",") for s in args.strategies.split(",")
            for seed in range(args.seeds)]
    done = {}
    if args.jobs > 1:
        with multiprocess.get_context("fork").Pool(args.jobs) as pool:
            for key, value in pool.imap_unordered(_run_one, todo):
                done[key] = value
    else:
        for key in todo:
            done[key] = attempt(*key)
    results = []
    print(f"{'hazard':6} {'strategy':10} {'found':>5} {'median s':>9} {'spread s':>17} {'median runs':>11}")
    for h in args.hazards.split(","):
        for s in args.strategies.split(","):
            tries = [done[(h, s, seed, args.limit)] for seed in range(args.seeds)]
            hits = [t for t in tries if t[0] is not None]
            times = sorted(t[0] for t in hits)
            row = {"hazard": h, "strategy": s, "found": len(hits), "attempts": len(tries),
                   "median_s": round(statistics.median(times), 4) if len(hits) * 2 > len(tries) else None,
                   "median_runs": int(statistics.median(t[1] for t in hits)) if hits else None,
                   "min_s": round(times[0], 4) if times else None, "max_s": round(times[-1], 4) if times else None,
                   "limit_s": args.limit}
            results.append(row)
            spread = f"{row['min_s']}-{row['max_s']}" if times else "-"
            median = f"{row['median_s']:.3f}" if row["median_s"] is not None else "not found"
            print(f"{h:6} {s:10} {len(hits):>3}/{len(tries)} {median:>9} {spread:>17} "
                  f"{row['median_runs'] if row['median_runs'] is not None else '-':>11}")
    ratios = speedups(results)
    for r in ratios:
        verdict = (f"{r['ratio']:g}x the baseline's speed" if r["ratio"] is not None else
                   f"the baseline found nothing in {args.limit:g} s" if not r["baseline_found"] else "-")
        print(f"{r['hazard']}: {DEFAULT_STRATEGY} against {r['baseline']}: {verdict}")
    if args.plot:
        plot(results, args.plot)
    if args.json:
        print(json.dumps({"results": results, "speedups": ratios, "default_strategy": DEFAULT_STRATEGY,
                          "cpus": os.cpu_count()}))


def speedups(results):
    """The default strategy's median time against each baseline's, per hazard (None where
    either median is missing: the baseline_found flag says whether the baseline found anything)."""
    out = []
    by_key = {(r["hazard"], r["strategy"]): r for r in results}
    for hazard in dict.fromkeys(r["hazard"] for r in results):
        ours = by_key.get((hazard, DEFAULT_STRATEGY))
        for baseline in BASELINES:
            theirs = by_key.get((hazard, baseline))
            if ours is None or theirs is None:
                continue
            ratio = None
            if ours["median_s"] and theirs["median_s"]:
                ratio = round(theirs["median_s"] / ours["median_s"], 1)
            out.append({"hazard": hazard, "baseline": baseline, "ratio": ratio,
                        "baseline_found": theirs["found"], "attempts": theirs["attempts"]})
    return out


def plot(results, path):
    """An SVG bar chart of median time to bug, per strategy and hazard, on a log scale.
    An attempt set that mostly found nothing is drawn hatched, at the limit."""
    import math
    hazards = sorted({r["hazard"] for r in results})
    strategies = list(dict.fromkeys(r["strategy"] for r in results))
    colours = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    limit = max(r["limit_s"] for r in results)
    lo = math.log10(0.001)
    hi = math.log10(limit)
    width, height, left, bottom, top = 760, 360, 60, 40, 30
    plot_h = height - bottom - top
    group = (width - left - 20) / len(strategies)
    bar = group * 0.8 / len(hazards)

    def y(v):
        v = min(max(v, 0.001), limit)
        return top + plot_h * (1 - (math.log10(v) - lo) / (hi - lo))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           '<defs><pattern id="h" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="white" stroke-width="2"/></pattern></defs>',
           f'<text x="{width / 2}" y="18" text-anchor="middle">median seconds to the first finding (log scale; hatched: not found in {limit:g} s)</text>']
    for exp in range(-3, int(math.floor(hi)) + 1):
        v = 10 ** exp
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for i, s in enumerate(strategies):
        x0 = left + i * group + group * 0.1
        out.append(f'<text x="{x0 + group * 0.4:.1f}" y="{height - 18}" text-anchor="middle">{s}</text>')
        for j, h in enumerate(hazards):
            row = next(r for r in results if r["hazard"] == h and r["strategy"] == s)
            v = row["median_s"] if row["median_s"] is not None else limit
            x = x0 + j * bar
            colour = colours[j % len(colours)]
            out.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar - 2:.1f}" height="{top + plot_h - y(v):.1f}" fill="{colour}"/>')
            if row["median_s"] is None:
                out.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar - 2:.1f}" height="{top + plot_h - y(v):.1f}" fill="url(#h)"/>')
    for j, h in enumerate(hazards):
        out.append(f'<rect x="{width - 160 + j * 45}" y="26" width="10" height="10" fill="{colours[j % len(colours)]}"/>'
                   f'<text x="{width - 146 + j * 45}" y="35">{h}</text>')
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
