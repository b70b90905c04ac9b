"""The `fuzzmm` command: variants, fuzz, replay, minimize, verify, corpus dedup.

Exit codes: 0 nothing found (fuzz) or not reproduced (replay); 1 a finding or
a reproduction; 2 bad input or usage, with a one-line reason on stderr.
"""
import argparse
import contextlib
import json
import os
import random
import signal
import sys
import time
import warnings

from fuzzmm.errors import FuzzmmError
from fuzzmm import verify

DEFAULT_DURATION_S = 20.0
DEFAULT_STRATEGY = "pct"
DEFAULT_CORPUS = os.path.join(".fuzzmm", "corpus")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (not the usage block above it), exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


STRATEGIES = {
    "pct": "random task priorities with d-1 change points (the default)",
    "random": "a random walk, any enabled task at every point",
    "hypothesis": "Hypothesis draws and shrinks the scenario and schedule",
    "chaos": "all tasks in parallel with injected delays",
    "portfolio": "each of the others on its own executor",
}


def _parser():
    p = _Parser(prog="fuzzmm", description="Find ordering bugs in concurrent "
                "reference-counting and locking code by running it in real processes "
                "over shared memory under controlled schedules.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    v = sub.add_parser("variants", help="list models and their variants")
    v.add_argument("--model", help="a built-in model name, a module, or a path to a .py file "
                   "(default: every built-in model)")
    v.add_argument("--json", action="store_true", help="print one JSON object per variant")

    f = sub.add_parser("fuzz", help="search for findings and keep them in a corpus",
                       description="Run a model's variants under generated scenarios and schedules for --duration "
                       "seconds, write each finding that replays to the corpus, and end with a table of findings.",
                       epilog="Exits 1 when something was found, else 0; 2 on bad input or usage, or when a "
                       "job failed and nothing was found; 130 when interrupted before the first run. An "
                       "interrupted campaign (Ctrl-C, SIGTERM, SIGHUP) ends with its summary.")
    f.add_argument("--model", help="built-in model name, module or .py file (default: thp-numa, the seed model)")
    f.add_argument("--variant", action="append",
                   help="a variant to fuzz; repeat for several, each is run once (default: all)")
    f.add_argument("--strategy", default=DEFAULT_STRATEGY,
                   choices=list(STRATEGIES), help="how schedules are chosen: "
                   + "; ".join(f"{name}: {what}" for name, what in STRATEGIES.items()))
    f.add_argument("--duration", type=float, default=DEFAULT_DURATION_S,
                   help=f"wall-clock budget in seconds (default: {DEFAULT_DURATION_S:g})")
    f.add_argument("--executors", type=int, default=os.cpu_count() or 1,
                   help="executors run in parallel, each with its own pool and workers (default: one per core)")
    f.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help=f"directory where findings are written, or redis://host:port/db to share one corpus "
                   f"between machines (default: {DEFAULT_CORPUS})")
    f.add_argument("--seed", type=int, help="seed of the search (default: random, printed in the summary)")
    f.add_argument("--pct-depth", type=int, default=3, help="PCT bug depth d: d-1 change points (default: 3)")
    f.add_argument("--json", action="store_true", help="print JSON lines: progress, finding, then a summary")

    r = sub.add_parser("replay", help="reproduce a corpus file deterministically",
                       description="Run a corpus file's scenario under its recorded schedule and say whether "
                       "the file's finding shows again.",
                       epilog="Exits 1 when the finding reproduced in every run, 0 when it did not, "
                       "2 on bad input or usage.")
    r.add_argument("file", help="the corpus file")
    r.add_argument("--repeat", type=int, default=1, help="replay N times and report any difference (default: 1)")
    r.add_argument("--variant", help="replay on this variant of the file's model instead of its own")
    r.add_argument("--trace", action="store_true", help="print the run as a swimlane, one column per task, "
                   "showing the operations on the object the finding concerns")
    r.add_argument("--trace-all", action="store_true", help="print the swimlane as --trace does, but with every "
                   "operation of every task, not only those on the finding's object")
    r.add_argument("--trace-json", metavar="PATH", help="write the run's events as JSON lines to PATH ('-': stdout)")
    r.add_argument("--json", action="store_true", help="print one JSON object with the result")

    m = sub.add_parser("minimize", help="shrink a corpus file while it reproduces the same signature",
                       description="Drop tasks, operations and switches, move switches earlier and make "
                       "arguments smaller, keeping each change only if the file's signature still shows "
                       "(and it still does not on its fixed_in variants); print each smaller size on "
                       "stderr as it is found, then write the smallest.",
                       epilog="Exits 1 when the file reproduced and the smallest reproducer was written "
                       "(smaller or not), as replay does; 2 when it does not reproduce or on bad input; "
                       "130 when interrupted, after writing the smallest so far.")
    m.add_argument("file", help="the corpus file")
    m.add_argument("-o", "--output", help="where to write the result (default: replace FILE)")
    m.add_argument("--max-runs", type=int, default=20000,
                   help="bound on the runs made on the file's own variant, searches for new switches "
                   "included; each smaller file kept is also replayed once on each fixed_in variant "
                   "(default: 20000)")

    verify.add_parser(sub, DEFAULT_CORPUS)

    c = sub.add_parser("corpus", help="corpus maintenance")
    csub = c.add_subparsers(dest="corpus_command", metavar="ACTION")
    d = csub.add_parser("dedup", help="keep the smallest reproducer of each signature: each signature's files are "
                        "replayed smallest first, and none is removed unless one of them reproduces; a file "
                        "with fixed_in or a field of a person's own is never removed")
    d.add_argument("dir", help="the corpus directory")
    e = csub.add_parser("export", help="write a corpus (a directory or redis://...) as files into DIR, "
                        "each under its generated name, one per signature: the smallest, unless a larger one "
                        "has fixed_in or a field of a person's own (it is kept, the smaller named on stderr)")
    e.add_argument("source", help="the corpus: a directory or redis://host:port/db")
    e.add_argument("dir", help="the directory to write into")
    return p


