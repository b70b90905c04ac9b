"""How a corpus line names the program it was found in, so that the line replays elsewhere.

A line names a built-in or installed model by its model name, and a program's module by a
name a fresh interpreter, as `fuzzmm replay` starts one, imports from the same
file; failing that, by the module's absolute file.  fuzz tests use this for the
corpus line their failure report offers to keep.
"""
import os
import subprocess
import sys

from fuzzmm.models import BUILTIN_MODELS, installed_models, is_file_source


def model_name(cls, ref):
    """The `model` of a corpus line for program class `cls` loaded from `ref` (a ProgramRef):
    a built-in or installed model's name (`fuzzmm.models` entry point), else its module or file."""
    if BUILTIN_MODELS.get(cls.name) == ref.source:
        return cls.name
    installed = [name for name, module in installed_models().items() if module == ref.source]
    return installed[0] if installed else replayable_source(ref.source)


def replayable_source(source):
    """How the corpus line names a program's module.  By its dotted name when a fresh
    interpreter, started here as `fuzzmm replay` would be, imports that name from the same
    file (a module at the project's root, a package under src/ on PYTHONPATH, an installed
    one): the line then replays in any checkout, and a package's relative imports work.
    Else by its absolute file (a test module pytest imported from a directory it put on
    the path), which replays from any directory of this checkout only.  fuzzmm's own
    modules keep their names, which import anywhere."""
    if is_file_source(source) or source.split(".")[0] == "fuzzmm":
        return source
    path = getattr(sys.modules.get(source), "__file__", None)
    if not path:
        return source
    path = os.path.abspath(path)
    return source if _imports_from(source) == path else path


def _imports_from(module):
    """The file a fresh interpreter in this directory and environment finds `module` in, or
    None: this one may have paths pytest put on sys.path that a replay will not."""
    probe = ("import importlib.util, os, sys\n"
             "spec = importlib.util.find_spec(sys.argv[1])\n"
             "print(os.path.abspath(spec.origin) if spec and spec.origin else '')")
    try:
        found = subprocess.run([sys.executable, "-c", probe, module], capture_output=True, text=True,
                               timeout=30, cwd=os.getcwd()).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return found or None
