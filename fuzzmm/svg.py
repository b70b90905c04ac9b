"""A run's swimlane drawn as SVG: tasks are columns, steps are rows.

It shows what the text swimlane shows (fuzzmm.report.lane chooses the rows), drawn for a
page: the operations on the finding's object are highlighted, the finding's own row is
red, each switch of the run's schedule is a dashed line across the lanes at the first row
at or after its step, with an arrow into the task it gave the CPU to, and each cell's
tooltip says where in the program it ran.  The SVG is one self-contained element (no
script, no external font or style), so it can go inline in a page or stand alone as a file.
"""
from xml.sax.saxutils import escape

CHAR_W = 7.3          # width of a character of the 12 px monospace font, about
ROW_H = 20
HEAD_H = 54
STEP_W = 56
PAD = 8
MIN_LANE_W = 150
MAX_CELL_CHARS = 80
WHERE_CHARS = 48

STYLE = """
svg.fuzzmm-swimlane { fill: #000; stroke: none; }
svg.fuzzmm-swimlane text { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace;
  font-size: 12px; fill: #1d2330; stroke: none; }
svg.fuzzmm-swimlane .fz-head { font-weight: bold; }
svg.fuzzmm-swimlane .fz-sub { fill: #555; font-size: 11px; }
svg.fuzzmm-swimlane .fz-step { fill: #666; text-anchor: end; }
svg.fuzzmm-swimlane .fz-where { fill: #777; font-size: 11px; }
svg.fuzzmm-swimlane .fz-cell { fill: #eef2f7; }
svg.fuzzmm-swimlane .fz-focus { fill: #ffe58a; stroke: #c99a00; }
svg.fuzzmm-swimlane .fz-focus-text { font-weight: bold; }
svg.fuzzmm-swimlane .fz-finding { fill: #f8d0d0; stroke: #c0392b; }
svg.fuzzmm-swimlane .fz-finding-text { fill: #a01010; font-weight: bold; }
svg.fuzzmm-swimlane .fz-lane { stroke: #ccd; }
svg.fuzzmm-swimlane .fz-switch { stroke: #1f6feb; stroke-dasharray: 4 3; stroke-width: 1.5; }
svg.fuzzmm-swimlane .fz-switch-text { fill: #1f6feb; font-size: 11px; }
svg.fuzzmm-swimlane .fz-more { fill: #666; font-style: italic; }
svg.fuzzmm-swimlane .fz-foot-finding { fill: #a01010; }
"""


def _text_w(chars):
    return chars * CHAR_W


