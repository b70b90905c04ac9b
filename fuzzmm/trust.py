"""Which code a corpus may have fuzzmm import: only sources the user chose, decided before
anything is imported.

A corpus entry names the model and the program it replays, and importing either runs its
code.  An entry can come from anyone (a JSON reproducer someone sent, a line anyone who can
write to a shared Redis corpus wrote), so what it names is imported only from:

- fuzzmm itself (the built-in models) and what distributions that declare a `fuzzmm.models`
  entry point installed (the files their metadata lists, and the package each entry point
  names);
- the project tree that holds the corpus: the nearest directory, from the corpus file's own
  upwards, with a pyproject.toml or a repository's root (.git); for an entry read from no
  file (a Redis corpus), the working directory's project;
- model files that project lists in its pyproject.toml (`[tool.fuzzmm] models = [globs]`,
  relative to it), wherever they are;
- what the user trusts for this process: `--trust-model PATH` (allow()), a file or a
  directory.

`--model` on the command line is the user's own choice: it is not checked here.  A file is
judged by where it really is (symbolic links resolved).  A module name is judged by where
importing it would find it: each file the import would run (every package's __init__ on the
way, and the module itself) is found as the import system finds it, without running anything,
and each must be one of the above; the working directory is searched for it (as `python -m`
does) only when it lies in the project tree or a trusted directory.  Anything else is refused:
Untrusted, one line naming the corpus entry and how to trust what it names.
"""
import glob
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import sys
import tomllib

from fuzzmm.errors import FuzzmmError
from fuzzmm.models import BUILTIN_MODELS, ENTRY_POINT_GROUP, installed_models, is_file_source

_ALLOWED = []       # real paths the user trusts for this process (--trust-model): files or directories


class Untrusted(FuzzmmError):
    """A corpus entry names code from no source the user chose; nothing of it was imported."""


def allow(paths):
    """Add `paths` (model files or directories, as given to --trust-model) to the sources
    trusted for this process: a corpus entry naming one of them, or anything under one of
    them, may import it."""
    for path in paths:
        if not os.path.exists(path):
            raise FuzzmmError(f"trusted model {path}: no such file or directory")
        real = os.path.realpath(path)
        if real not in _ALLOWED:
            _ALLOWED.append(real)


def project_of(directory):
    """The project tree holding `directory` (its real path): the nearest directory, from it
    upwards, that holds a pyproject.toml or is a repository's root (holds .git); None if none."""
    here = os.path.realpath(directory)
    while True:
        if os.path.isfile(os.path.join(here, "pyproject.toml")) or os.path.exists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Sources:
    """What an entry read at `where` (a corpus file's path; None: read from no file) may
    import: see the module's docstring."""

    def __init__(self, where=None):
        start = os.path.dirname(os.path.abspath(where)) if where else os.getcwd()
        self.project = project_of(start)
        self._listed = None             # the project's [tool.fuzzmm] models, read when first asked
        self._installed = None          # the installed models' packages, found when first asked

    def listed(self):
        """The real paths the project's pyproject.toml lists under [tool.fuzzmm] models."""
        if self._listed is None:
            self._listed = []
            config = os.path.join(self.project, "pyproject.toml") if self.project else None
            if config and os.path.isfile(config):
                try:
                    with open(config, "rb") as f:
                        models = tomllib.load(f).get("tool", {}).get("fuzzmm", {}).get("models", [])
                except (OSError, tomllib.TOMLDecodeError) as exc:
                    raise FuzzmmError(f"{config}: cannot read [tool.fuzzmm]: {exc}") from None
                if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
                    raise FuzzmmError(f"{config}: [tool.fuzzmm] models must be a list of paths or globs")
                for pattern in models:
                    for found in glob.glob(os.path.join(self.project, pattern), recursive=True):
                        self._listed.append(os.path.realpath(found))
        return self._listed

    def installed(self):
        """The real paths of what distributions that declare a `fuzzmm.models` entry point
        installed: the files their metadata lists, and the package (or plain module) each
        entry point names, wherever it lies (an editable install lists none of its files)."""
        if self._installed is None:
            self._installed = []
            for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                module = point.value.partition(":")[0].strip()
                spec = _find_top(module.split(".")[0]) if module else None
                if spec is not None:
                    self._installed += _locations(spec)
                for file in (point.dist.files or []) if point.dist is not None else []:
                    if file.suffix in (".py", ".pyc") or ".so" in file.suffixes:
                        self._installed.append(os.path.realpath(point.dist.locate_file(file)))
        return self._installed

    def trusts(self, path):
        """Whether the file or directory `path` (absolute) is one this entry may import from."""
        if not os.path.isabs(path):           # "<built-in module sys>": in no file of anyone's
            return False
        real = os.path.realpath(path)
        roots = [_FUZZMM, *_ALLOWED, *([self.project] if self.project else [])]
        return any(_inside(real, root) for root in roots) \
            or any(_inside(real, root) for root in self.listed()) \
            or any(_inside(real, root) for root in self.installed())

    def outside(self):
        """Where an untrusted place lies, for the refusal."""
        return f"outside the project {self.project}" if self.project else \
            "in no project (no pyproject.toml or .git holds the corpus)"


