"""A small SVG line chart (latency against offered load), drawn without plotting libraries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = ["Series", "line_chart"]

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 200, 40, 60
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw))


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Sequence[Series],
    *,
    guide: tuple[float, str] | None = None,
    log_y: bool = False,
) -> str:
    """An SVG document; `guide` draws a horizontal reference line (value, label); `log_y`
    puts the y axis on a log scale (latencies span milliseconds to seconds)."""
    xs = [x for s in series for x, _ in s.points] or [0.0, 1.0]
    ys = [y for s in series for _, y in s.points if math.isfinite(y)] or [1.0]
    if guide is not None:
        ys.append(guide[0])
    x_step = _nice_step(max(xs))
    y_step = _nice_step(max(ys))
    x_max = math.ceil(max(xs) * 1.05 / x_step) * x_step
    y_max = math.ceil(max(ys) * 1.05 / y_step) * y_step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + plot_w * x / x_max

    y_min = 0.0
    if log_y:
        y_min = 10 ** math.floor(math.log10(max(min(ys), 1e-3)))
        y_max = 10 ** math.ceil(math.log10(max(ys)))

    def py(y: float) -> float:
        if log_y:
            span = math.log10(y_max) - math.log10(y_min)
            return TOP + plot_h * (1 - (math.log10(max(y, y_min)) - math.log10(y_min)) / span)
        return TOP + plot_h * (1 - y / y_max)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2 - RIGHT / 2}" y="22" text-anchor="middle" font-size="15">'
        f"{escape(title)}</text>",
    ]
    tick = 0.0
    while tick <= x_max + 1e-9:
        out.append(
            f'<line x1="{px(tick):.1f}" y1="{TOP}" x2="{px(tick):.1f}" '
            f'y2="{TOP + plot_h}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{px(tick):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{tick:g}</text>'
        )
        tick += x_step
    y_ticks: list[float] = []
    if log_y:
        decade = y_min
        while decade <= y_max * 1.0001:
            y_ticks += [decade * m for m in (1, 2, 5) if decade * m <= y_max * 1.0001]
            decade *= 10
    else:
        y_ticks = [i * y_step for i in range(round(y_max / y_step) + 1)]
    for tick in y_ticks:
        out.append(
            f'<line x1="{LEFT}" y1="{py(tick):.1f}" x2="{LEFT + plot_w}" '
            f'y2="{py(tick):.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{LEFT - 8}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>'
    )
    out.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text x="18" y="{TOP + plot_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 18 {TOP + plot_h / 2})">{escape(y_label)}</text>'
    )
    if guide is not None:
        value, label = guide
        out.append(
            f'<line x1="{LEFT}" y1="{py(value):.1f}" x2="{LEFT + plot_w}" '
            f'y2="{py(value):.1f}" stroke="#999" stroke-dasharray="2,4"/>'
        )
        out.append(
            f'<text x="{LEFT + 6}" y="{py(value) - 5:.1f}" fill="#666">{escape(label)}</text>'
        )
    for index, item in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = [(x, y) for x, y in item.points if math.isfinite(y)]
        dash = ' stroke-dasharray="6,4"' if item.dashed else ""
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        for x, y in points:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        legend_y = TOP + 14 + index * 20
        out.append(
            f'<line x1="{WIDTH - RIGHT + 14}" y1="{legend_y - 4}" x2="{WIDTH - RIGHT + 40}" '
            f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{WIDTH - RIGHT + 46}" y="{legend_y}">{escape(item.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
