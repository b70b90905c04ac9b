"""What a user writes: a Program with shared state, operations that tasks run, and invariants.

A program is a class.  `setup(pool)` allocates its shared state in the pool;
because the pool's heap allocates in call order, every worker that replays
`setup` gets the same objects at the same offsets.  Methods marked with `@op`
are the operations a task can run; a scenario lists, per task, which ops run
with which arguments.  `check(scenario)` is the quiescent invariant, run in the
parent once every task has ended.  Every primitive the ops call is a
scheduling point, so the author writes no yields.
"""
from __future__ import annotations

from dataclasses import dataclass
import random as _random
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterable, Self, Sequence, TypeVar

from fuzzmm.errors import Finding, FuzzmmError

if TYPE_CHECKING:
    from fuzzmm._core import Pool

#: The values an @op argument may take, as @op keeps them: a range, or a tuple of plain values.
Domain = range | tuple
#: One task's operations in order: ((op name, (argument, ...)), ...).
Task = tuple[tuple[str, tuple], ...]

_Method = TypeVar("_Method", bound=Callable[..., Any])


def op(**domains: range | list | tuple) -> Callable[[_Method], _Method]:
    """Mark a method as an operation a task can run; each keyword names an argument
    and the finite sequence of values it may take (a range, a list, a tuple).

    A range stays a range, so a domain of a million values costs no memory.  Values
    go through JSON in corpus files, where a tuple comes back as a list: Scenario.of
    turns lists back into tuples, and so does this for a list among the values, so a
    domain holds numbers, strings, None and tuples of those."""
    for name, values in domains.items():
        if not isinstance(values, (range, list, tuple)) or len(values) == 0:
            raise TypeError(f"@op argument {name!r} needs a non-empty range, list or tuple of values")
        if not isinstance(values, range):
            odd = next((v for v in values if not _plain(v)), _NONE)
            if odd is not _NONE:
                raise TypeError(f"@op argument {name!r} has the value {odd!r}: a domain holds numbers, strings, "
                                f"None and tuples of those, which a corpus file stores as they are")

    def mark(fn: _Method) -> _Method:
        fn.__fuzzmm_op__ = tuple((name, values if isinstance(values, range) else tuple(_from_json(v) for v in values))
                                 for name, values in domains.items())
        return fn
    return mark


_NONE = object()


def _plain(value):
    """Whether a value goes through JSON and back unchanged but for tuples: None, a bool, an
    int, a finite float, a string, or a list or tuple of those."""
    if value is None or type(value) in (bool, int, str):     # an IntEnum would come back a plain int
        return True
    if type(value) is float:
        return value == value and value not in (float("inf"), float("-inf"))
    return type(value) in (list, tuple) and all(_plain(v) for v in value)


def _from_json(value):
    """A value as read from JSON, with its lists (tuples when written) made tuples again."""
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def _same(a, b):
    """Equal and of the same type all the way down: 1.0 and True do not stand for 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _describe_domain(domain, limit=20):
    """A domain as an error message shows it: a range as itself, a long list cut short."""
    if isinstance(domain, range) or len(domain) <= limit:
        return repr(domain if isinstance(domain, range) else list(domain))
    return repr(list(domain[:limit]))[:-1] + f", ... ({len(domain)} values)]"


def in_domain(value: Any, domain: Domain) -> bool:
    """Whether `value` is one of the domain's values, type included."""
    if isinstance(domain, range):
        return type(value) is int and value in domain
    return any(_same(value, v) for v in domain)


#: Program's methods that fuzzmm calls and a model must not replace (it overrides setup,
#: init, check, default_scenario and, to draw scenarios its own way, random_scenario).
_FUZZMM_METHODS = ("bind", "checked_default_scenario", "ops", "run_task", "check_definition", "validate")


@dataclass(frozen=True)
class Scenario:
    """Per task, the operations it runs in order: ((("op", (arg, ...)), ...), ...)."""
    tasks: tuple[Task, ...]

    @staticmethod
    def of(tasks: Iterable[Iterable[tuple[str, Sequence[Any]]]]) -> Scenario:
        """Normalise nested lists (as read from JSON) into a Scenario."""
        try:
            for task in tasks:
                for _, args in task:
                    if not isinstance(args, (list, tuple)):
                        raise TypeError(f"an operation's arguments are a list, not {args!r}")
            return Scenario(tuple(tuple((str(name), tuple(_from_json(a) for a in args)) for name, args in task)
                                  for task in tasks))
        except (TypeError, ValueError) as exc:
            raise FuzzmmError(f"malformed scenario: {exc}") from None

    def to_json(self) -> list[list[list[Any]]]:
        return [[[name, list(args)] for name, args in task] for task in self.tasks]

    @property
    def ntasks(self) -> int:
        return len(self.tasks)

    def describe(self) -> str:
        return " | ".join("; ".join(f"{n}({', '.join(map(repr, a))})" for n, a in task) for task in self.tasks)


