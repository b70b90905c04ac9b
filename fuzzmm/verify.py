"""The `fuzzmm verify` command: every schedule of a scenario within a preemption bound.

For each variant and each scenario it prints a verdict: verified (every schedule
within the bound was covered: how many ran, and how many plain enumeration of the
bound would have run, estimated), a finding (replayed, shrunk a little and saved
to the corpus like any other), or not exhausted (the limits came first: how far
it got; never read as verified).  Without --scenario or --file, the program's
default scenario comes first, then its small scenarios (fuzzmm.verification).

Exit codes: 0 every scenario verified; 1 a finding; 2 bad input; 3 a bound not
exhausted within --max-runs or --duration.
"""
import json
import sys
import time

from fuzzmm.errors import FuzzmmError

DEFAULT_MAX_RUNS = 100_000
EXIT_VERIFIED, EXIT_FINDING, EXIT_BAD_INPUT, EXIT_UNFINISHED = 0, 1, 2, 3


def add_parser(sub, default_corpus):
    """The `verify` subcommand's arguments, on the command's subparsers."""
    v = sub.add_parser("verify", help="run every schedule within a preemption bound",
                       description="Explore every schedule of a scenario with at most --preemptions preemptions "
                       "(a switch away from a task that could have gone on), skipping schedules that only "
                       "reorder independent operations (bounded partial-order reduction), and say for each "
                       "scenario: verified, a finding (written to the corpus), or not exhausted. Without "
                       "--scenario or --file: the program's default scenario, then its small scenarios (up to "
                       "two operations per task) until --max-runs or --duration.",
                       epilog="Exits 0 when every scenario was verified, 1 on a finding, 2 on bad input or usage, "
                       "3 when a bound was not exhausted within the limits (never read as verified).")
    v.add_argument("--model", help="built-in model name, module or .py file (default: the file's model with "
                   "--file, else thp-numa, the seed model)")
    v.add_argument("--variant", action="append", help="a variant to verify; repeat for several (default: the "
                   "file's variant with --file, else all)")
    which = v.add_mutually_exclusive_group()
    which.add_argument("--scenario", metavar="TEXT", help="the scenario, as a corpus line describes it: tasks "
                       "separated by |, operations by ; e.g. 'fault(0, 1) | fault(0, 0)'")
    which.add_argument("--file", metavar="CORPUS_FILE", help="verify the scenario of this corpus file")
    v.add_argument("--preemptions", type=int, required=True, metavar="K",
                   help="the preemption bound: every schedule with at most K preemptions is covered")
    v.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS,
                   help=f"runs at most, every scenario and variant together (default: {DEFAULT_MAX_RUNS})")
    v.add_argument("--duration", type=float, help="wall-clock budget in seconds (default: none)")
    v.add_argument("--corpus", default=default_corpus,
                   help=f"where a finding is written: a directory or redis://host:port/db (default: {default_corpus})")
    v.add_argument("--json", action="store_true", help="print JSON lines: progress, each verdict, then a summary")
    return v


def cmd_verify(args):
    from fuzzmm import corpus
    from fuzzmm.corpus.store import open_store
    from fuzzmm.models import load_model
    from fuzzmm.sched.executor import Executor
    from fuzzmm.sched.enumerate import scenario_count
    from fuzzmm.verification import FOUND, UNFINISHED, parse_scenario, verify_scenario
    if args.preemptions < 0:
        raise FuzzmmError(f"--preemptions must be 0 or more, not {args.preemptions}")
    if args.max_runs < 1:
        raise FuzzmmError(f"--max-runs must be at least 1, not {args.max_runs}")
    if args.duration is not None and not args.duration > 0:
        raise FuzzmmError(f"--duration must be a positive number of seconds, not {args.duration}")
    entry = corpus.load(args.file) if args.file else None
    model = load_model(args.model or (entry.model if entry else None))
    model_name = args.model or model.name
    variants = list(dict.fromkeys(args.variant or ([entry.variant] if entry else model.variants)))
    refs = {v: model.ref(v) for v in variants}
    given = parse_scenario(args.scenario) if args.scenario else entry.scenario if entry else None
    for v, ref in refs.items():             # bad input is told before anything runs
        cls = ref.load()
        cls.check_definition()
        if given is not None:
            try:
                cls.validate(given)
            except FuzzmmError as exc:
                raise FuzzmmError(f"{'--scenario' if args.scenario else args.file} on {v}: {exc}") from None
    store = open_store(args.corpus)
    report = _Report(args.json, args.preemptions)
    deadline = time.monotonic() + args.duration if args.duration else None
    runs_left = args.max_runs
    verdicts = []
    cut = False                     # the limits came before every scenario was verified
    for variant, ref in refs.items():
        cls = ref.load()
        with Executor(ref, workers=given.ntasks if given is not None else cls.tasks[1]) as executor:
            report.variant(model_name, variant)
            for scenario in [given] if given is not None else _program_scenarios(executor):
                if runs_left <= 0 or (deadline is not None and time.monotonic() >= deadline):
                    cut = True
                    break
                verdict = verify_scenario(executor, scenario, args.preemptions, max_runs=runs_left,
                                          deadline=deadline, on_progress=report.progress)
                runs_left -= verdict.schedules
                path = _save(store, executor, model_name, variant, ref, verdict) if verdict.status == FOUND else None
                verdicts.append((variant, verdict))
                report.verdict(variant, verdict, path)
                if verdict.status == UNFINISHED:
                    cut = True
                    break
        if cut:
            break
    code = (EXIT_FINDING if any(v.status == FOUND for _, v in verdicts)
            else EXIT_UNFINISHED if cut else EXIT_VERIFIED)
    report.summary(verdicts, code, given is None and cut,
                   None if given is not None else scenario_count(refs[variants[0]].load()))
    return code


