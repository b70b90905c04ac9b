"""fuzzmm: find ordering bugs in concurrent reference-counting and locking code.

The names a user needs, in one place:

    from fuzzmm import Program, Scenario, op, kernel        # write a program
    from fuzzmm import fuzz_test                            # fuzz it from pytest
    from fuzzmm import Executor, Schedule                   # run one schedule by hand

Program, op, Scenario    the program API (fuzzmm.program)
kernel                   the primitives under their kernel names (fuzzmm.kernel)
Finding, FuzzmmError     a finding to raise; the error fuzzmm reports bad input with
Pool                     the shared-memory pool a program's state lives in
Executor, Schedule       run a scenario under a schedule in worker processes
fuzz_test, fuzz, FuzzFailure   fuzzing from pytest (fuzzmm.testing)
flags, page_flags        formatters for a program's `formats`: bits by name, a page's PG_* bits
                         (fuzzmm.formats; `hex` is Python's own)

Each name is imported when first asked for, so `import fuzzmm` costs nothing and
imports neither the compiled core nor Hypothesis.
"""
import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: Each public name and the module that holds it.
_HOMES = {
    "Program": "fuzzmm.program",
    "Scenario": "fuzzmm.program",
    "op": "fuzzmm.program",
    "Finding": "fuzzmm.errors",
    "FuzzmmError": "fuzzmm.errors",
    "Pool": "fuzzmm.pool",
    "Executor": "fuzzmm.sched.executor",
    "Schedule": "fuzzmm.sched.schedule",
    "fuzz_test": "fuzzmm.testing",
    "fuzz": "fuzzmm.testing",
    "FuzzFailure": "fuzzmm.testing",
    "flags": "fuzzmm.formats",
    "page_flags": "fuzzmm.formats",
}
#: Public modules, reached as attributes: `fuzzmm.kernel.get_page`.
_MODULES = {"kernel": "fuzzmm.kernel"}

__all__ = ["__version__", *_HOMES, *_MODULES]


def __getattr__(name):
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'fuzzmm' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from fuzzmm import kernel
    from fuzzmm.errors import Finding, FuzzmmError
    from fuzzmm.formats import flags, page_flags
    from fuzzmm.pool import Pool
    from fuzzmm.program import Program, Scenario, op
    from fuzzmm.sched.executor import Executor
    from fuzzmm.sched.schedule import Schedule
    from fuzzmm.testing import FuzzFailure, fuzz, fuzz_test
