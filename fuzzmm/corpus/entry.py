"""The corpus entry: one finding and everything a replay needs, and its JSON document.

An entry holds everything a replay needs (model, variant, program, scenario,
switch list) and what was found (signature, message, how and when).  Its
document is JSON, never a pickle: a corpus outlives the code that wrote it and
is read by people, so a document is checked field by field as it is read, and
fields a person added are kept.  Here too is the one rule for what a save does
against the reproducer a corpus already holds for an entry's key (`against`),
which the directory and the Redis stores share.
"""
from dataclasses import dataclass, field, replace
import hashlib
import json
import os

import fuzzmm
from fuzzmm import findings, trust
from fuzzmm.errors import FuzzmmError, FINDING_KINDS
from fuzzmm.models import is_file_source, load_model
from fuzzmm.program import Scenario
from fuzzmm.sched.schedule import Schedule

FORMAT_VERSION = 1


@dataclass
class Entry:
    model: str
    variant: str
    program: str                 # "module:qualname" or "path.py:qualname"
    scenario: Scenario
    schedule: Schedule
    kind: str
    signature: str
    message: str = ""
    # A hang the watchdog ended, each run of which lasts the watchdog; None: from kind and
    # message, as for a file that does not store it.
    past_watchdog: bool = None
    found_by: dict = field(default_factory=dict)
    fixed_in: list = field(default_factory=list)   # variants on which it must not reproduce
    extra: dict = field(default_factory=dict)      # fields fuzzmm does not write (a person's note), kept
    path: str = None

    def __post_init__(self):
        if self.past_watchdog is None:
            self.past_watchdog = findings.past_watchdog(self.kind, self.message)

    @property
    def curated(self):
        """Whether a person has added to the file (fixed_in, a field of their own): it is theirs,
        and a campaign does not replace it with a smaller reproducer of its own."""
        return bool(self.fixed_in or self.extra)

    @property
    def size(self):
        """How big a reproducer is: smaller is better.  The scenario counts first (tasks,
        operations, the integer arguments' total), then the schedule (switches, how late)."""
        ops = sum(len(task) for task in self.scenario.tasks)
        switches = self.schedule.switches
        args = sum(abs(a) for task in self.scenario.tasks for _, call in task for a in call
                   if isinstance(a, int))
        return (self.scenario.ntasks, ops, args, len(switches), sum(s for s, _ in switches))

    def as_found_in(self, result):
        """This entry as `result`, a run that showed its finding, shows it: the switches the run
        took, and its finding's message and whether the watchdog ended it."""
        return replace(self, schedule=result.schedule, message=result.finding.message,
                       past_watchdog=result.finding.past_watchdog)

    def to_json(self, base=None):
        """The file's document; with `base`, model files are named relative to that
        directory (where the file goes), so a corpus moves with its project."""
        relative = _relative_to(base)
        return {
            **self.extra,
            "format": FORMAT_VERSION,
            "fuzzmm": fuzzmm.__version__,
            "model": _map_path(self.model, relative),
            "variant": self.variant,
            "program": _map_path(self.program, relative),
            "scenario": self.scenario.to_json(),
            "schedule": {"switches": self.schedule.to_json()},
            "signature": {"kind": self.kind, "signature": self.signature},
            "message": self.message,
            **({"past_watchdog": True} if self.past_watchdog else {}),
            "found_by": self.found_by,
            "fixed_in": list(self.fixed_in),
        }

    def key(self, base=None):
        """What the corpus dedups on: model, variant and signature, with a model file named
        relative to `base`, so a moved corpus keeps its keys (and its file names)."""
        return f"{_map_path(self.model, _relative_to(base))}/{self.variant}/{self.signature}"

    def file_name(self, base=None):
        digest = hashlib.sha1(self.key(base).encode()).hexdigest()[:12]
        return f"{self.variant}-{self.kind}-{digest}.json".replace("/", "_")


def _relative_to(base):
    """A path converter to `base` (None: paths stay as they are)."""
    return (lambda src: os.path.relpath(os.path.abspath(src), base)) if base else None


def _map_path(value, convert):
    """Apply `convert` to the file path in a model ("path.py") or program
    ("path.py:Class") field; names of modules and built-in models stay as they are."""
    if convert is None:
        return value
    source, colon, qualname = value.rpartition(":") if ":" in value else (value, "", "")
    return convert(source) + colon + qualname if is_file_source(source) else value


MAX_FILE_BYTES = 16 << 20     # a corpus file is a few KiB: anything this large is something else


