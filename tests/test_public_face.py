"""The public face: `from fuzzmm import ...` gives what a user needs, and costs nothing until asked."""
import importlib
import inspect
import os
import subprocess
import sys

import pytest

import fuzzmm
from fuzzmm import kernel

from waiting import HANG_S

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


@pytest.mark.parametrize("name", [n for n in fuzzmm.__all__ if n != "__version__"])
def test_every_public_name_is_the_object_of_its_home_module(name):
    value = getattr(fuzzmm, name)
    if name in fuzzmm._MODULES:
        assert value is importlib.import_module(fuzzmm._MODULES[name])
    else:
        assert value is getattr(importlib.import_module(fuzzmm._HOMES[name]), name)


def test_a_program_and_its_test_need_only_the_face():
    ns = {}
    exec("from fuzzmm import *", ns)
    assert set(ns) - {"__builtins__"} == set(fuzzmm.__all__)
    assert {"Program", "op", "Scenario", "Finding", "fuzz_test", "kernel", "Pool", "Executor", "Schedule"} \
        <= set(fuzzmm.__all__)
    assert set(fuzzmm.__all__) <= set(dir(fuzzmm))


def test_a_name_the_face_lacks_is_an_attribute_error_and_subpackages_still_import():
    assert not hasattr(fuzzmm, "no_such_name")
    from fuzzmm import corpus
    assert corpus.__name__ == "fuzzmm.corpus"


def test_importing_fuzzmm_imports_nothing_else():
    """No fuzzmm module, no compiled core and no Hypothesis until a name is asked for, so any module
    may import the package root without a cycle; asking for a name imports its home only."""
    code = ("import sys, fuzzmm\n"
            "print(sorted(m for m in sys.modules if m.startswith(('fuzzmm', 'hypothesis'))))\n"
            "fuzzmm.Program\n"
            "print(sorted(m for m in sys.modules if m.startswith(('fuzzmm', 'hypothesis'))))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=HANG_S,
                         cwd=ROOT).stdout.splitlines()
    assert out == ["['fuzzmm']", "['fuzzmm', 'fuzzmm.errors', 'fuzzmm.program']"]


def test_every_primitive_in_kernel_is_listed_and_documented():
    """help(fuzzmm.kernel) lists every primitive, each with a line saying what it does."""
    undocumented = []
    for name in kernel.__all__:
        value = getattr(kernel, name)
        if inspect.isclass(value):
            methods = [m for m, f in vars(value).items() if not m.startswith("_") and callable(f)]
            undocumented += [f"{name}.{m}" for m in methods if not getattr(value, m).__doc__]
            undocumented += [name] if not value.__doc__ else []
        elif callable(value) and not value.__doc__:
            undocumented.append(name)
        assert name in kernel.__doc__ or inspect.isclass(value) or not callable(value), \
            f"{name} is missing from the module docstring's list"
    assert undocumented == []
