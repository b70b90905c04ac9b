"""The `fuzzmm` commands: each calls the library, prints what it did and returns the exit code.

The work is the library's (fuzzmm/campaign_plan.py, fuzzmm/corpus/); what is
here is what a person at a terminal or a script reading --json sees: tables,
one-line verdicts, notes and warnings on stderr.  A command's bad input is a
FuzzmmError, told in one line by fuzzmm/cli/__init__.py.  Library modules are
imported inside each command, so that `fuzzmm --help` loads none of them.
"""
import json
import os
import sys
import time

from fuzzmm.errors import FuzzmmError


def variants(args):
    from fuzzmm.models import list_models, load_model
    models = [load_model(args.model)] if args.model else list_models()
    rows = [(model.name, variant, ref) for model in models for variant, ref in model.variants.items()]
    width = [max(len(row[i]) for row in rows) for i in (0, 1)]
    for name, variant, ref in rows:
        summary = ref.load().summary
        if args.json:
            print(json.dumps({"model": name, "variant": variant, "summary": summary, "program": str(ref)}))
        else:
            print(f"{name:{width[0]}}  {variant:{width[1]}}  {summary}")
    return 0


def fuzz(args):
    from fuzzmm.campaign_plan import plan_campaign, run_campaign
    from fuzzmm.report import print_event, table
    plan = plan_campaign(args.model, args.variant, args.strategy, args.seed, args.pct_depth)
    emit = (lambda e: print(json.dumps(e), flush=True)) if args.json else print_event

    def capped(used):       # only where --executors was given: the default is one per core
        strategies = len(plan.strategies)
        print(f"fuzzmm: note: --executors {args.executors} capped at {used}, one per job "
              f"({len(plan.variants)} variant(s) x {strategies} strateg{'y' if strategies == 1 else 'ies'})",
              file=sys.stderr, flush=True)
    executors = args.executors if args.executors is not None else os.cpu_count() or 1
    summary = run_campaign(plan, args.duration, executors, args.corpus, emit,
                           on_capped=capped if args.executors is not None else None, machine=args.machine)
    if args.json:
        print(json.dumps(summary), flush=True)
    elif summary["runs"] or summary["findings"] or not summary["errors"]:
        print(table(summary, plan.variants))        # not an empty table above a start-up error
    for error in summary["errors"]:
        print(f"fuzzmm: error: {error}", file=sys.stderr)
    if summary["errors"] and not summary["findings"]:
        return 2
    return 1 if summary["findings"] else 0


def replay(args):
    from fuzzmm import corpus
    from fuzzmm.corpus import outputs
    from fuzzmm.report import swimlane
    entry = corpus.load(args.file)
    if args.trace_json:
        outputs.check_trace_target(args.trace_json, args.file)
    if args.svg:
        outputs.check_trace_target(args.svg, args.file, "--svg")
    want_events = args.trace or args.trace_all or bool(args.trace_json) or bool(args.svg)
    said = [time.monotonic()]

    def progress(runs):             # a long --repeat says how far it is, once a second
        if time.monotonic() - said[0] >= 1.0:
            said[0] = time.monotonic()
            print(f"  {runs} of {args.repeat} runs", file=sys.stderr, flush=True)
    result = corpus.replay(entry, repeat=args.repeat, variant=args.variant, keep_events=want_events,
                           on_progress=progress)
    got = result.first.finding
    if args.json:
        print(json.dumps({"event": "replay", "reproduced": result.reproduced,
                          "kind": got.kind if got else None, "signature": got.signature if got else None,
                          "expected": entry.signature, "runs": result.runs, "consistent": result.consistent,
                          "variant": args.variant or entry.variant, "interrupted": result.interrupted}))
    else:
        out = sys.stderr if args.trace_json == "-" else sys.stdout
        verdict = "reproduced" if result.reproduced else "not reproduced"
        print(f"{verdict}: expected {entry.signature}, got {got.signature if got else 'no finding'}"
              f" ({result.runs} run(s), {'consistent' if result.consistent else 'INCONSISTENT'}"
              f"{'; interrupted' if result.interrupted else ''})", file=out)
        if got:
            print(f"  {got.message}", file=out)
        if args.trace or args.trace_all:
            print(swimlane(result.first, entry.scenario, names=result.object_names, everything=args.trace_all),
                  file=out)
    if args.trace_json == "-":
        outputs.write_trace(sys.stdout, result, entry)
    elif args.trace_json:
        outputs.write_trace_file(args.trace_json, result, entry)
    if args.svg:
        from fuzzmm.svg import swimlane_svg
        title = (f"{os.path.basename(args.file)}: {got.signature if got else 'no finding'} "
                 f"on {args.variant or entry.variant}")
        with open(args.svg, "w", encoding="utf-8") as stream:
            stream.write(swimlane_svg(result.first, entry.scenario, names=result.object_names,
                                      everything=args.trace_all, title=title) + "\n")
    if not result.consistent:
        print("fuzzmm: warning: replays differ: the program has nondeterminism outside the schedule",
              file=sys.stderr)
    if result.interrupted:
        return 130
    return 1 if result.reproduced else 0