class Program:
    """Base class of every model and program fuzzmm runs.

    Class attributes a subclass may set:
      name            the model's name (shared by its variants)
      variant         this variant's name
      summary         one line shown by `fuzzmm variants`
      tasks           (least, most) tasks in a generated scenario
      ops_per_task    (least, most) operations per task in a generated scenario
      pool_config     keyword arguments of Pool.create (nodes, pages, heap, ...)
      max_steps       scheduling points after which a run is a hang
      formats         how traces show an object's values: {attribute name: formatter},
                      e.g. {"pte": fuzzmm.formats.flags(PRESENT=1, DIRTY=2), "mask": hex}
    """
    name: str = "program"
    variant: str = "default"
    summary: str = ""
    tasks: tuple[int, int] = (2, 3)
    ops_per_task: tuple[int, int] = (1, 2)
    pool_config: dict[str, Any] = {}
    max_steps: int = 20000
    formats: dict[str, Any] = {}

    def bind(self, pool: Pool) -> Self:
        """Attach to `pool` and build the shared state (in every process)."""
        self.pool = pool
        self.setup(pool)
        return self

    def setup(self, pool: Pool) -> None:
        """Allocate shared state (atomics, locks, pages) on `pool`."""

    def init(self, scenario: Scenario) -> None:
        """Prepare the state a scenario starts from; runs in the parent before each run.

        Tasks run in other processes: whatever they need from here must be put
        in the pool (an atomic, a page table), not in a Python attribute.
        """

    def check(self, scenario: Scenario) -> None:
        """The quiescent invariant: raise a Finding or fail an assert if it does not hold."""

    def default_scenario(self) -> Scenario:
        """The scenario strategies use when they do not draw one: override it."""
        return self.random_scenario(_random.Random(0))

    def checked_default_scenario(self) -> Scenario:
        """default_scenario(), refused with a FuzzmmError if the program could not run it
        (an op it lacks, an argument outside a domain), rather than run as a finding."""
        try:
            scenario = self.default_scenario()
            self.validate(scenario)
        except FuzzmmError as exc:
            raise FuzzmmError(f"{type(self).__name__}.default_scenario(): {exc}") from None
        except (Exception, SystemExit) as exc:
            raise FuzzmmError(f"{type(self).__name__}.default_scenario() raised {type(exc).__name__}: {exc}") from None
        return scenario

    # ---- operations ----

    @classmethod
    def ops(cls) -> dict[str, tuple[tuple[str, Domain], ...]]:
        """{name: ((arg, values), ...)} for every @op method, in definition order."""
        found = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                domains = getattr(value, "__fuzzmm_op__", None)
                if domains is not None:
                    found[name] = domains   # an undecorated override keeps its base's domains
        return found

    def run_task(self, ops: Task) -> None:
        """Run one task's operations in order; each is a fresh system call, so puts
        made in an earlier one do not count against the next (put-before-unlock).
        A task that ends holding a lock is a `lock-leak`: no one else may ever take it."""
        core = sys.modules["fuzzmm._core"]      # loaded with self.pool; a from-import here took microseconds
        for index, (name, args) in enumerate(ops):
            core.begin_operation(self.pool, index)
            getattr(self, name)(*args)
        held = [(what, ops[taken_in][0], where) for what, taken_in, where in core.locks_held(self.pool)]
        if held:
            taken = ", ".join(f"{what} (taken in {where or name}{f', in op {name}' if where else ''})"
                              for what, name, where in held)
            raise Finding("lock-leak", f"the task ended holding {taken}",
                          function=getattr(type(self), held[0][1]).__qualname__)

    SWARM_WHOLE = 256       # domains larger than this are sampled, not listed, for a swarm draw

    def _swarm_subset(self, values, keep):
        """The domain's values in `keep`: in the domain's order, or for a domain too big to
        list, in the order of their repr (the whole domain if none is kept)."""
        if len(values) > self.SWARM_WHOLE:
            subset = [v for v in sorted(keep, key=repr) if in_domain(v, values)]
        else:
            subset = [v for v in values if v in keep]
        return subset or values

    def random_scenario(self, rng: _random.Random, swarm: bool = False) -> Scenario:
        """A scenario drawn with `rng` from the program's ops and their domains.

        With `swarm`, the draw first keeps a random subset of the ops and, per
        argument name, a random subset of its values (swarm testing): tasks then
        touch the same few objects far more often than uniform draws make them.
        The subsets are per argument *name*, so `addr` of one op meets `addr` of
        another; an op whose domain misses the subset keeps its whole domain.
        """
        ops = self.ops()
        if not ops:
            raise FuzzmmError(f"{self.name}: no @op methods to build a scenario from")
        names = list(ops)
        domains = {name: [values for _, values in ops[name]] for name in names}
        if swarm:
            names = [n for n in names if rng.random() < 0.5] or [rng.choice(names)]
            union = {}                      # argument name -> every value the kept ops allow
            for name in names:
                for arg, values in ops[name]:
                    if len(values) > self.SWARM_WHOLE:        # a big domain: a sample stands for it
                        values = rng.sample(values, self.SWARM_WHOLE)
                    union.setdefault(arg, set()).update(values)
            keep = {}
            for arg, values in union.items():
                values = sorted(values, key=repr)
                keep[arg] = set(rng.sample(values, rng.randint(1, max(1, len(values) // 2))))
            for name in names:
                domains[name] = [self._swarm_subset(values, keep[arg]) for arg, values in ops[name]]
        tasks = []
        for _ in range(rng.randint(*self.tasks)):
            task = []
            for _ in range(rng.randint(*self.ops_per_task)):
                name = rng.choice(names)
                task.append((name, tuple(rng.choice(values) for values in domains[name])))
            tasks.append(tuple(task))
        return Scenario(tuple(tasks))

    @classmethod
    def check_definition(cls) -> None:
        """Raise FuzzmmError if the class is not a usable program: its size attributes
        out of range, or an @op whose argument names differ from its method's."""
        import inspect
        where = f"{cls.__qualname__} (variant {cls.variant!r})"
        for attr, may_be_empty in (("name", False), ("variant", False), ("summary", True)):
            value = getattr(cls, attr)
            if not isinstance(value, str) or not (value or may_be_empty):
                raise FuzzmmError(f"{where}: `{attr}` must be a{'' if may_be_empty else ' non-empty'} string, "
                                  f"not {value!r}")
        if not isinstance(cls.max_steps, int) or isinstance(cls.max_steps, bool) or cls.max_steps < 1:
            raise FuzzmmError(f"{where}: `max_steps` must be a whole number from 1, not {cls.max_steps!r}")
        for attr, low, high in (("tasks", 1, 16), ("ops_per_task", 1, None)):
            value = getattr(cls, attr)
            if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)
                    and low <= value[0] <= value[1] and (high is None or value[1] <= high)):
                bound = f"{low} <= least <= most" + (f" <= {high}" if high else "")
                raise FuzzmmError(f"{where}: `{attr}` must be a (least, most) pair of ints with {bound}, "
                                  f"not {value!r}")
        for name in _FUZZMM_METHODS:
            if next(k for k in cls.__mro__ if name in vars(k)) is not Program:
                raise FuzzmmError(f"{where}: {name} would replace fuzzmm's own Program.{name}; "
                                  f"give the method another name")
        ops = cls.ops()
        if not ops:
            raise FuzzmmError(f"{where}: no @op methods to build a scenario from")
        for name, domains in ops.items():
            method = getattr(cls, name)
            if inspect.isgeneratorfunction(method) or inspect.iscoroutinefunction(method) \
                    or inspect.isasyncgenfunction(method):
                raise FuzzmmError(f"{where}: @op {name} is a generator or async function, whose body a "
                                  "call does not run; make it a plain method")
            signature = inspect.signature(method)
            named = [arg for arg, _ in domains]
            params = list(signature.parameters)[1:]
            try:
                signature.bind(None, *named)
                fits = params[:len(named)] == named or any(
                    p.kind == p.VAR_POSITIONAL for p in signature.parameters.values())
            except TypeError:
                fits = False
            if not fits:
                raise FuzzmmError(f"{where}: @op of {name} names the arguments ({', '.join(named)})"
                                  f" but the method takes ({', '.join(params)})")

    @classmethod
    def validate(cls, scenario: Scenario) -> None:
        """Raise FuzzmmError if the scenario has a task with no ops, names an unknown op,
        passes a wrong number of arguments, or an argument outside its op's domain."""
        ops = cls.ops()
        if not 1 <= scenario.ntasks <= 16:
            raise FuzzmmError(f"a scenario has 1..16 tasks, this one has {scenario.ntasks}")
        for t, task in enumerate(scenario.tasks):
            if not task:
                raise FuzzmmError(f"task {t} has no operations")
            for name, args in task:
                if name not in ops:
                    raise FuzzmmError(f"task {t}: {cls.name} has no operation {name!r}")
                if len(args) != len(ops[name]):
                    raise FuzzmmError(f"task {t}: {name} takes {len(ops[name])} arguments, got {len(args)}")
                for value, (arg, domain) in zip(args, ops[name]):
                    if not in_domain(value, domain):
                        raise FuzzmmError(f"task {t}: {name}({arg}={value!r}) is outside the op's domain "
                                          f"{_describe_domain(domain)}")