def load(path):
    """Read and validate one corpus file; FuzzmmError says what is wrong and where."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_FILE_BYTES + 1)
        if len(text) > MAX_FILE_BYTES:
            raise FuzzmmError(f"{path}: over {MAX_FILE_BYTES >> 20} MiB, too large to be a corpus file")
        doc = json.loads(text)
    except FileNotFoundError:
        raise FuzzmmError(f"{path}: no such corpus file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FuzzmmError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise FuzzmmError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except RecursionError:
        raise FuzzmmError(f"{path}: JSON nested too deeply to be a corpus file") from None
    except ValueError as exc:          # an integer of thousands of digits, say
        raise FuzzmmError(f"{path}: not a corpus file: {exc}") from None
    return load_doc(doc, path, base=os.path.dirname(os.path.abspath(path)))


def load_doc(doc, path="<corpus entry>", base=None):
    """Validate a parsed corpus document into an Entry.  Relative model files are
    found from `base` (the file's directory; the working directory by default)."""
    absolute = lambda src: os.path.normpath(os.path.join(base or os.getcwd(), src))  # noqa: E731
    if not isinstance(doc, dict):
        raise FuzzmmError(f"{path}: a corpus file holds a JSON object")
    version = doc.get("format")
    if type(version) is not int or version != FORMAT_VERSION:      # not 1.0 or true
        raise FuzzmmError(f"{path}: unknown corpus format version {version!r} (this fuzzmm reads {FORMAT_VERSION})")
    try:
        _check_types(doc)
        signature = doc["signature"]
        kind = signature["kind"]
        if kind not in FINDING_KINDS:
            raise FuzzmmError(f"{path}: unknown finding kind {kind!r}")
        switches = doc["schedule"]["switches"]
        if not all(type(x) is int for switch in switches for x in switch):    # not 12.7, "12" or true
            raise FuzzmmError("each switch is a pair of whole numbers [step, task]")
        schedule = Schedule.of_switches(switches)
        fixed = doc.get("fixed_in", [])
        if not isinstance(fixed, list) or not all(isinstance(v, str) for v in fixed):
            raise FuzzmmError(f"{path}: fixed_in must be a list of variant names")
        scenario = Scenario.of(doc["scenario"])
        if not scenario.tasks:
            raise FuzzmmError("the scenario has no tasks")
        schedule.check(scenario.ntasks)
        return Entry(model=_map_path(doc["model"], absolute), variant=doc["variant"],
                     program=_map_path(doc["program"], absolute),
                     scenario=scenario, schedule=schedule, kind=kind,
                     signature=signature.get("signature", kind), message=doc.get("message", ""),
                     past_watchdog=doc.get("past_watchdog"),
                     found_by=doc.get("found_by", {}), fixed_in=fixed,
                     extra={k: v for k, v in doc.items() if k not in _FIELDS},
                     path=None if path == "<corpus entry>" else str(path))
    except FuzzmmError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise FuzzmmError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, RecursionError) as exc:
        raise FuzzmmError(f"{path}: malformed corpus file ({type(exc).__name__}: {exc})") from None


def load_shared(doc, where):
    """An entry of a shared corpus (Redis), which anyone who can write to it may have written:
    validated as load_doc does, its model resolved against the sources this machine trusts
    (fuzzmm.trust, for the working directory's project) and its program found as that model's
    variant, never the program, nor any path but the model's, that the entry stores.  So an
    export writes no file naming code the entry chose.  Untrusted, before anything is imported,
    for a model from no trusted source."""
    entry = load_doc(doc, where)
    trust.check_model(entry.model, trust.Sources(None), where)
    return replace(entry, program=str(load_model(entry.model).ref(entry.variant)))


_FIELD_TYPES = (                 # (where, field, JSON type, required)
    ((), "model", str, True), ((), "variant", str, True), ((), "program", str, True),
    ((), "signature", dict, True), ((), "schedule", dict, True), ((), "scenario", list, True),
    ((), "message", str, False), ((), "past_watchdog", bool, False), ((), "found_by", dict, False),
    (("signature",), "kind", str, True), (("signature",), "signature", str, True),
    (("schedule",), "switches", list, True),
)
_JSON_NAMES = {str: "a string", dict: "an object", list: "a list", bool: "true or false"}
_FIELDS = {"format", "fuzzmm", "fixed_in"} | {name for where, name, _, _ in _FIELD_TYPES if not where}


def _check_types(doc):
    """Refuse a field of the wrong JSON type: a number where a name belongs would
    otherwise load, and fail far from the file that holds it."""
    for where, name, kind, required in _FIELD_TYPES:
        container = doc
        for key in where:
            container = container[key]
        if name not in container:
            if required:
                raise FuzzmmError(f"missing field {'.'.join(where + (name,))!r}")
            continue
        if not isinstance(container[name], kind):
            raise FuzzmmError(f"{'.'.join(where + (name,))} must be {_JSON_NAMES[kind]}, "
                              f"not {json.dumps(container[name])[:40]}")


WRITTEN, REPLACED, KEPT, CURATED = "written", "replaced", "kept", "curated"    # what a store's save() did


def against(old_text, entry):
    """What a save of `entry` does where the corpus holds `old_text` for its key (None: it
    could not be read): (KEPT, CURATED or REPLACED, whether the old one is unreadable and
    is to be kept aside).  One rule for a directory and for Redis."""
    try:
        doc = json.loads(old_text) if old_text is not None else None
        version = doc.get("format") if isinstance(doc, dict) else None
        if type(version) is int and version > FORMAT_VERSION:
            return KEPT, False          # a newer fuzzmm's: left as it is
        old = load_doc(doc)
    except (FuzzmmError, ValueError, RecursionError):
        return REPLACED, True
    if old.size <= entry.size:
        return KEPT, False
    return (CURATED if old.curated else REPLACED), False