def _interrupt(signum, frame):
    """SIGTERM or SIGHUP ends a command the way Ctrl-C does: findings saved, summary printed,
    nothing left behind."""
    raise KeyboardInterrupt


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning (a model method that overrides nothing, say) as one line, like an error."""
    print(f"fuzzmm: warning: {message}", file=sys.stderr)


def main(argv=None):
    warnings.showwarning = _show_warning
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:     # reported by the command they were given to, not by `fuzzmm`
        prog = " ".join(filter(None, (parser.prog, args.command, getattr(args, "corpus_command", None))))
        _Parser(prog=prog).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:      # as nohup leaves it
        signal.signal(signal.SIGHUP, _interrupt)               # a closed terminal or ssh session
    try:
        empty = [name for name, value in vars(args).items()
                 if value == "" or isinstance(value, list) and "" in value]
        if empty:           # an empty value would silently mean the default, or nothing
            name = empty[0] if empty[0] in ("file", "dir", "source") else "--" + empty[0].replace("_", "-")
            command = " ".join(filter(None, (args.command, getattr(args, "corpus_command", None))))
            raise FuzzmmError(f"{command}: {name} needs a value, not an empty string")
        if args.command == "variants":
            return cmd_variants(args)
        if args.command == "fuzz":
            return cmd_fuzz(args)
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "minimize":
            return cmd_minimize(args)
        if args.command == "verify":
            return verify.cmd_verify(args)
        if args.command == "corpus":
            if args.corpus_command == "dedup":
                return cmd_dedup(args)
            if args.corpus_command == "export":
                return cmd_export(args)
            raise FuzzmmError("corpus needs an action: dedup or export (see fuzzmm corpus --help)")
    except FuzzmmError as exc:
        print(f"fuzzmm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fuzzmm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:          # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:           # a file the command had to write or read: the user's to fix
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"fuzzmm: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    return 2


def cmd_variants(args):
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


def cmd_fuzz(args):
    from fuzzmm.campaign import Campaign, Job, PORTFOLIO
    from fuzzmm.models import load_model
    from fuzzmm.report import print_event, table
    model = load_model(args.model)
    variants = list(dict.fromkeys(args.variant or model.variants))     # each once, in the order first named
    if args.pct_depth < 1 or args.pct_depth > 9:
        raise FuzzmmError(f"--pct-depth must be 1..9, not {args.pct_depth}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2 ** 31)
    strategies = PORTFOLIO if args.strategy == "portfolio" else (args.strategy,)
    jobs = [Job(args.model or model.name, v, model.ref(v), s, seed + i)
            for i, (v, s) in enumerate((v, s) for v in variants for s in strategies)]
    emit = (lambda e: print(json.dumps(e), flush=True)) if args.json else print_event
    campaign = Campaign(jobs, args.duration, args.executors, args.corpus, emit, pct_depth=args.pct_depth)
    summary = campaign.run()
    summary["seed"] = seed
    if args.json:
        print(json.dumps(summary), flush=True)
    elif summary["runs"] or summary["findings"] or not summary["errors"]:
        print(table(summary, variants))        # not an empty table above a start-up error
    for error in summary["errors"]:
        print(f"fuzzmm: error: {error}", file=sys.stderr)
    if summary["errors"] and not summary["findings"]:
        return 2
    return 1 if summary["findings"] else 0


def cmd_replay(args):
    from fuzzmm import corpus
    from fuzzmm.report import swimlane
    entry = corpus.load(args.file)
    if args.trace_json and args.trace_json != "-" and os.path.exists(args.trace_json) \
            and os.path.samefile(args.trace_json, args.file):
        raise FuzzmmError(f"--trace-json {args.trace_json} is the corpus file itself; name another file")
    if args.trace_json and args.trace_json != "-":
        _check_trace_writable(args.trace_json)
    want_events = args.trace or args.trace_all or bool(args.trace_json)
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
    if args.trace_json:
        _write_trace_json(args.trace_json, result, entry)
    if not result.consistent:
        print("fuzzmm: warning: replays differ: the program has nondeterminism outside the schedule",
              file=sys.stderr)
    if result.interrupted:
        return 130
    return 1 if result.reproduced else 0


def _check_trace_writable(path):
    """Refuse a --trace-json file that could not be written, before the replay runs rather than
    after, and one that is a corpus file."""
    if os.path.isfile(path):
        _refuse_other_reproducer(path, "--trace-json")
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        reason = "is a directory; --trace-json names the file to write"
    elif not os.path.isdir(directory):
        reason = f"directory {directory} does not exist"
    elif not os.access(path if os.path.exists(path) else directory, os.W_OK):
        reason = "permission denied"
    else:
        return
    raise FuzzmmError(f"cannot write trace to {path}: {reason}")


def _write_trace_json(path, result, entry):
    from fuzzmm.trace import write_json_lines
    bound = {"run": "replay", "corpus_file": entry.path, "variant": entry.variant}
    if path == "-":
        write_json_lines(sys.stdout, result.first, result.object_names, **bound)
        return
    try:
        with open(path, "w", encoding="utf-8") as stream:
            write_json_lines(stream, result.first, result.object_names, **bound)
    except OSError as exc:
        raise FuzzmmError(f"cannot write trace to {path}: {exc.strerror}") from None


def cmd_minimize(args):
    from fuzzmm import corpus
    from fuzzmm.sched.executor import Executor
    if args.max_runs < 1:
        raise FuzzmmError(f"--max-runs must be at least 1, not {args.max_runs}")
    entry = corpus.load(args.file)
    if entry.variant in entry.fixed_in:
        raise FuzzmmError(f"{args.file}: fixed_in names the file's own variant {entry.variant!r}, "
                          "where it must reproduce")
    out = args.output or args.file
    if os.path.isdir(out):
        raise FuzzmmError(f"{out}: is a directory; -o names the file to write")
    if args.output and (os.path.islink(out) or os.path.lexists(out) and not os.path.isfile(out)):
        raise FuzzmmError(f"{out}: not a regular file; -o writes a corpus file in its place")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise FuzzmmError(f"{out}: no such directory")
    if args.output and os.path.isfile(out) and not os.path.samefile(out, args.file):
        _refuse_other_reproducer(out, "-o", entry)
    _check_directory_writable(out)
    with contextlib.ExitStack() as stack:
        executor = stack.enter_context(Executor(corpus.checked_ref(entry), workers=entry.scenario.ntasks))
        first = corpus.replay(entry, executor=executor)
        if not first.reproduced:
            raise FuzzmmError(f"{args.file}: does not reproduce {entry.signature}; nothing to minimise")
        fixed = [stack.enter_context(Executor(corpus.checked_ref(entry, v), workers=entry.scenario.ntasks))
                 for v in entry.fixed_in]

        def stays_fixed(candidate):
            return not any(corpus.replay(candidate, executor=ex).reproduced for ex in fixed)
        smallest = [entry]

        def progress(best, runs):
            smallest[0] = best
            print(f"  {runs} runs: {best.size}", file=sys.stderr, flush=True)
        try:
            smallest[0] = corpus.minimize(entry, executor, max_runs=args.max_runs, on_progress=progress,
                                          acceptable=stays_fixed if fixed else None)
            interrupted = False
        except KeyboardInterrupt:       # keep what was won so far: each step was checked as it was taken
            interrupted = True
    small = smallest[0]
    corpus.write_atomic(out, small.to_json(base=os.path.dirname(os.path.abspath(out))))
    print(f"{out}: {entry.size} -> {small.size} (tasks, operations, argument total, switches, switch steps); "
          f"{small.scenario.describe()}; switches {list(small.schedule.switches)}"
          + ("; interrupted, the smallest so far" if interrupted else ""))
    return 130 if interrupted else 1


def _refuse_other_reproducer(path, option, entry=None):
    """Refuse to write over a corpus file (of another signature than `entry`'s): a reproducer
    is lost once written over, and an option's value is easily mistyped."""
    from fuzzmm import corpus
    try:
        other = corpus.load(path)
    except FuzzmmError:
        return
    if entry is None or other.key() != entry.key():
        raise FuzzmmError(f"{path}: holds a reproducer of {other.variant} {other.signature}; "
                          f"{option} would write over it")


def _check_directory_writable(path):
    """Refuse, before the work, a file whose directory takes no new file (minimize writes it
    whole beside the old one and renames it over)."""
    from fuzzmm.corpus.files import check_writable
    try:
        check_writable(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        raise FuzzmmError(f"cannot write {path}: {exc.strerror}") from None


def cmd_dedup(args):
    from fuzzmm import corpus
    bad, spare = [], set()          # errors to tell; readable files its program refuses, left for a person
    for _, entry in corpus.entries(args.dir):
        if isinstance(entry, FuzzmmError):
            bad.append(entry)
            continue
        try:
            corpus.checked_ref(entry)
        except FuzzmmError as exc:
            bad.append(exc)
            spare.add(entry.path)

    def reproduces(entry):
        try:
            return corpus.replay(entry).reproduced
        except FuzzmmError:
            return False
    removed = corpus.dedup(args.dir, reproduces, spare)
    for path in removed:
        print(f"removed {path}")
    for error in bad:
        print(f"fuzzmm: warning: skipped {error}", file=sys.stderr)
    print(f"{len(removed)} duplicate(s) removed")
    return 0


def cmd_export(args):
    from fuzzmm.corpus import files
    from fuzzmm.corpus.store import open_store
    if not args.source.startswith("redis://") and not os.path.isdir(args.source):
        raise FuzzmmError(f"{args.source}: not a directory")     # a store would create it
    if os.path.isdir(args.source) and os.path.isdir(args.dir) and os.path.samefile(args.source, args.dir):
        raise FuzzmmError(f"{args.dir}: is the corpus being exported; name another directory")
    written = set()         # a signature held twice in the source is written once, the smaller
    # Files a person added to first: a smaller one of their signature is then named, not the
    # curated one dropped because a smaller file came first by name.
    for where, entry in sorted(open_store(args.source).entries(),
                               key=lambda pair: isinstance(pair[1], FuzzmmError) or not pair[1].curated):
        if isinstance(entry, FuzzmmError):
            print(f"fuzzmm: warning: skipped {entry}", file=sys.stderr)
            continue
        path, outcome = files.save(args.dir, entry)
        if outcome == files.CURATED:
            print(f"fuzzmm: note: {where} is smaller than {path}, which a person added to and is kept",
                  file=sys.stderr)
        if path not in written:
            print(path)
        written.add(path)
    print(f"{len(written)} entr{'y' if len(written) == 1 else 'ies'} in {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
