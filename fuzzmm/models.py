"""Finding models and their variants: built-in names, installed models, modules and file paths.

A model is a module (or a .py file) holding Program subclasses.  It names its
variants in a `VARIANTS` dict; without one, every Program subclass defined in
the module is a variant under its `variant` attribute.  A file may subclass a
built-in variant and override any of its functions.  A package installs a model
under a name through the `fuzzmm.models` entry point group (name = "module").
Importing a model runs its code in this process, under the parent's watchdog
and with its prints sent to stderr (fuzzmm.watchdog); which sources a corpus
may have imported is fuzzmm.trust's to decide, before this module imports them.
"""
from dataclasses import dataclass
import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import warnings
import zlib

from fuzzmm.errors import FuzzmmError, os_exit_refused
from fuzzmm.program import Program
from fuzzmm.watchdog import InParent, Overran

BUILTIN_MODELS = {
    "thp-numa": "fuzzmm.mm.variants",
    "lost-update": "fuzzmm.examples.lost_update",
}
DEFAULT_MODEL = "thp-numa"
ENTRY_POINT_GROUP = "fuzzmm.models"     # installed models: name = "module"
IMPORT_WATCHDOG_S = 10.0                # a model's import is bounded as an executor's setup is


def installed_models():
    """The models installed through the `fuzzmm.models` entry point group: name -> module,
    read from the installed distributions' metadata (nothing is imported).  A built-in
    model's name stays the built-in's."""
    key = tuple(sys.path)
    if _INSTALLED[0] != key:
        found = {}
        for point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            module = point.value.partition(":")[0].strip()
            if point.name not in BUILTIN_MODELS and module:
                found.setdefault(point.name, module)
        _INSTALLED[:] = [key, found]
    return _INSTALLED[1]


_INSTALLED = [None, {}]      # (sys.path it was read for, the table): read again when the path changes


#: The methods of Program a model overrides; its others are fuzzmm's own, not near misses of a helper.
PROGRAM_HOOKS = ("setup", "init", "check", "default_scenario", "random_scenario")


class OverrideWarning(UserWarning):
    """A method of a model's class overrides nothing, though its name is close to one it could."""


@dataclass(frozen=True)
class ProgramRef:
    """A picklable way for any process to find one Program class: module or file, and name."""
    source: str
    qualname: str

    def load(self):
        module = _import(self.source)
        obj = module
        for part in self.qualname.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise FuzzmmError(f"{self.source} has no {self.qualname}")
        if not (inspect.isclass(obj) and issubclass(obj, Program)):
            raise FuzzmmError(f"{self.source}:{self.qualname} is not a fuzzmm Program")
        return obj

    def __str__(self):
        return f"{self.source}:{self.qualname}"


@dataclass(frozen=True)
class Model:
    name: str
    source: str
    variants: dict          # variant name -> ProgramRef, in listing order

    def ref(self, variant):
        """The variant's program: one of the model's own, else one of the built-in model it
        extends (a file of variants of thp-numa can be run beside thp-numa's own)."""
        if variant in self.variants:
            return self.variants[variant]
        extended = self.extended()
        if extended is not None and variant in extended.variants:
            return extended.variants[variant]
        where = f"model file {os.path.relpath(self.source)}" if is_file_source(self.source) \
            else f"model {self.name}"
        also = f"; the built-in {extended.name}: {', '.join(extended.variants)}" if extended else ""
        raise FuzzmmError(f"{where} has no variant {variant!r} (it has: {', '.join(self.variants)}{also})")

    def extended(self):
        """The built-in model this one extends (shares the name of), or None."""
        if self.name in BUILTIN_MODELS and self.source != BUILTIN_MODELS[self.name]:
            return load_model(self.name)
        return None


def is_file_source(source):
    """Whether a model source names a file (else a module or a built-in name): a .py
    ending, a path separator, or a leading dot (`.`, `..`, no module name)."""
    return source.endswith(".py") or os.sep in source or source.startswith(".")


