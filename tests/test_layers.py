"""Imports only point down: every import in fuzzmm/ and pyx/ checked against the declared layers.

The layers, bottom to top, are those of the design; a module may import from its own layer
or a lower one, never a higher one, and every module must sit in a layer.  The imports are
found by parsing each fuzzmm/*.py (top-level imports and those inside functions alike) and by
reading the `import` lines of the compiled core's pyx/*.pyx and pyx/*.pxi, which all belong
to fuzzmm._core.  The package root, fuzzmm/__init__.py, holds the version and the public face,
whose names it imports only when first asked for one: `import fuzzmm` and
`from fuzzmm import __version__` are allowed anywhere, and a face name (`from fuzzmm import
Program`) counts as the surface layer.  Within the surface, the entry points (the dashboard, the
pytest plugin, the command line, `python -m fuzzmm`, the face) stand apart: one imports another
only where SURFACE_USES says.
"""
import ast
from dataclasses import dataclass
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

#: The layers, bottom to top, and the modules and packages each holds (a package holds
#: every module under it).
LAYERS = (
    ("foundation", ("fuzzmm.errors", "fuzzmm.sites", "fuzzmm.proctree", "fuzzmm.placement",
                    "fuzzmm.findings", "fuzzmm.watchdog")),
    ("core", ("fuzzmm._core",)),
    ("program", ("fuzzmm.pool", "fuzzmm.kernel", "fuzzmm.trace", "fuzzmm.program", "fuzzmm.models",
                 "fuzzmm.trust", "fuzzmm.program_names", "fuzzmm.formats")),
    ("detect", ("fuzzmm.detect",)),
    ("sched", ("fuzzmm.sched",)),
    ("corpus", ("fuzzmm.corpus",)),
    ("top", ("fuzzmm.profiles", "fuzzmm.testing", "fuzzmm.campaign", "fuzzmm.campaign_plan", "fuzzmm.campaign_job",
             "fuzzmm.verification", "fuzzmm.verify", "fuzzmm.testing_verify", "fuzzmm.report",
             "fuzzmm.publish", "fuzzmm.svg",
             "fuzzmm.mm", "fuzzmm.examples")),
    ("surface", ("fuzzmm.dashboard", "fuzzmm.pytest_plugin", "fuzzmm.cli", "fuzzmm.__main__", "fuzzmm")),
)

#: The surface's entry points, and the others each may import (the face, which only names what
#: lower layers hold, any of them may): the command line builds its parser from the dashboard's
#: options and runs its commands; `python -m fuzzmm` is the command line.  The dashboard may not
#: import the command line, nor the plugin either.
SURFACE_USES = {
    "fuzzmm.cli": ("fuzzmm.dashboard",),
    "fuzzmm.__main__": ("fuzzmm.cli",),
}

#: Packages beside the top that use only the program layer and below (and themselves):
#: the seed model and the examples are written as a user writes a program.
PROGRAMS_ONLY = ("fuzzmm.mm", "fuzzmm.examples")

#: What `import fuzzmm` or `from fuzzmm import __version__` reaches: the root alone, which
#: imports nothing (tests/test_public_face.py checks that).
ROOT_ONLY = "fuzzmm (root)"

LAYER_OF = {module: (number, name) for number, (name, modules) in enumerate(LAYERS, 1) for module in modules}


def layer_of(module):
    """(number, name) of the layer holding `module`, by its longest declared prefix (the package
    root `fuzzmm` only as itself, the face); None if none."""
    if module == ROOT_ONLY:
        return 0, "root"
    if module == "fuzzmm":
        return LAYER_OF[module]
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        found = LAYER_OF.get(".".join(parts[:end]))
        if found is not None:
            return found
    return None


def _is_module(name):
    """Whether `name` (fuzzmm.x.y) is a module or package: declared, or present in the tree."""
    if name in LAYER_OF:
        return True
    path = os.path.join(ROOT, *name.split("."))
    if os.path.isdir(path) or os.path.isfile(path + ".py"):
        return True
    folder, base = os.path.split(path)
    return os.path.isdir(folder) and any(f.startswith(base + ".") and f.endswith(".so") for f in os.listdir(folder))


def _from_target(module, name):
    """What `from module import name` points at: a submodule if there is one, else the module."""
    if module == "fuzzmm":
        if name == "__version__":
            return ROOT_ONLY
        return f"fuzzmm.{name}" if _is_module(f"fuzzmm.{name}") else "fuzzmm"
    return f"{module}.{name}" if _is_module(f"{module}.{name}") else module


@dataclass(frozen=True)
class Import:
    importer: str           # the module whose code imports
    target: str             # the module it reaches
    where: str              # file:line
    text: str               # the import as written