def _program_scenarios(executor):
    """The program's default scenario, then its small scenarios (without it again)."""
    from fuzzmm.sched.enumerate import small_scenarios
    default = executor.default_scenario()
    yield default
    for scenario in small_scenarios(type(executor.program)):
        if scenario != default and scenario.ntasks <= executor.nworkers:
            yield scenario


def _save(store, executor, model_name, variant, ref, verdict):
    """The finding shrunk a little and saved to the corpus: the path that holds it."""
    from fuzzmm import corpus
    entry = corpus.Entry(model=model_name, variant=variant, program=str(ref), scenario=verdict.scenario,
                         schedule=verdict.schedule, kind=verdict.finding.kind, signature=verdict.finding.signature,
                         message=verdict.finding.message,
                         found_by={"strategy": "verify", "preemptions": verdict.preemptions,
                                   "bound": verdict.bound, "run": verdict.schedules})
    entry = corpus.shrink_quickly(entry, executor)
    path, _ = store.save(entry)
    return path


class _Report:
    """What the command prints: verdicts and a summary on stdout (text or JSON lines), and
    progress about once a second (on stderr as text, or as JSON lines)."""

    def __init__(self, as_json, bound):
        self.json = as_json
        self.bound = bound

    def _emit(self, doc):
        print(json.dumps(doc), flush=True)

    def variant(self, model, variant):
        if not self.json:
            print(f"verify {model} {variant}: every schedule within {self.bound} preemption"
                  f"{'s' if self.bound != 1 else ''}", flush=True)

    def progress(self, verdict, explorer):
        doc = {"event": "progress", "scenario": verdict.scenario.describe(), "schedules": verdict.schedules,
               "bound": explorer.bound, "left_at_least": explorer.pending(), "seconds": round(verdict.seconds, 1)}
        if self.json:
            self._emit(doc)
        else:
            print(f"  ... {verdict.schedules:,} schedules, bound {explorer.bound} of {self.bound}, "
                  f"at least {doc['left_at_least']:,} left to explore ({verdict.seconds:.0f} s)",
                  file=sys.stderr, flush=True)

    def verdict(self, variant, verdict, path):
        from fuzzmm.verification import FOUND, VERIFIED
        if self.json:
            doc = {"event": "verdict", "variant": variant, **verdict.to_json()}
            if path is not None:
                doc["corpus_file"] = path
            self._emit(doc)
            return
        scenario = verdict.scenario.describe()
        if verdict.status == VERIFIED:
            plain = ""
            if verdict.plain is not None:
                plain = (f"; plain enumeration of the bound: about {round(verdict.plain.leaves):,} "
                         f"(estimated from {verdict.plain.probes} random paths)")
            lower = verdict.schedules - verdict.by_bound[-1]
            print(f"  verified: {scenario}: every interleaving within {verdict.bound} preemptions, "
                  f"{verdict.by_bound[-1]:,} schedules"
                  + (f" ({verdict.schedules:,} with bounds 0..{verdict.bound - 1} first)" if lower else "")
                  + plain)
        elif verdict.status == FOUND:
            f = verdict.finding
            took = f", {verdict.preemptions} preemption{'s' if verdict.preemptions != 1 else ''}" \
                if verdict.preemptions is not None else ""
            print(f"  FINDING: {scenario}: {f.signature} after {verdict.schedules:,} schedules{took}\n"
                  f"    {f.message}\n    switches {list(verdict.schedule.switches)}; corpus file {path}")
        else:
            got = (f"every schedule within {verdict.verified_bound} preemption"
                   f"{'s' if verdict.verified_bound != 1 else ''} covered" if verdict.verified_bound >= 0
                   else "no bound covered whole")
            print(f"  NOT EXHAUSTED: {scenario}: {verdict.schedules:,} schedules, {got}; at bound "
                  f"{len(verdict.by_bound) - 1} at least {verdict.pending:,} schedules left to explore")

    def summary(self, verdicts, code, cut_short, scenarios_total):
        from fuzzmm.verification import FOUND, UNFINISHED, VERIFIED
        counts = {status: sum(1 for _, v in verdicts if v.status == status) for status in (VERIFIED, FOUND, UNFINISHED)}
        schedules = sum(v.schedules for _, v in verdicts)
        if self.json:
            self._emit({"event": "summary", "preemptions": self.bound, "scenarios": len(verdicts),
                        "verified": counts[VERIFIED], "findings": counts[FOUND], "not_exhausted": counts[UNFINISHED],
                        "scenarios_cut_short": cut_short, "small_scenarios": scenarios_total,
                        "schedules": schedules, "exit": code})
            return
        line = (f"{len(verdicts)} scenario{'s' if len(verdicts) != 1 else ''}, {schedules:,} schedules: "
                f"{counts[VERIFIED]} verified, {counts[FOUND]} finding{'s' if counts[FOUND] != 1 else ''}, "
                f"{counts[UNFINISHED]} not exhausted")
        if cut_short:
            line += ("; the limits ended it before the program's other small scenarios"
                     + (f" ({scenarios_total:,} in all)" if scenarios_total else "") + ": not verified")
        print(line)