_FUZZMM = os.path.dirname(os.path.realpath(__file__))


def check_entry(entry):
    """Refuse (Untrusted) an entry whose model or program is no source the user chose, before
    anything of either is imported.  The entry's file places its project; an entry read from
    no file (path None, or a redis:// place) is placed in the working directory's."""
    where = entry.path if entry.path and "://" not in entry.path else None
    sources = Sources(where)
    named = entry.path or "corpus entry"
    check_model(entry.model, sources, named)
    source, _, _ = entry.program.rpartition(":")
    if source:
        check_source(source, sources, named, "program")


def check_model(model, sources, named):
    """Refuse a `model` field naming no trusted source: a built-in or installed model's name,
    or a module or file as check_source says."""
    if not is_file_source(model) and (model in BUILTIN_MODELS or model in installed_models()):
        return
    check_source(model, sources, named, "model")


def check_source(source, sources, named, field):
    """Refuse (Untrusted) a module name or .py file `source` that `sources` do not trust;
    `named` (the corpus entry) and `field` ("model" or "program") say where it was read."""
    if is_file_source(source):
        path = os.path.abspath(source)
        if not sources.trusts(path):
            raise Untrusted(f"{named}: {field} file {source} lies {sources.outside()} and is not trusted: "
                            f"its code would run; if you trust it, pass --trust-model {os.path.realpath(path)}")
        return
    for origin, hint in _module_files(source, sources, named, field):
        if origin.startswith("<"):
            raise Untrusted(f"{named}: {field} module {source} is part of Python itself ({origin[1:-1]}), "
                            f"not a model")
        if not sources.trusts(origin):
            raise Untrusted(f"{named}: {field} module {source} would be imported from {origin}, "
                            f"{sources.outside()}, and is not trusted: its code would run; "
                            f"if you trust it, pass --trust-model {hint}")


def _module_files(name, sources, named, field):
    """(file, what to trust to allow it) for each file importing the module `name` would run:
    each package's __init__ on the way and the module itself, found as the import system
    finds them (sys.meta_path over sys.path, and each package's __path__) without running
    any of them.  One already imported counts by the file it came from."""
    parts = name.split(".")
    if not all(parts):
        raise FuzzmmError(f"{named}: {field} {name!r} is not a module name")
    out, locations, top = [], None, []
    for depth in range(1, len(parts) + 1):
        fullname = ".".join(parts[:depth])
        module = sys.modules.get(fullname)
        if module is not None:
            spec = getattr(module, "__spec__", None)
            origin = getattr(module, "__file__", None)
            search = getattr(module, "__path__", None)
            if origin is None and search is None:      # built into the interpreter
                origin = f"<{getattr(spec, 'origin', None) or 'built-in'} module {fullname}>"
        else:
            spec = _find_top(fullname, sources, f"{named}: {field}") if depth == 1 else _find_sub(fullname, locations)
            if spec is None:
                raise FuzzmmError(f"cannot import model module {name}: No module named {fullname!r}")
            origin = spec.origin if spec.has_location else None
            search = spec.submodule_search_locations
            if origin is None and search is None:
                origin = f"<{spec.origin or 'built-in'} module {fullname}>"
        locations = list(search) if search is not None else None
        if depth == 1:
            top = [os.path.realpath(p) for p in locations or ()]
        if origin is not None:          # trusting its top-level package trusts all of it
            real = os.path.realpath(origin) if os.path.isabs(origin) else origin
            out.append((origin, next((p for p in top if _inside(real, p)), real)))
    return out


def _find_top(name, sources=None, what=None):
    """The spec of the top-level module `name`, found without importing it: on sys.path, else
    in the working directory where `sources` trust it (models._import then puts it on the
    path, as `python -m` would); None if none.  `what` names the entry and field, for a refusal."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is not None or sources is None:
        return spec
    cwd = os.getcwd()
    if cwd in sys.path:
        return None
    spec = importlib.machinery.PathFinder.find_spec(name, [cwd])
    if spec is not None and not sources.trusts(cwd):
        raise Untrusted(f"{what} module {name} is found only in the working directory {cwd}, "
                        f"{sources.outside()}, which is searched for a corpus's modules only in its project; "
                        f"run from the project, or if you trust it, pass --trust-model {cwd}")
    return spec


def _find_sub(fullname, locations):
    """The spec of submodule `fullname` in its package's `locations`, as the import system's
    finders find it, without importing it; None if none (or the package is no package)."""
    if locations is None:
        return None
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(fullname, locations, None)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            return spec
    return None


def _locations(spec):
    """The real paths a module's spec occupies: its package's directories, or its file."""
    if spec.submodule_search_locations:
        return [os.path.realpath(p) for p in spec.submodule_search_locations]
    return [os.path.realpath(spec.origin)] if spec.has_location and spec.origin else []
