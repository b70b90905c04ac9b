"""One model class composed of mixins that follow the kernel's files, reported under its own name.

The seed model's kernel functions live in mixins, one per kernel file
(huge_memory.py for mm/huge_memory.c, migrate.py for mm/migrate.c, ...), and
`ThpNuma` composes them.  Findings and traces name a function by its code
object's qualified name: a finding's signature is `kind@ThpNuma.do_huge_pmd_numa_page`,
and corpus files match on it.  `composed_of` gives the mixins' code objects
the composed class's name, so those names read as they did when one class
held every function; what says where the code lives (a function's file, and
its own `__qualname__`, which pickle and inspect use) stays true.
"""
import types


def composed_of(*mixins):
    """Class decorator: the decorated class composes `mixins` (each one of its bases), and
    findings and traces name their functions `Composed.function`, not `Mixin.function`.

    A mixin's functions take the name of the first class composing it; a second
    composer leaves them as they are."""
    def decorate(cls):
        for mixin in mixins:
            if mixin not in cls.__bases__:
                raise TypeError(f"{cls.__qualname__} does not derive from {mixin.__qualname__}")
            for value in vars(mixin).values():
                function = getattr(value, "__func__", value)        # staticmethod, classmethod
                if isinstance(function, types.FunctionType):
                    function.__code__ = _renamed(function.__code__, mixin.__qualname__, cls.__qualname__)
        return cls
    return decorate


def _renamed(code, old, new):
    """`code`, and the code objects nested in it (comprehensions, lambdas), with the
    qualified-name prefix `old.` changed to `new.`; the bytecode is untouched."""
    consts = tuple(_renamed(c, old, new) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    qualname = code.co_qualname
    if qualname.startswith(old + "."):
        qualname = new + qualname[len(old):]
    return code.replace(co_qualname=qualname, co_consts=consts)
