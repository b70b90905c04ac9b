"""Replay a corpus entry: run its scenario under its switch list and compare signatures.

What an entry names is imported only once fuzzmm.trust has found it a source the user chose:
each way from an entry to its program (program_ref, variant_mismatch, checked_ref) asks first.
"""
from dataclasses import dataclass

from fuzzmm import trust
from fuzzmm.errors import FuzzmmError
from fuzzmm.models import ProgramRef, load_model
from fuzzmm.sched.executor import Executor
from fuzzmm.trace import object_names


def program_ref(entry, variant=None):
    """The program to run: the entry's own, or `variant` of the entry's model.  An entry naming
    code from no trusted source is refused (trust.Untrusted) before anything is imported."""
    trust.check_entry(entry)
    if variant is None or variant == entry.variant:
        source, _, qualname = entry.program.rpartition(":")
        if not source or not qualname:
            raise FuzzmmError(f"program {entry.program!r} is not 'module:Class'")
        return ProgramRef(source, qualname)
    return load_model(entry.model).ref(variant)     # a file's variants, or the built-in ones it extends


def variant_mismatch(entry, cls):
    """Why the file's program is not the variant the file names, or None when it is: its own
    `variant`, or the model's VARIANTS table naming it under the file's variant."""
    if cls.variant == entry.variant:
        return None
    import inspect
    trust.check_entry(entry)
    try:
        named = load_model(entry.model).ref(entry.variant).load()
        if named is cls or (named.__qualname__ == cls.__qualname__
                            and inspect.getfile(named) == inspect.getfile(cls)):
            return None
    except (FuzzmmError, TypeError):
        pass
    return (f"the file names variant {entry.variant!r}, but its program {entry.program} "
            f"is variant {cls.variant!r}")


def checked_ref(entry, variant=None):
    """The program to run, once the entry's scenario is known to suit it: a bad
    file is bad input, told before any executor starts."""
    try:
        ref = program_ref(entry, variant)
        cls = ref.load()
        wrong = variant_mismatch(entry, cls) if variant in (None, entry.variant) else None
        if wrong:
            raise FuzzmmError(wrong)
        cls.validate(entry.scenario)
        Executor.check_scenario_size(entry.scenario)
    except trust.Untrusted:
        raise                   # it names the entry already
    except FuzzmmError as exc:
        raise FuzzmmError(f"{entry.path}: {exc}") from None
    return ref


@dataclass
class ReplayResult:
    reproduced: bool            # the entry's signature showed in every run
    consistent: bool            # every run gave the same result
    runs: int
    first: object               # RunResult of the first run (with its events, when kept)
    expected: str               # the entry's signature
    object_names: dict = None   # ring object id -> program attribute, for traces
    interrupted: bool = False   # Ctrl-C ended the repeats early: the figures are of the runs made


def replay(entry, repeat=1, variant=None, executor=None, keep_events=False, on_progress=None):
    """Run the entry `repeat` times (on `variant` if given) under its recorded schedule,
    each run on its own: a lock-order cycle must show within the run, as it did when found.
    Only the first run is kept whole, so any number of repeats fits in memory;
    `on_progress(runs)` hears of each; Ctrl-C after the first ends them with what was seen."""
    if repeat < 1:
        raise FuzzmmError(f"--repeat must be at least 1, not {repeat}")
    own = executor is None
    if own:
        executor = Executor(checked_ref(entry, variant), workers=entry.scenario.ntasks)
    else:
        executor.program.validate(entry.scenario)
    first, outcomes, runs, interrupted = None, set(), 0, False
    try:
        while runs < repeat:
            result = executor.run_alone(entry.scenario, entry.schedule, keep_events=keep_events and first is None)
            if first is None:
                first = result
            outcomes.add((result.finding.signature if result.finding else None, result.switches))
            runs += 1
            if on_progress is not None:
                on_progress(runs)
    except KeyboardInterrupt:
        if first is None:
            raise
        interrupted = True
    finally:
        names = object_names(executor.program)
        if own:
            executor.close()
    signatures = {signature for signature, _ in outcomes}
    return ReplayResult(reproduced=signatures == {entry.signature}, consistent=len(outcomes) == 1, runs=runs,
                        first=first, expected=entry.signature, object_names=names, interrupted=interrupted)
