"""The rule a corpus file states: its finding reproduces on its own variant, and on none of
the variants its `fixed_in` lists.

The pytest plugin replays a corpus file by this rule, `fuzzmm minimize` keeps a
smaller reproducer only while it still holds, and `fuzzmm corpus dedup` keeps
the smallest file that reproduces on its variant.  Each replays in its own way
(executors kept for a whole test run, opened for one file, or none), so the
rule takes the replay from its caller.
"""
from typing import Callable, Iterator, NamedTuple

from fuzzmm.corpus.entry import Entry
from fuzzmm.corpus.replay import ReplayResult, program_ref, variant_mismatch
from fuzzmm.models import ProgramRef


class Verdict(NamedTuple):
    """The rule on one variant."""
    variant: str
    must_reproduce: bool            # its own variant; False: one its fixed_in lists
    replayed: ReplayResult | None   # None where it was not replayed (see `wrong`)
    wrong: str | None               # why not: the file's program is not the variant it names

    @property
    def failed(self) -> bool:
        return self.wrong is not None or self.replayed.reproduced != self.must_reproduce


def contradiction(entry: Entry) -> str | None:
    """Why the rule can hold for no program, or None: fixed_in names the entry's own variant."""
    if entry.variant in entry.fixed_in:
        return f"fixed_in names the file's own variant {entry.variant!r}, where it must reproduce"
    return None


def verdicts(entry: Entry, replay_on: Callable[[ProgramRef], ReplayResult],
             own: bool = True, fixed: bool = True) -> Iterator[Verdict]:
    """The verdict on the entry's own variant (where it must reproduce), then on each variant
    of its fixed_in (where it must not), one at a time as each is replayed, so a caller may stop
    at the first that fails.  The own variant runs the file's program, once it is known to be
    that variant; a fixed one runs the model's program of that name, or the built-in one a model
    file extends, as `fuzzmm replay --variant` finds it.  `replay_on(ref)` replays the entry on
    the program `ref` names; `own` or `fixed` false leaves out that half, for a caller that
    judges it otherwise."""
    sides = [(entry.variant, True)] if own else []
    if fixed:
        sides += [(variant, False) for variant in entry.fixed_in]
    for variant, must_reproduce in sides:
        ref = program_ref(entry, None if must_reproduce else variant)
        wrong = variant_mismatch(entry, ref.load()) if must_reproduce else None
        if wrong:
            yield Verdict(variant, must_reproduce, None, wrong)
            continue
        yield Verdict(variant, must_reproduce, replay_on(ref), None)


def holds(entry: Entry, replay_on: Callable[[ProgramRef], ReplayResult],
          own: bool = True, fixed: bool = True) -> bool:
    """Whether the rule holds for the entry (on the half asked for): no verdict fails.
    It stops at the first that does."""
    return not any(verdict.failed for verdict in verdicts(entry, replay_on, own, fixed))
