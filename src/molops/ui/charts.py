"""Small line charts as inline SVG: no plotting library on the request path, a few kB per chart,
and each point carries a ``<title>`` tooltip with its exact value."""

from __future__ import annotations

import html
from collections.abc import Sequence

_W, _H, _PAD_L, _PAD_B, _PAD_T, _PAD_R = 560, 240, 56, 36, 14, 14


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    if hi == lo:
        return [lo]
    return [lo + (hi - lo) * i / n for i in range(n + 1)]


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[float, float | None]]]],
    *,
    x_label: str,
    y_label: str,
    title: str,
    hline: float | None = None,
) -> str:
    """One or more named series of (x, y) points (a None y is a gap) as an ``<svg>`` element."""
    points = [(x, y) for _, pts in series for x, y in pts if y is not None]
    if not points:
        return f'<p class="empty">{html.escape(title)}: nothing to plot yet.</p>'
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if hline is not None:
        ys.append(hline)
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    width, height = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def px(x: float) -> float:
        return _PAD_L + (x - x0) / (x1 - x0) * width

    def py(y: float) -> float:
        return _PAD_T + (1 - (y - y0) / (y1 - y0)) * height

    left, right, bottom = _PAD_L, _PAD_L + width, _PAD_T + height

    def line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
        return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="{cls}"/>'

    def text(x: float, y: float, cls: str, anchor: str, body: str, extra: str = "") -> str:
        return f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}"{extra}>{body}</text>'

    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{html.escape(title)}">',
        f"<title>{html.escape(title)}</title>",
        line(left, bottom, right, bottom, "axis"),
        line(left, _PAD_T, left, bottom, "axis"),
    ]
    parts += [text(left - 6, py(t) + 4, "tick", "end", f"{t:.3g}") for t in _ticks(y0, y1)]
    x_ticks = sorted(set(xs)) if len(set(xs)) <= 12 else _ticks(x0, x1, 6)
    parts += [text(px(t), bottom + 16, "tick", "middle", f"{t:g}") for t in x_ticks]
    parts.append(text(left + width / 2, _H - 4, "label", "middle", html.escape(x_label)))
    middle = _PAD_T + height / 2
    parts.append(
        text(12, middle, "label", "middle", html.escape(y_label), f' transform="rotate(-90 12 {middle})"')
    )
    if hline is not None:
        parts.append(line(left, py(hline), right, py(hline), "hline"))
    for k, (name, pts) in enumerate(series):
        shown = [(x, y) for x, y in pts if y is not None]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in shown)
        parts.append(f'<polyline points="{path}" class="series s{k % 4}"/>')
        for x, y in shown:
            label = html.escape(f"{name}: {x:g} → {y:.4g}")
            dot = f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" class="s{k % 4}">'
            parts.append(f"{dot}<title>{label}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)
