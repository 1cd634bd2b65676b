"""Charts drawn on the server as inline SVG: the dashboard needs no script and no outside asset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

Number = float | Decimal | int


@dataclass(frozen=True)
class Point:
    label: str
    value: Number | None


def _scale(lo: float, hi: float, size: float, pad: float) -> tuple[float, float]:
    span = hi - lo or 1.0
    return (size - 2 * pad) / span, lo


def _path(points: Sequence[tuple[float, float | None]]) -> str:
    """An SVG path that lifts the pen over missing values."""
    out: list[str] = []
    pen_down = False
    for x, y in points:
        if y is None:
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return " ".join(out)


def sparkline(values: Sequence[Number | None], *, width: int = 120, height: int = 32,
              label: str = "") -> str:
    """A small trend line; gaps where a month has no index."""
    present = [float(v) for v in values if v is not None]
    if len(present) < 2:
        return (f'<svg class="spark empty" width="{width}" height="{height}" role="img" '
                f'aria-label="{escape(label)}: not enough data"></svg>')
    lo, hi = min(present), max(present)
    ky, base = _scale(lo, hi, height, 3)
    step = (width - 4) / max(len(values) - 1, 1)
    pts = [(2 + i * step, None if v is None else height - 3 - (float(v) - base) * ky)
           for i, v in enumerate(values)]
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
            f' role="img" aria-label="{escape(label)}">'
            f'<path class="line" d="{_path(pts)}" fill="none" stroke="currentColor" '
            f'stroke-width="1.5"/></svg>')


def line_chart(points: Sequence[Point], *, width: int = 760, height: int = 260,
               reference: float | None = 100.0, label: str = "") -> str:
    """The city index over time with a reference line at 100 and yearly ticks."""
    values = [float(p.value) for p in points if p.value is not None]
    if len(values) < 2:
        return f'<p class="empty">{escape(label)}: no published index yet.</p>'
    lo = min([*values, reference] if reference is not None else values)
    hi = max([*values, reference] if reference is not None else values)
    lo, hi = lo - (hi - lo) * 0.08, hi + (hi - lo) * 0.08
    left, right, top, bottom = 44, 10, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)

    def y_of(v: float) -> float:
        return top + plot_h - (v - lo) / ((hi - lo) or 1) * plot_h

    pts = [(left + i * step, None if p.value is None else y_of(float(p.value)))
           for i, p in enumerate(points)]
    parts = [f'<svg class="chart" width="100%" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(label)}">']
    for frac in (0, 0.25, 0.5, 0.75, 1):
        v = lo + (hi - lo) * frac
        y = y_of(v)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="axis" x="{left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{v:.0f}</text>')
    if reference is not None:
        y = y_of(reference)
        parts.append(f'<line class="ref" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/>')
    for i, p in enumerate(points):
        if p.label.endswith("-01"):
            x = left + i * step
            parts.append(f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" '
                         f'y2="{top + plot_h}"/><text class="axis" x="{x + 3:.1f}" '
                         f'y="{height - 8}">{escape(p.label[:4])}</text>')
    parts.append(f'<path class="line" d="{_path(pts)}" fill="none" stroke-width="2"/>')
    last = next(((x, y, p) for (x, y), p in zip(reversed(pts), reversed(points), strict=True)
                 if y is not None), None)
    if last is not None:
        x, y, p = last
        parts.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"><title>'
                     f'{escape(p.label)}: {float(p.value or 0):.2f}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(items: Sequence[tuple[str, Number]], *, width: int = 460, row: int = 22,
              label: str = "") -> str:
    """Signed horizontal bars (contributions to the month's change), largest first."""
    if not items:
        return f'<p class="empty">{escape(label)}: no change to explain this month.</p>'
    biggest = max(abs(float(v)) for _, v in items) or 1.0
    label_w, value_w = 150, 64
    half = (width - label_w - value_w) / 2
    zero = label_w + half
    height = row * len(items) + 4
    parts = [f'<svg class="bars" width="100%" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(label)}"><line class="zero" x1="{zero}" x2="{zero}" y1="0" '
             f'y2="{height}"/>']
    for i, (name, value) in enumerate(items):
        v = float(value)
        w = abs(v) / biggest * (half - 4)
        x = zero if v >= 0 else zero - w
        y = 2 + i * row
        cls = "up" if v >= 0 else "down"
        parts.append(
            f'<text class="axis" x="{label_w - 6}" y="{y + row * 0.65:.1f}" text-anchor="end">'
            f'{escape(name)}</text><rect class="bar {cls}" x="{x:.1f}" y="{y + 3}" '
            f'width="{max(w, 0.5):.1f}" height="{row - 8}"><title>{escape(name)}: {v:+.2f}'
            f'</title></rect><text class="axis" x="{width - 4}" y="{y + row * 0.65:.1f}" '
            f'text-anchor="end">{v:+.2f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