def swimlane_svg(result, scenario, names=None, everything=False, title=None):
    """The swimlane of `result` (a run of `scenario`) as an SVG document's text."""
    from fuzzmm.report import lane, finding_line, focus_note
    items, objects, label = lane(result, names, everything)
    finding = result.finding
    ntasks = scenario.ntasks
    longest = max([24] + [min(len(item[3]), MAX_CELL_CHARS) for item in items if item[0] == "row"])
    lane_w = max(MIN_LANE_W, _text_w(longest) + 2 * PAD)
    where_x = STEP_W + ntasks * lane_w + PAD
    width = where_x + _text_w(WHERE_CHARS)
    rows_y = HEAD_H + (18 if title else 0)
    body = []
    y = rows_y

    def lane_x(task):
        return STEP_W + task * lane_w

    switches = sorted(result.switches or ())
    pending = list(switches)
    for item in items:
        if item[0] == "row":
            step = item[1]
            landing = []
            while pending and pending[0][0] <= step:      # switches that land before this row
                landing.append(pending.pop(0))
            if landing:
                body.append(_switches(landing, y, lane_x, ntasks, lane_w))
        if item[0] == "more":
            body.append(f'<text class="fz-more" x="{STEP_W + PAD}" y="{y + 14}">'
                        f'({item[1]} more like this, {escape(item[2])})</text>')
            y += ROW_H
            continue
        _, step, task, text, where, mark = item
        shown = text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "\u2026"
        cls = {"focus": "fz-focus", "finding": "fz-finding"}.get(mark, "fz-cell")
        text_cls = {"focus": ' class="fz-focus-text"', "finding": ' class="fz-finding-text"'}.get(mark, "")
        body.append(f'<text class="fz-step" x="{STEP_W - PAD}" y="{y + 14}">{step}</text>')
        if 0 <= task < ntasks:
            x = lane_x(task)
            body.append(f'<g><title>{escape(f"step {step}, task {task}: {text} in {where}")}</title>'
                        f'<rect class="{cls}" x="{x + 3}" y="{y + 2}" width="{lane_w - 6}" '
                        f'height="{ROW_H - 4}" rx="3"/>'
                        f'<text{text_cls} x="{x + PAD}" y="{y + 14}">{escape(shown)}</text></g>')
        where_shown = where if len(where) <= WHERE_CHARS else where[:WHERE_CHARS - 1] + "\u2026"
        body.append(f'<text class="fz-where" x="{where_x}" y="{y + 14}">{escape(where_shown)}</text>')
        y += ROW_H
    if pending:                     # switches after the last row shown
        body.append(_switches(pending, y, lane_x, ntasks, lane_w))
    bottom = y
    y += 6
    foot = []
    if finding is not None:
        foot.append(("fz-foot-finding", finding_line(finding)))
    if objects is not None:
        foot.append(("fz-sub", focus_note(finding, label)))
    for cls, line in foot:
        for part in _wrap(line, int((width - 2 * PAD) / CHAR_W)):
            body.append(f'<text class="{cls}" x="{PAD}" y="{y + 14}">{escape(part)}</text>')
            y += 16
    height = y + PAD
    head = []
    if title:
        head.append(f'<text class="fz-head" x="{PAD}" y="16">{escape(title)}</text>')
    top = rows_y - HEAD_H
    head.append(f'<text class="fz-step fz-head" x="{STEP_W - PAD}" y="{top + 18}">step</text>')
    for task in range(ntasks):
        x = lane_x(task)
        ops = "; ".join(f"{name}({', '.join(map(repr, args))})" for name, args in scenario.tasks[task])
        max_chars = int((lane_w - 2 * PAD) / CHAR_W)
        ops = ops if len(ops) <= max_chars else ops[:max_chars - 1] + "\u2026"
        head.append(f'<text class="fz-head" x="{x + PAD}" y="{top + 18}">task {task}</text>')
        head.append(f'<text class="fz-sub" x="{x + PAD}" y="{top + 34}">{escape(ops)}</text>')
        head.append(f'<line class="fz-lane" x1="{x}" y1="{top + 4}" x2="{x}" y2="{bottom}"/>')
    head.append(f'<line class="fz-lane" x1="{lane_x(ntasks)}" y1="{top + 4}" x2="{lane_x(ntasks)}" y2="{bottom}"/>')
    head.append(f'<text class="fz-where fz-head" x="{where_x}" y="{top + 18}">where</text>')
    head.append(f'<line class="fz-lane" x1="{PAD}" y1="{rows_y - 2}" x2="{width - PAD}" y2="{rows_y - 2}"/>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="fuzzmm-swimlane" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
            f'<style>{STYLE}</style><rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#fff"/>'
            + "".join(head) + "".join(body) + "</svg>")


def _switches(switches, y, lane_x, ntasks, lane_w):
    """A dashed line across the lanes at `y` for the switches that land there, an arrow into
    each task given the CPU, and a label naming them."""
    marks, labels = [], []
    for step, task in switches:
        task = min(max(task, 0), ntasks - 1)
        x = lane_x(task) + lane_w / 2
        marks.append(f'<path d="M {x - 5} {y - 5} L {x} {y + 1} L {x + 5} {y - 5}" fill="#1f6feb"/>')
        labels.append(f"{step} \u2192 task {task}")
    tip = "; ".join(f"switch at step {s}: the CPU goes to task {t}" for s, t in switches)
    return (f'<g class="fz-switch-mark"><title>{escape(tip)}</title>'
            f'<line class="fz-switch" x1="{lane_x(0)}" y1="{y}" x2="{lane_x(ntasks)}" y2="{y}"/>' + "".join(marks)
            + f'<text class="fz-switch-text" x="{lane_x(ntasks) - 4}" y="{y - 3}" text-anchor="end">'
            f'{escape("switch " + ", ".join(labels))}</text></g>')


def _wrap(line, width):
    """`line` cut at spaces into pieces of at most `width` characters."""
    out, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        out.append(current)
    return out