def imports_in_python(importer, source, path="<source>", is_package=False):
    """Every import of a fuzzmm module in `source`, the code of module `importer`, at any depth."""
    tree = ast.parse(source, path)
    package = importer if is_package else importer.rpartition(".")[0]
    found, binds_root = [], False
    for node in ast.walk(tree):
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fuzzmm":
                    binds_root = binds_root or alias.asname is None
                    found.append(Import(importer, ROOT_ONLY, where, f"import {alias.name}"))
                elif alias.name.startswith("fuzzmm."):
                    found.append(Import(importer, alias.name, where, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            if module != "fuzzmm" and not module.startswith("fuzzmm."):
                continue
            written = f"from {'.' * node.level}{node.module or ''} import {', '.join(a.name for a in node.names)}"
            for alias in node.names:
                found.append(Import(importer, _from_target(module, alias.name), where, written))
    if binds_root:                  # `import fuzzmm` then fuzzmm.cli...: the attribute is the import
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "fuzzmm":
                target = _from_target("fuzzmm", node.attr)
                if target != ROOT_ONLY:
                    found.append(Import(importer, target, f"{path}:{node.lineno}", f"fuzzmm.{node.attr}"))
    return found


_PYX_FROM = re.compile(r"^\s*from\s+(fuzzmm[\w.]*)\s+c?import\s+(.*)$")
_PYX_IMPORT = re.compile(r"^\s*c?import\s+(fuzzmm[\w.]*)")


def imports_in_pyx(source, path="<pyx>"):
    """Every import of a fuzzmm module in the text of a .pyx or .pxi file of the compiled core."""
    found = []
    lines = source.splitlines()
    for number, line in enumerate(lines, 1):
        where = f"{path}:{number}"
        plain = _PYX_IMPORT.match(line)
        if plain:
            target = ROOT_ONLY if plain.group(1) == "fuzzmm" else plain.group(1)
            found.append(Import("fuzzmm._core", target, where, line.strip()))
            continue
        match = _PYX_FROM.match(line)
        if not match:
            continue
        names = match.group(2).split("#")[0]
        if names.lstrip().startswith("(") and ")" not in names:      # continued to its closing bracket
            for more in lines[number:]:
                names += " " + more.split("#")[0]
                if ")" in more:
                    break
        for name in names.strip(" ()").split(","):
            if name.strip():
                found.append(Import("fuzzmm._core", _from_target(match.group(1), name.split()[0].strip("()")),
                                    where, line.strip()))
    return found


def _surface_entry(module):
    """The surface entry point `module` belongs to (the face as `fuzzmm`)."""
    if module == "fuzzmm":
        return module
    return next(entry for entry in LAYERS[-1][1] if module == entry or module.startswith(entry + "."))


def problem(imp):
    """Why an import breaks the layering, or None if it is allowed."""
    mine, theirs = layer_of(imp.importer), layer_of(imp.target)
    if mine is None:
        return f"{imp.importer} is in no declared layer"
    if theirs is None:
        return f"{imp.target} is in no declared layer"
    if theirs[0] > mine[0]:
        return (f"points up: {imp.importer} ({mine[1]}, layer {mine[0]}) imports {imp.target} "
                f"({theirs[1]}, layer {theirs[0]})")
    if mine[1] == theirs[1] == "surface":
        here, there = _surface_entry(imp.importer), _surface_entry(imp.target)
        if there not in (here, "fuzzmm") and there not in SURFACE_USES.get(here, ()):
            return (f"{imp.importer} imports {imp.target}: the surface's entry points stand apart "
                    f"(SURFACE_USES lets {here} import {', '.join(SURFACE_USES.get(here, ())) or 'none of them'})")
    beside = next((p for p in PROGRAMS_ONLY if imp.importer == p or imp.importer.startswith(p + ".")), None)
    if beside and theirs[0] > LAYER_OF["fuzzmm.program"][0] \
            and not (imp.target == beside or imp.target.startswith(beside + ".")):
        return f"{imp.importer} uses only the program layer and below, but imports {imp.target} ({theirs[1]})"
    return None


def python_modules():
    """(module name, path, is package) of every .py file under fuzzmm/."""
    for folder, dirs, files in os.walk(os.path.join(ROOT, "fuzzmm")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, ROOT)[:-3].split(os.sep)
                is_package = parts[-1] == "__init__"
                yield ".".join(parts[:-1] if is_package else parts), path, is_package


def all_imports():
    found = []
    for module, path, is_package in python_modules():
        with open(path) as f:
            found += imports_in_python(module, f.read(), os.path.relpath(path, ROOT), is_package)
    pyx = os.path.join(ROOT, "pyx")
    for name in sorted(os.listdir(pyx)):
        if name.endswith((".pyx", ".pxi")):
            with open(os.path.join(pyx, name)) as f:
                found += imports_in_pyx(f.read(), f"pyx/{name}")
    return found


def report(imports):
    """One line per import that breaks the layering or reaches a module in no layer (a module in
    no layer is named once, by test_every_module_sits_in_a_layer, not at each of its imports)."""
    lines = []
    for imp in imports:
        if layer_of(imp.importer) is None:
            continue
        why = problem(imp)
        if why:
            lines.append(f"{imp.where}: `{imp.text}`: {why}")
    return lines


def test_every_module_sits_in_a_layer():
    """A new module needs a place in LAYERS, or the order says nothing about it."""
    unplaced = [f"{os.path.relpath(path, ROOT)}: {module} is in no declared layer"
                for module, path, _ in python_modules() if layer_of(module) is None]
    assert not unplaced, "modules outside the declared layers:\n" + "\n".join(unplaced)


def test_imports_only_point_down():
    """No module imports from a layer above its own, inside a function or not; the compiled core
    included."""
    bad = report(all_imports())
    assert not bad, f"{len(bad)} import(s) break the layering:\n" + "\n".join(bad)


def test_the_check_reads_imports_everywhere_they_hide():
    """Top-level, in a function, relative, `import a.b`, a face name and the pyx text all count."""
    source = ("import os\nfrom fuzzmm.errors import FuzzmmError\n"
              "def f():\n    from fuzzmm.cli import main\n    import fuzzmm.campaign\n"
              "    from . import testing\n    from fuzzmm import Program, __version__\n")
    targets = [i.target for i in imports_in_python("fuzzmm.program", source)]
    assert targets == ["fuzzmm.errors", "fuzzmm.cli", "fuzzmm.campaign", "fuzzmm.testing", "fuzzmm", ROOT_ONLY]
    assert [i.where for i in imports_in_python("fuzzmm.program", source, "x.py")][1] == "x.py:4"
    pyx = "import json\n    from fuzzmm.sched.executor import Executor\nfrom fuzzmm.errors import (Finding,\n"
    assert [(i.target, i.where) for i in imports_in_pyx(pyx, "p.pxi")] == [
        ("fuzzmm.sched.executor", "p.pxi:2"), ("fuzzmm.errors", "p.pxi:3")]


@pytest.mark.parametrize("importer, target, allowed", [
    ("fuzzmm.errors", "fuzzmm.cli", False),
    ("fuzzmm._core", "fuzzmm.sched.sites", False),
    ("fuzzmm._core", "fuzzmm.sites", True),
    ("fuzzmm.detect.lockdep", "fuzzmm.sched.schedule", False),
    ("fuzzmm.detect.lockdep", "fuzzmm.findings", True),
    ("fuzzmm.sched.search", "fuzzmm.sched.draws", True),
    ("fuzzmm.sched.executor", "fuzzmm.detect.lockdep", True),
    ("fuzzmm.corpus.entry", "fuzzmm.profiles", False),
    ("fuzzmm.program", ROOT_ONLY, True),
    ("fuzzmm.program", "fuzzmm", False),
    ("fuzzmm.mm.base", "fuzzmm.kernel", True),
    ("fuzzmm.mm.base", "fuzzmm.mm.state", True),
    ("fuzzmm.mm.base", "fuzzmm.sched.executor", False),
    ("fuzzmm.cli", "fuzzmm.mm.variants", True),
    ("fuzzmm.cli.parser", "fuzzmm.dashboard.commands", True),
    ("fuzzmm.__main__", "fuzzmm.cli", True),
    ("fuzzmm.dashboard.commands", "fuzzmm.cli", False),
    ("fuzzmm.dashboard.server", "fuzzmm.dashboard.view", True),
    ("fuzzmm.dashboard.plots", "fuzzmm.publish", True),
    ("fuzzmm.dashboard.view", "fuzzmm.pytest_plugin", False),
    ("fuzzmm.pytest_plugin", "fuzzmm.cli", False),
    ("fuzzmm.campaign", "fuzzmm.dashboard", False),
    ("fuzzmm.svg", "fuzzmm.cli", False),
    ("fuzzmm.testing", "fuzzmm", False),
    ("fuzzmm.cli", "fuzzmm", True),
    ("fuzzmm.kernel", "fuzzmm.mm.state", False),
    ("fuzzmm.sched.search", "fuzzmm.strategies", False),
    ("fuzzmm.strategies", "fuzzmm.program", False),
])
def test_the_declared_order_allows_down_and_refuses_up(importer, target, allowed):
    assert (problem(Import(importer, target, "x.py:1", "import")) is None) == allowed
