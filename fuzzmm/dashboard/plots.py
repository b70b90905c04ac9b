"""Line charts as inline SVG, drawn on the server: coverage pairs and runs/s over time, per job.

Each job's series is [[seconds since its start, runs, pairs], ...] as fuzzmm.publish keeps
it.  The charts need no script and no library: a page, live or static, shows them as they are.
"""
import math
from xml.sax.saxutils import escape

from fuzzmm.publish import SAMPLE_S

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22")
WIDTH, HEIGHT = 520, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 32


def coverage_lines(jobs):
    """(label, [(seconds, pairs), ...]) per job."""
    return [(_label(job), [(t, pairs) for t, _, pairs in job.get("series") or ()]) for job in jobs]


def rate_lines(jobs, min_interval=SAMPLE_S):
    """(label, [(seconds, runs per second over the interval before), ...]) per job.

    Each rate spans at least `min_interval`, the sampling period: a sample sooner after the one
    before, as a job's last is (taken when it ends, maybe a hundredth of a second after the one
    before), is merged into the interval before it, so a few runs over a tiny interval do not
    show as a spike."""
    return [(_label(job), _rates(job.get("series") or (), min_interval)) for job in jobs]


def _rates(series, min_interval):
    """[(seconds, runs per second), ...] of one job's series, over intervals of at least
    `min_interval` (a series shorter than that: the mean since the job's start)."""
    if not series:
        return []
    points, begins = [], []         # each point's rate, and the (seconds, runs) it counts from
    t0, r0 = series[0][0], series[0][1]
    for t1, r1, _ in series[1:]:
        if t1 - t0 >= min_interval:
            points.append((t1, (r1 - r0) / (t1 - t0)))
            begins.append((t0, r0))
            t0, r0 = t1, r1
    last_t, last_r = series[-1][0], series[-1][1]
    if last_t > t0:                 # samples left over, too soon after the last point
        if points:
            t0, r0 = begins[-1]
            points[-1] = (last_t, (last_r - r0) / (last_t - t0))
        else:
            points.append((last_t, last_r / last_t))
    return points


def _label(job):
    return f"{job.get('machine', '?')}: {job.get('name', '?')}"


def _ticks(top):
    """(step, highest) of a y axis over 0..top: a round step (1, 2 or 5 times a power of ten)
    that takes at most five steps to reach `top`."""
    if top <= 0:
        return 0.25, 1
    rough = top / 5
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    return step, step * math.ceil(top / step)


def _fmt(value):
    return f"{value / 1000:g}k" if value >= 10000 else f"{value:g}"


def line_chart(lines, title, y_label, chart_id):
    """An SVG line chart of `lines` [(label, [(x, y), ...]), ...], x in seconds."""
    xs = [x for _, points in lines for x, _ in points]
    ys = [y for _, points in lines for _, y in points]
    x_max = max(xs, default=0) or 1
    y_step, y_max = _ticks(max(ys, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x):
        return LEFT + plot_w * x / x_max

    def py(y):
        return TOP + plot_h * (1 - y / y_max)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" width="{WIDTH}" '
             f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafbfc" stroke="#ccd"/>']
    for i in range(round(y_max / y_step) + 1):
        value = y_step * i
        y = py(value)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e4e7ec"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
                     f'{_fmt(value)}</text>')
    for i in range(5):
        value = x_max * i / 4
        parts.append(f'<text x="{px(value):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11" '
                     f'fill="#555">{value:.0f}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 4}" text-anchor="middle" font-size="11" fill="#333">'
                 f'seconds since the job started</text>')
    parts.append(f'<text x="12" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="11" fill="#333" '
                 f'transform="rotate(-90 12 {TOP + plot_h / 2})">{escape(y_label)}</text>')
    for i, (label, points) in enumerate(lines):
        if not points:
            continue
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{'M' if j == 0 else 'L'} {px(x):.1f} {py(y):.1f}" for j, (x, y) in enumerate(points))
        parts.append(f'<g class="series"><title>{escape(label)}</title>'
                     f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        x, y = points[-1]
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/></g>')
    if not xs:
        parts.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" font-size="12" '
                     f'fill="#777">no samples yet</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend(jobs):
    """(color, label) per job, in the charts' order."""
    return [(PALETTE[i % len(PALETTE)], _label(job)) for i, job in enumerate(jobs)]
