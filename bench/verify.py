"""Systematic verification on the seed model: hazards found within 2 preemptions, the 3.13 fix
verified, the reduction against plain bounded enumeration, and speed against the random walk.

- Hazards: `verify` on each seed hazard's reproducer scenario (its corpus file), within 2
  preemptions, until a finding of the hazard's kinds: H1 counter-leak on `mel`, H3
  lost-write and H4 use-after-free (or bad-page-state) on `v3.8-rc2`, and H6, the lost
  write on `hugh` that Linux closed in 3.13 (the scenario of
  gup-after-check-v3.8-lost-write.json).  How many preemptions its schedule takes, and how
  many schedules ran before it (bounds 0, 1, 2 in turn).
- The fix: `hugh+a54a407` verified within 2 preemptions on the scenario of every corpus
  file, and within 3 when that finishes within --budget-3 seconds.
- Reduction: runs of plain bounded enumeration (every choice at every step within the
  bound) against the reduced exploration of the same bound, on `hugh+a54a407` (which
  finds nothing, so both run to the end), for the corpus scenarios and the model's default
  scenario; counted, or estimated (and marked so) past --plain-cap runs.
- Speed: schedules per second of the explorer against the random walk on the same
  scenario and executor (the default scenario), in alternating windows; the median ratio.

`--json` ends with one object: {"hazards": {...}, "fixed": {...}, "reduction": x,
"speed_ratio": y, ...}; the readable report then goes to stderr.
"""
import argparse
import json
import os
import statistics
import sys
import time

from fuzzmm import corpus
from fuzzmm.models import load_model
from fuzzmm.sched.estimate import plain_enumeration
from fuzzmm.sched.executor import Executor
from fuzzmm.sched.explore import Explorer
from fuzzmm.sched.schedule import Schedule
from fuzzmm.verification import FOUND, VERIFIED, verify_scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "corpus")
HAZARDS = {     # name: (variant, kinds, the corpus file of its reproducer)
    "H1": ("mel", ("counter-leak",), "h1-mel-counter-leak.json"),
    "H3": ("v3.8-rc2", ("lost-write",), "h3-rc2-lost-write.json"),
    "H4": ("v3.8-rc2", ("use-after-free", "bad-page-state"), "h4-rc2-use-after-free.json"),
    "H6": ("hugh", ("lost-write",), "gup-after-check-v3.8-lost-write.json"),
}
FIXED = "hugh+a54a407"


def say(args, text):
    """A line of the report: on stdout, or on stderr when stdout carries the JSON."""
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


def corpus_scenarios():
    """The distinct scenarios of the corpus files, with the files that hold each."""
    seen = {}
    for name in sorted(os.listdir(CORPUS)):
        if name.endswith(".json"):
            seen.setdefault(corpus.load(os.path.join(CORPUS, name)).scenario, []).append(name)
    return seen


def hazards(args):
    model = load_model("thp-numa")
    out = {}
    for name, (variant, kinds, file) in HAZARDS.items():
        scenario = corpus.load(os.path.join(CORPUS, file)).scenario
        with Executor(model.ref(variant), workers=scenario.ntasks) as executor:
            verdict = verify_scenario(executor, scenario, 2, wanted=lambda f: f.kind in kinds, plain_probes=0)
        found = verdict.status == FOUND
        out[name] = {"found": found, "preemptions": verdict.preemptions if found else None,
                     "schedules": verdict.schedules, "variant": variant, "scenario": scenario.describe(),
                     "signature": verdict.finding.signature if found else None,
                     "other_findings": verdict.others, "seconds": round(verdict.seconds, 2)}
        say(args, f"{name} ({variant}, {scenario.describe()}): "
            + (f"{verdict.finding.signature} with {verdict.preemptions} preemption(s), after "
               f"{verdict.schedules:,} schedules" if found else f"not found in {verdict.schedules:,} schedules")
            + (f"; other findings on the way: {verdict.others}" if verdict.others else ""))
    return out


def fixed(args, bound, budget_s=None):
    ref = load_model("thp-numa").ref(FIXED)
    scenarios = corpus_scenarios()
    total, verified, per = 0, 0, []
    deadline = time.monotonic() + budget_s if budget_s else None
    began = time.monotonic()
    with Executor(ref, workers=max(s.ntasks for s in scenarios)) as executor:
        for scenario, files in scenarios.items():
            verdict = verify_scenario(executor, scenario, bound, deadline=deadline, plain_probes=0)
            total += verdict.schedules
            verified += verdict.status == VERIFIED
            per.append({"scenario": scenario.describe(), "files": files, "status": verdict.status,
                        "schedules": verdict.schedules})
            say(args, f"  {FIXED} within {bound}: {verdict.status}: {scenario.describe()} ({', '.join(files)}): "
                f"{verdict.schedules:,} schedules")
            if verdict.status != VERIFIED:
                break
    return {"variant": FIXED, "preemptions": bound, "verified": verified == len(scenarios),
            "scenarios": len(scenarios), "files": sum(len(f) for f in scenarios.values()), "schedules": total,
            "seconds": round(time.monotonic() - began, 1), "per_scenario": per}


