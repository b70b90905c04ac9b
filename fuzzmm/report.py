"""What a person reads: progress lines, the end-of-campaign table, the swimlane of a run."""
import sys

from fuzzmm import _core


def print_event(event):
    """Text rendering of a campaign event: findings as they come, progress on stderr."""
    if event["event"] == "finding":
        print(f"[{event['first_found_s']:7.2f}s] {event['variant']}: {event['signature']} "
              f"({event['strategy']}) -> {event['corpus_file']}", flush=True)
    elif event["event"] == "progress":
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(event["findings_by_kind"].items())) or "none"
        line = (f"{event['elapsed_s']:7.1f}s  {event['runs']} runs  {event['runs_per_s']:.0f} runs/s  "
                f"findings: {kinds}")
        if sys.stderr.isatty():
            print("\r" + line, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def table(summary, variants):
    """Variant, findings by kind, time to the first of each."""
    if sys.stderr.isatty():
        print(file=sys.stderr)
    rows = [("variant", "kind", "count", "first found (s)")]
    for variant in variants:
        found = [f for f in summary["findings"] if f["variant"] == variant]
        if not found:
            rows.append((variant, "-", "0", "-"))
        kinds = {}
        for f in found:
            count, first = kinds.get(f["kind"], (0, f["first_found_s"]))
            kinds[f["kind"]] = (count + 1, min(first, f["first_found_s"]))
        for kind, (count, first) in sorted(kinds.items(), key=lambda kv: kv[1][1]):
            rows.append((variant, kind, str(count), f"{first:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{summary['runs']} runs in {summary['elapsed_s']} s ({summary['runs_per_s']} runs/s), "
                 f"seed {summary.get('seed')}")
    return "\n".join(lines)


def _op_name(op):
    names = _core.OP_NAMES
    return names[op] if 0 <= op < len(names) else f"op{op}"


def swimlane(result, scenario, width=30):
    """One row per operation, one column per task; the finding marked at its step."""
    events = result.events or []
    ntasks = scenario.ntasks
    header = ["seq".rjust(5)] + [f"task {t}".ljust(width) for t in range(ntasks)]
    lines = [" ".join(header), " ".join(["-" * 5] + ["-" * width] * ntasks)]
    for seq, task, op, obj, before, after, site in events:
        if task < 0:
            continue
        text = f"{_op_name(op)} {_obj(obj)} {before}->{after}"
        cells = [" " * width] * ntasks
        if task < ntasks:
            cells[task] = text[:width].ljust(width)
        lines.append(" ".join([str(seq).rjust(5)] + cells) + "  " + _core.site_label(site))
    finding = result.finding
    if finding is not None:
        where = f"task {finding.task}" if finding.task >= 0 else "quiescent check"
        lines.append(f"  !! {finding.kind} in {finding.function or '?'} ({where}, step {finding.step}): "
                     f"{finding.message}")
    return "\n".join(lines)


def _obj(obj):
    kind, index = obj >> 56, obj & ((1 << 56) - 1)
    return {1: f"page{index}", 2: f"@{index}", 3: f"vmstat{index}", 4: f"event{index}"}.get(kind, hex(obj))