def minimize(args):
    from fuzzmm.corpus.minimize_file import minimize_file

    def progress(best, runs):
        print(f"  {runs} runs: {best.size}", file=sys.stderr, flush=True)
    done = minimize_file(args.file, args.output, max_runs=args.max_runs, on_progress=progress)
    small = done.smallest
    print(f"{done.path}: {done.original.size} -> {small.size} (tasks, operations, argument total, switches, "
          f"switch steps); {small.scenario.describe()}; switches {list(small.schedule.switches)}"
          + ("; interrupted, the smallest so far" if done.interrupted else ""))
    return 130 if done.interrupted else 1


def dedup(args):
    from fuzzmm.corpus import maintenance
    done = maintenance.dedup_directory(args.dir)
    for path in done.removed:
        print(f"removed {path}")
    for error in done.skipped:
        print(f"fuzzmm: warning: skipped {error}", file=sys.stderr)
    print(f"{len(done.removed)} duplicate(s) removed")
    return 2 if _refused(done.skipped) else 0


def export(args):
    from fuzzmm.corpus import maintenance
    from fuzzmm.corpus.entry import CURATED, WRITTEN
    written, skipped = 0, []
    for step in maintenance.export(args.source, args.dir):
        if step.step == WRITTEN:
            print(step.path)
            written += 1
        elif step.step == CURATED:
            print(f"fuzzmm: note: {step.source} is smaller than {step.path}, which a person added to and is kept",
                  file=sys.stderr)
        else:
            skipped.append(step.error)
            print(f"fuzzmm: warning: skipped {step.error}", file=sys.stderr)
    print(f"{written} entr{'y' if written == 1 else 'ies'} in {args.dir}")
    return 2 if _refused(skipped) else 0


def _refused(errors):
    """Whether any file or entry was refused for naming code from no trusted source: the
    command did the rest of its work, left those alone, and exits 2 so that it does not pass
    for clean."""
    from fuzzmm.trust import Untrusted
    return any(isinstance(error, Untrusted) for error in errors)


def corpus(args):
    """`fuzzmm corpus ACTION`: dedup or export."""
    if args.corpus_command == "dedup":
        return dedup(args)
    if args.corpus_command == "export":
        return export(args)
    raise FuzzmmError("corpus needs an action: dedup or export (see fuzzmm corpus --help)")


def verify(args):
    from fuzzmm.verify import cmd_verify
    return cmd_verify(args)


def dashboard(args):
    from fuzzmm.dashboard.commands import cmd_dashboard
    return cmd_dashboard(args)


def report(args):
    from fuzzmm.dashboard.commands import cmd_report
    return cmd_report(args)


#: The commands by name, as fuzzmm/cli/parser.py declares them.
COMMANDS = {"variants": variants, "fuzz": fuzz, "replay": replay, "minimize": minimize, "corpus": corpus,
            "verify": verify, "dashboard": dashboard, "report": report}