def reduction(args):
    ref = load_model("thp-numa").ref(FIXED)
    scenarios = list(corpus_scenarios())
    rows = []
    with Executor(ref, workers=3) as executor:
        scenarios.append(executor.default_scenario())
        for scenario in scenarios:
            reduced = Explorer(executor, scenario, args.bound)
            for _ in reduced.runs():
                pass
            plain = Explorer(executor, scenario, args.bound, reduce=False, max_runs=args.plain_cap)
            for _ in plain.runs():
                pass
            if plain.exhausted:
                count, estimated = plain.count, False
            else:
                count, estimated = round(plain_enumeration(executor, scenario, args.bound, probes=1000).leaves), True
            rows.append({"scenario": scenario.describe(), "reduced": reduced.count, "plain": count,
                         "plain_estimated": estimated, "ratio": round(count / reduced.count, 2)})
            say(args, f"  {scenario.describe()}: plain {'~' if estimated else ''}{count:,}, reduced "
                f"{reduced.count:,}: {count / reduced.count:.1f}x")
    total_plain = sum(r["plain"] for r in rows)
    total_reduced = sum(r["reduced"] for r in rows)
    return rows, total_plain, total_reduced


def speed(args):
    ref = load_model("thp-numa").ref(FIXED)
    ratios, rows = [], []
    with Executor(ref, workers=3) as executor:
        scenario = executor.default_scenario()
        for window in range(args.windows):
            began, runs = time.perf_counter(), 0
            while time.perf_counter() - began < args.window_s:
                executor.run(scenario, Schedule("random", seed=2 * (window * 100000 + runs) + 1))
                runs += 1
            walk = runs / (time.perf_counter() - began)
            began = time.perf_counter()
            explorer = Explorer(executor, scenario, args.bound, deadline=time.monotonic() + args.window_s)
            for _ in explorer.runs():
                pass
            explore = explorer.count / (time.perf_counter() - began)
            ratios.append(explore / walk)
            rows.append({"random_walk_per_s": round(walk), "explorer_per_s": round(explore),
                         "ratio": round(explore / walk, 3)})
            say(args, f"  window {window + 1}: random walk {walk:,.0f}/s, explorer {explore:,.0f}/s: "
                f"{explore / walk:.2f}")
    return statistics.median(ratios), rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bound", type=int, default=2, help="preemption bound of the reduction and speed parts")
    p.add_argument("--budget-3", type=float, default=600.0, help="seconds for verifying the fix within 3 (0: skip)")
    p.add_argument("--plain-cap", type=int, default=250_000, help="runs of plain enumeration per scenario before "
                   "it is estimated instead")
    p.add_argument("--windows", type=int, default=5, help="alternating windows of the speed comparison")
    p.add_argument("--window-s", type=float, default=3.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    began = time.monotonic()
    say(args, "hazards, each on its reproducer's scenario, within 2 preemptions:")
    found = hazards(args)
    say(args, f"the fix, {FIXED}, on the scenario of every corpus file:")
    fix2 = fixed(args, 2)
    fix3 = fixed(args, 3, args.budget_3) if args.budget_3 else None
    say(args, f"reduction within {args.bound} preemptions, on {FIXED} (plain enumeration against the reduced "
        "exploration, runs):")
    rows, total_plain, total_reduced = reduction(args)
    say(args, f"  all together: plain {total_plain:,}, reduced {total_reduced:,}: "
        f"{total_plain / total_reduced:.1f}x")
    say(args, f"speed within {args.bound} preemptions, default scenario of {FIXED} (schedules per second):")
    ratio, windows = speed(args)
    say(args, f"  median ratio {ratio:.2f}")
    if args.json:
        print(json.dumps({"hazards": {k: {key: v[key] for key in ("found", "preemptions", "schedules")}
                                      for k, v in found.items()},
                          "fixed": {k: fix2[k] for k in ("variant", "preemptions", "verified", "scenarios",
                                                        "schedules")},
                          "reduction": round(total_plain / total_reduced, 2),
                          "speed_ratio": round(ratio, 3),
                          "details": {"hazards": found, "fixed_2": fix2, "fixed_3": fix3,
                                      "reduction": {"bound": args.bound, "plain": total_plain,
                                                    "reduced": total_reduced, "scenarios": rows},
                                      "speed": windows, "seconds": round(time.monotonic() - began, 1)}}))


if __name__ == "__main__":
    main()
