"""How a program's objects show their values in traces: flags by name, hexadecimal, or its own words.

A ring record holds integers.  A page-table entry of 45 or a flags word of 0x81 says little
until decoded, so a program may name a formatter for any object it holds, in its `formats`
class attribute, keyed by the attribute that holds the object; a key without an index covers
every item of a list (`"mm.pmd"` is `mm.pmd[0]`, `mm.pmd[1]`, ...):

    class Pager(Program):
        formats = {"pte": flags(PRESENT=1, WRITE=2, DIRTY=4), "mask": hex}

A formatter is any callable from an int to a string.  The swimlane (text and SVG) and
`--trace-json` (as `before_text` and `after_text`, beside the numbers) use it.  The labels
`fuzzmm.trace.object_names` returns carry their object's formatter, so every caller that
passes those names on gets the formatted values with no further argument.

A page's flags word needs no `formats`: `page_flags` shows it by the names of the PG_* bits
fuzzmm.kernel exports, in every program's traces (`lock_page page0 lru|head->locked|lru|head`).
"""
import re


def flags(names=None, /, **bits):
    """A formatter showing the bits set by name, in the order given, and what is left in hex:
    `flags(PRESENT=1, NUMA=2)(7)` is "PRESENT|NUMA|0x4"; 0 is "0".  Names may also come as
    one dict (for names that are not identifiers)."""
    table = list({**(names or {}), **bits}.items())
    for name, mask in table:
        if not isinstance(mask, int) or mask <= 0:
            raise ValueError(f"flag {name!r} needs a positive integer mask, not {mask!r}")

    def show(value):
        if value == 0:
            return "0"
        shown, left = [], value
        for name, mask in table:
            if value & mask == mask:
                shown.append(name)
                left &= ~mask
        if left:
            shown.append(hex(left))
        return "|".join(shown)
    show.__name__ = "flags"
    return show


_page_flags = None


def page_flags(value):
    """A struct page's flags word by the names of its PG_* bits (fuzzmm.kernel), lowest bit
    first and without the `PG_` prefix, as the kernel's dump_page prints them: 81 is
    "locked|lru|head"; bits with no name are left in hex."""
    global _page_flags
    if _page_flags is None:
        from fuzzmm import kernel
        bits = sorted((getattr(kernel, name), name) for name in kernel.__all__ if name.startswith("PG_"))
        _page_flags = flags({name[len("PG_"):]: mask for mask, name in bits})
    return _page_flags(value)


class Label(str):
    """An object's name in traces, carrying the formatter its program gave it (or None)."""
    formatter = None

    def __new__(cls, text, formatter=None):
        label = super().__new__(cls, text)
        label.formatter = formatter
        return label


_INDEX = re.compile(r"\[\d+\]")


def formatter_for(label, formats):
    """The formatter `formats` names for an object labelled `label`: by its label, else by
    its label without list indexes."""
    if not formats:
        return None
    return formats.get(label) or formats.get(_INDEX.sub("", label))


def labelled(names, program):
    """`names` (ring object id -> label) with each label carrying its formatter from the
    program's `formats`, if it has any."""
    formats = getattr(type(program), "formats", None) or {}
    if not formats:
        return names
    return {obj: Label(label, formatter_for(label, formats)) for obj, label in names.items()}


def shown(value, formatter):
    """`value` through `formatter`; the number itself when the formatter fails on it (a trace is
    read when something went wrong: it must not fail in turn)."""
    try:
        return str(formatter(value))
    except Exception:       # noqa: BLE001 - the program's own code
        return str(value)