def _import(source):
    """The module of a model source: a module name or a .py file.  Its code runs here under
    the parent's watchdog, its prints going to stderr; anything it raises is bad input."""
    if not is_file_source(source):
        if source in sys.modules:
            return sys.modules[source]
        try:
            return _bounded(f"model module {source}", importlib.import_module, source)
        except ModuleNotFoundError as exc:
            if exc.name != source.split(".")[0] or os.getcwd() in sys.path:
                raise FuzzmmError(f"cannot import model module {source}: {exc}") from None
        except ImportError as exc:
            raise FuzzmmError(f"cannot import model module {source}: {exc}") from None
        except (FuzzmmError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # a model module's own error, reported as bad input
            raise FuzzmmError(f"model module {source} raised on import: {type(exc).__name__}: {exc}") from None
        sys.path.insert(0, os.getcwd())     # as `python -m` would: a project's own modules
        return _import(source)
    path = os.path.abspath(source)
    name = f"fuzzmm_model_{zlib.crc32(path.encode()):08x}"
    if name in sys.modules:
        return sys.modules[name]
    if os.path.isdir(path):
        raise FuzzmmError(f"{source} is a directory, not a model file (a .py file)")
    if not os.path.isfile(path):
        raise FuzzmmError(f"model file {source} does not exist")
    if not path.endswith(".py"):
        raise FuzzmmError(f"model file {source} is not a .py file")
    if os.path.dirname(path) not in sys.path:      # as `python file.py` would: the modules beside it
        sys.path.append(os.path.dirname(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        _bounded(f"model file {source}", spec.loader.exec_module, module)
    except KeyboardInterrupt:
        del sys.modules[name]
        raise
    except FuzzmmError:
        del sys.modules[name]
        raise
    except BaseException as exc:  # a model file's own error, reported as bad input
        del sys.modules[name]
        raise FuzzmmError(f"model file {source} raised on import: {type(exc).__name__}: {exc}") from None
    return module


def _bounded(what, function, *args):
    """function(*args), a model's import, as the parent runs model code: past the watchdog
    it is stopped (FuzzmmError naming `what`), what it prints goes to stderr (stdout carries
    the command's output, --json lines), and os._exit raises SystemExit."""
    guard = InParent(IMPORT_WATCHDOG_S)
    try:
        with guard, os_exit_refused():
            return function(*args)
    except Overran:
        raise FuzzmmError(f"{what} ran past the {IMPORT_WATCHDOG_S:g} s watchdog on import") from None
    finally:
        guard.release()


def load_model(name_or_path=None):
    """The Model for a built-in or installed model's name, an importable module or a .py file path."""
    name_or_path = name_or_path or DEFAULT_MODEL
    source = BUILTIN_MODELS.get(name_or_path) or (None if is_file_source(name_or_path) else
                                                  installed_models().get(name_or_path)) or name_or_path
    module = _import(source)
    if is_file_source(source):
        source = os.path.abspath(source)
    table = getattr(module, "VARIANTS", None)
    if table is None:
        table = _variants_by_attribute(module, name_or_path)
    elif not isinstance(table, dict):
        raise FuzzmmError(f"{name_or_path}: VARIANTS must be a dict of variant name -> Program subclass")
    if not table:
        raise FuzzmmError(f"{name_or_path} defines no Program subclass")
    variants = {}
    for variant, cls in table.items():
        if not (inspect.isclass(cls) and issubclass(cls, Program)):
            raise FuzzmmError(f"{name_or_path}: VARIANTS[{variant!r}] is {cls!r}, not a Program subclass")
        try:
            cls.check_definition()
        except FuzzmmError as exc:
            raise FuzzmmError(f"{name_or_path}: {exc}") from None
        if cls.__module__ == module.__name__:
            _warn_near_misses(cls)
        variants[variant] = ProgramRef(source if cls.__module__ == module.__name__ else cls.__module__,
                                       cls.__qualname__)
    first = next(iter(table.values()))
    model = Model(first.name, source, variants)
    extended = model.extended()
    if extended is not None:        # a copy of a built-in file keeps its names; a subclass may not take them
        built_in = [ref.load() for ref in extended.variants.values()]
        for variant, cls in table.items():
            if variant in extended.variants and cls not in built_in and issubclass(cls, tuple(built_in)):
                raise FuzzmmError(f"{name_or_path}: variant {variant!r} is a variant of the built-in "
                                  f"{extended.name} this file extends; give {cls.__qualname__} a name of its own")
    return model


def _variants_by_attribute(module, name_or_path):
    """Every Program subclass the module defines, by its `variant` attribute; two
    classes under one name would hide one of them, so that is an error."""
    table = {}
    for cls in vars(module).values():
        if not (inspect.isclass(cls) and issubclass(cls, Program) and cls is not Program
                and cls.__module__ == module.__name__):
            continue
        named_by = next(k for k in cls.__mro__ if "variant" in vars(k))
        if named_by is not Program and named_by.__module__ != module.__name__:
            raise FuzzmmError(f"{name_or_path}: {cls.__qualname__} would take the variant name {cls.variant!r} "
                              f"of {named_by.__qualname__}; give it its own `variant = ...`")
        if cls.variant in table:
            raise FuzzmmError(f"{name_or_path}: {table[cls.variant].__qualname__} and {cls.__qualname__} both "
                              f"have variant {cls.variant!r}; give each its own `variant` or list them in VARIANTS")
        table[cls.variant] = cls
    return table


def _warn_near_misses(cls):
    """Warn of a method that overrides nothing while its name is a near miss of one its
    bases have: a misspelt override is never called, and the variant would look clean."""
    inherited = {name for base in cls.__mro__[1:] if base is not Program for name in vars(base)
                 if not name.startswith("__")} | set(PROGRAM_HOOKS)
    for name, value in vars(cls).items():
        if name in inherited or name.startswith("__") or not callable(value) or hasattr(value, "__fuzzmm_op__"):
            continue
        close = difflib.get_close_matches(name, inherited, n=1, cutoff=0.88)
        if close:
            warnings.warn(f"{cls.__qualname__}.{name} overrides nothing; did you mean {close[0]}?",
                          OverrideWarning, stacklevel=3)


def list_models():
    """Every built-in and installed model that imports, as Model objects."""
    out = []
    for name in [*BUILTIN_MODELS, *installed_models()]:
        try:
            out.append(load_model(name))
        except FuzzmmError:
            continue
    return out
