"""Traces: a run's event-ring records as structlog JSON lines, and the names of objects.

Rendering happens only when a run failed or a trace was asked for; the ring
itself is always on and costs one fixed-size store per scheduling point.
"""
import structlog

from fuzzmm import _core
from fuzzmm.formats import labelled, page_flags, shown

_OBJ_TAGS = {_core.OBJ_PAGE: "page", _core.OBJ_HEAP: "heap", _core.OBJ_VMSTAT: "vmstat", _core.OBJ_EVENT: "event"}
#: The operations whose values are a page's flags word, shown by name (fuzzmm.formats.page_flags).
PAGE_FLAG_OPS = frozenset({"trylock_page", "lock_page", "unlock_page", "set_flag", "clear_flag", "test_flag"})


def configure_worker_logging(worker_index=None):
    """Configure structlog in this process before its first log call.

    A forked child keeps the parent's cached loggers, so each worker configures
    its own rather than inheriting a configuration bound to the parent.
    """
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer(sort_keys=True)],
        cache_logger_on_first_use=False,
    )
    return structlog.get_logger().bind(worker=worker_index) if worker_index is not None else structlog.get_logger()


def op_name(op):
    names = _core.OP_NAMES
    return names[op] if 0 <= op < len(names) else f"op{op}"


def object_names(program, depth=3):
    """Ring object id -> where the program holds it (`counter`, `mm.lru_lock[1]`, ...).

    Follows plain attributes, lists and tuples a few levels down from the program.  Each
    label carries the formatter the program's `formats` gives its object (fuzzmm.formats)."""
    names = {}
    seen = set()

    def visit(label, value, level):
        if id(value) in seen or isinstance(value, (type, str, bytes, int, float)):
            return
        seen.add(id(value))
        offset = getattr(value, "offset", None)
        if isinstance(offset, int):
            names.setdefault((_core.OBJ_HEAP << 56) | offset, label)
            return
        if level >= depth:
            return
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(f"{label}[{i}]", item, level + 1)
        elif hasattr(value, "__dict__") and not callable(value):
            for attr, item in vars(value).items():
                visit(f"{label}.{attr}" if label else attr, item, level + 1)

    for attr, value in vars(program).items():
        if attr != "pool":
            visit(attr, value, 0)
    return labelled(names, program)


def object_label(obj, names=None):
    if names and obj in names:
        return names[obj]
    kind, index = obj >> 56, obj & ((1 << 56) - 1)
    if kind == _core.OBJ_PAGE and index >> 55:
        return f"node{index & 0xff} (no page)"
    if kind == _core.OBJ_VMSTAT:
        node, item = divmod(index, len(_core.VMSTAT_NAMES))
        return f"node{node}.{_core.VMSTAT_NAMES[item]}"
    if kind == _core.OBJ_EVENT and index < len(_core.VMEVENT_NAMES):
        return _core.VMEVENT_NAMES[index]
    tag = _OBJ_TAGS.get(kind)
    return f"{tag}{index}" if tag == "page" else f"{tag}@{index}" if tag else hex(obj)


def site_parts(site):
    """(function, file:line) of a ring site number."""
    label = _core.site_label(site)
    function, _, where = label.partition(" (")
    return function, where.rstrip(")")


def records(result, names=None):
    """Each event of a run as a dict, in ring order (the order of a controlled run); an object
    with a formatter adds its values as text, `before_text` and `after_text`, and so does an
    operation on a page's flags (its PG_* bits by name)."""
    out = []
    for seq, task, op, obj, before, after, site in result.events or ():
        function, where = site_parts(site)
        label = object_label(obj, names)
        name = op_name(op)
        rec = {"seq": seq, "task": task, "op": name, "object": str(label),
               "obj": obj, "before": before, "after": after, "function": function, "where": where}
        formatter = getattr(label, "formatter", None)
        if formatter is None and name in PAGE_FLAG_OPS and obj >> 56 == _core.OBJ_PAGE:
            formatter = page_flags
        if formatter is not None:
            rec["before_text"], rec["after_text"] = shown(before, formatter), shown(after, formatter)
        out.append(rec)
    return out


def write_json_lines(stream, result, names=None, **bound):
    """One JSON object per event (then the finding, if any) to `stream`, with `bound` ids on each."""
    log = structlog.wrap_logger(structlog.WriteLogger(stream),
                                processors=[structlog.processors.add_log_level,
                                            structlog.processors.JSONRenderer(sort_keys=True)]).bind(**bound)
    for rec in records(result, names):
        rec.pop("obj")
        log.info("op", **rec)
    if result.finding is not None:
        log.error("finding", **result.finding.to_json())
