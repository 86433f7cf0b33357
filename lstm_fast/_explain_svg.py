"""The drawings of the step-through page (lstm_fast._explain), as SVG text
built here rather than in the page's JavaScript, so that what they show
(axes, the true target, every model's line, where a value's label goes,
the colour of a zero) can be checked without a browser."""

import base64
import html
import math
import struct
import zlib

import numpy as np

# Chart geometry, in SVG pixels. The step axis is shared by the prediction
# chart, the input strips under it and the state maps below it, so that
# one step is one column everywhere.
WIDTH = 900
LEFT, RIGHT = 64, 16
TOP, PLOT_HEIGHT = 24, 220
STRIP_HEIGHT = 16
FONT = 12
LABEL_GAP = 15  # between the baselines of two values' labels
LABEL_PAD = 8  # between the cursor and a label

ZERO_STROKE = "#b0b0b0"  # outlines what a white (zero) cell is

# Gates (0 closed .. 1 open): viridis's ends and middle. States and inputs:
# blue (negative) .. white (0) .. red (positive). Each is a palette of
# LEVELS + 1 colours and one more, white, for a missing value: the page
# stores a cell's level, not its colour.
LEVELS = 64
_GATE_STOPS = ((0x44, 0x01, 0x54), (0x21, 0x91, 0x8c), (0xfd, 0xe7, 0x25))
_NEGATIVE, _WHITE, _POSITIVE = (0x21, 0x66, 0xac), (0xff, 0xff, 0xff), (0xb2, 0x18, 0x2b)
MISSING = LEVELS + 1


def _mix(a, b, t):
    return tuple(round(p + (q - p) * t) for p, q in zip(a, b))


def _palette(low, middle, high):
    half = LEVELS // 2
    rgb = ([_mix(low, middle, k / half) for k in range(half)]
           + [_mix(middle, high, k / half) for k in range(half + 1)] + [_WHITE])
    return np.array(rgb, dtype=np.uint8)


GATE_PALETTE = _palette(*_GATE_STOPS)
SIGNED_PALETTE = _palette(_NEGATIVE, _WHITE, _POSITIVE)


def hex_colours(palette):
    """The palette as CSS colours, "#rrggbb"."""
    return ["#%02x%02x%02x" % tuple(int(c) for c in rgb) for rgb in palette]


def gate_levels(values):
    """Palette levels of gate activations in [0, 1] (MISSING where not finite)."""
    values = np.asarray(values, dtype=float)
    levels = np.rint(np.clip(np.nan_to_num(values), 0, 1) * LEVELS).astype(int)
    return np.where(np.isfinite(values), levels, MISSING)


def signed_levels(values, scale):
    """Palette levels of signed values: LEVELS // 2 (white) at 0, the ends at ±scale."""
    values = np.asarray(values, dtype=float)
    a = np.clip(np.nan_to_num(values) / scale, -1, 1)
    levels = np.rint((a + 1) * (LEVELS // 2)).astype(int)
    return np.where(np.isfinite(values), levels, MISSING)


def gate_colour(v):
    """The colour of a gate's activation v in [0, 1]."""
    return hex_colours(GATE_PALETTE[[gate_levels(v)]])[0]


def signed_colour(v, scale):
    """The colour of a state or input value: white at 0, full colour at ±scale."""
    return hex_colours(SIGNED_PALETTE[[signed_levels(v, scale)]])[0]


def png_data_uri(rgb):
    """An (height, width, 3) uint8 image as a data: URI of a PNG file.

    The format's few lines are written here (zlib and a CRC from the
    standard library) so that the page needs neither Pillow nor matplotlib.
    """
    height, width, _ = rgb.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(rgb, np.uint8))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def nice_ticks(lo, hi, n=5, integer=False):
    """Round tick values covering [lo, hi]: (ticks, decimals to print)."""
    if not hi > lo:
        half = abs(lo) / 2 or 0.5
        lo, hi = lo - half, hi + half
    raw = (hi - lo) / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in (1, 2, 2.5, 5, 10) if s * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    ticks = [k * step for k in range(first, last + 1)]
    decimals = 0 if integer else max(0, -math.floor(math.log10(step) + 1e-9))
    if not integer and round(step * 10 ** decimals) != step * 10 ** decimals:
        decimals += 1  # 0.25, 2.5
    return ticks, decimals


def place_labels(x, ys, left=LEFT, right=WIDTH - RIGHT, top=TOP, bottom=TOP + PLOT_HEIGHT,
                 gap=LABEL_GAP, pad=LABEL_PAD, font=FONT):
    """Where the labels of the values at the cursor go, inside the plot.

    A label goes right of the cursor in the plot's left half and left of it
    (anchored at its end) in the right half, so that neither the first nor
    the last step pushes it out of the chart; vertically it sits at its
    point (just above it), moved apart from the other labels and kept
    between top and bottom.

    Parameters
    ----------
    x : float
        The cursor's x.
    ys : sequence of float
        Each value's point's y (SVG: down is larger).

    Returns
    -------
    list of (float, float, str)
        Per value, in the order of `ys`: the label's x, its baseline's y and
        its SVG text-anchor ("start" or "end").
    """
    anchor = "start" if x <= (left + right) / 2 else "end"
    lx = x + pad if anchor == "start" else x - pad
    highest, lowest = top + font, bottom - 3  # baselines that keep the text inside
    order = sorted(range(len(ys)), key=lambda k: ys[k])
    baselines = []
    for k in order:
        want = min(max(ys[k] - 5, highest), lowest)  # just above the point
        baselines.append(max(want, baselines[-1] + gap) if baselines else want)
    overflow = baselines[-1] - lowest if baselines else 0
    if overflow > 0:  # pushed past the bottom: move the stack up, no higher than the top
        baselines = [max(highest, b - overflow) for b in baselines]
    placed = dict(zip(order, baselines))
    return [(round(lx, 1), round(placed[k], 1), anchor) for k in range(len(ys))]


class StepAxis:
    """Step t's column: [left(t), left(t) + width), centred at centre(t)."""

    def __init__(self, n_steps):
        self.n_steps = n_steps
        self.width = (WIDTH - LEFT - RIGHT) / n_steps

    def left(self, t):
        return LEFT + t * self.width

    def centre(self, t):
        return LEFT + (t + 0.5) * self.width


def _path(xs, ys):
    """An SVG path through the finite points; a non-finite one breaks it."""
    d, pen = [], False
    for x, y in zip(xs, ys):
        if not math.isfinite(y):
            pen = False
            continue
        d.append(f"{'L' if pen else 'M'}{x:.1f},{y:.1f}")
        pen = True
    return "".join(d)


def _cells(axis, row_top, height, colours, titles, outline):
    """One row of step cells; each outlined where cells are wide enough to
    show an outline, else the row gets one frame."""
    stroke = f' stroke="{ZERO_STROKE}" stroke-width="0.5"' if outline else ""
    return "".join(
        f'<rect x="{axis.left(t):.1f}" y="{row_top:.1f}" width="{axis.width:.2f}" '
        f'height="{height}" fill="{colour}"{stroke}><title>{title}</title></rect>'
        for t, (colour, title) in enumerate(zip(colours, titles)))


def chart_svg(axis, lines, target, inputs, feature_names, input_scale, marks, y_title):
    """The prediction chart over the steps with the inputs under it.

    Parameters
    ----------
    axis : StepAxis
    lines : list of (name, colour, values)
        Each model's prediction after every step.
    target : None, float or ndarray of shape (n_steps,)
        The true target, drawn dashed.
    inputs : ndarray of shape (n_steps, n_features)
    feature_names : list of str
    input_scale : float
    marks : list of int
        Steps to highlight.
    y_title : str

    Returns
    -------
    svg : str
    cursor : dict
        ``x``: the cursor's x at every step; ``labels``: per line, per
        step, ``[label x, label y, text-anchor, point y]``.
    """
    plot_height = PLOT_HEIGHT if lines else 0  # nothing to plot: the inputs alone
    bottom = TOP + plot_height
    values = [v for _, _, vs in lines for v in vs]
    if target is not None:
        values += list(np.ravel(target))
    finite = [v for v in values if math.isfinite(v)] or [0.0]
    lo, hi = min(finite), max(finite)
    pad = 0.08 * (hi - lo)
    y_ticks, y_decimals = nice_ticks(lo - pad, hi + pad)
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    def y_of(v):
        return bottom - (v - y_lo) / (y_hi - y_lo) * plot_height

    strips_top = bottom + 38
    height = strips_top + STRIP_HEIGHT * inputs.shape[1] + 6
    out = [f'<svg id="chart" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-size="{FONT}">']
    right = WIDTH - RIGHT
    for t in marks:  # behind everything else
        x = min(max(axis.centre(t), LEFT + 20), right - 20)  # the word inside the chart
        out.append(f'<rect class="mark" x="{axis.left(t):.1f}" y="{TOP}" '
                   f'width="{axis.width:.2f}" height="{height - TOP - 4}" fill="#fde9a8"/>'
                   f'<text x="{x:.1f}" y="{TOP - 6}" text-anchor="middle" '
                   f'font-size="10" fill="#8a6d00">marked</text>')
    # axes: grid, ticks, titles
    out.append('<g id="y-axis">' if lines else '<g id="y-axis" display="none">')
    for v in y_ticks:
        y = y_of(v)
        out.append(f'<line x1="{LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#444">'
                   f'{v:.{y_decimals}f}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}" stroke="#444"/>'
               f'<text x="14" y="{(TOP + bottom) / 2:.1f}" text-anchor="middle" fill="#222" '
               f'transform="rotate(-90 14 {(TOP + bottom) / 2:.1f})">'
               f'{html.escape(y_title)}</text></g>')
    x_ticks, _ = nice_ticks(0, axis.n_steps - 1, n=10, integer=True)
    out.append('<g id="x-axis">'
               f'<line x1="{LEFT}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#444"/>')
    for t in x_ticks:
        if t <= axis.n_steps - 1:
            x = axis.centre(t)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 5}" '
                       f'stroke="#444"/><text x="{x:.1f}" y="{bottom + 18}" '
                       f'text-anchor="middle" fill="#444">{t}</text>')
    out.append(f'<text x="{(LEFT + right) / 2:.1f}" y="{bottom + 33}" text-anchor="middle" '
               f'fill="#222">step</text></g>')
    # the true target, then each model's line
    xs = [axis.centre(t) for t in range(axis.n_steps)]
    if target is not None:
        ys = [y_of(v) for v in np.broadcast_to(target, (axis.n_steps,))]
        out.append(f'<path id="target" d="{_path(xs, ys)}" fill="none" stroke="#111" '
                   f'stroke-width="1.5" stroke-dasharray="6 4"/>')
    for k, (name, colour, vs) in enumerate(lines):
        out.append(f'<path id="line-{k}" data-name="{html.escape(name)}" '
                   f'd="{_path(xs, [y_of(v) for v in vs])}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"/>')
    # the inputs, one strip per feature
    outline = axis.width >= 4
    for j, name in enumerate(feature_names):
        row_top = strips_top + j * STRIP_HEIGHT
        column = inputs[:, j]
        out.append(f'<g class="input-strip" data-feature="{html.escape(name)}">'
                   f'<text x="{LEFT - 6}" y="{row_top + STRIP_HEIGHT - 4}" text-anchor="end" '
                   f'fill="#222">{html.escape(name)}</text>')
        out.append(_cells(axis, row_top, STRIP_HEIGHT - 2,
                          hex_colours(SIGNED_PALETTE[signed_levels(column, input_scale)]),
                          [f"step {t}: {html.escape(name)} = {v:.4g}"
                           for t, v in enumerate(column)], outline))
        if not outline:
            out.append(f'<rect x="{LEFT}" y="{row_top}" width="{right - LEFT}" '
                       f'height="{STRIP_HEIGHT - 2}" fill="none" stroke="{ZERO_STROKE}"/>')
        out.append("</g>")
    # the cursor: JavaScript moves it to the step shown, from `cursor` below
    labels = [[] for _ in lines]
    for t in range(axis.n_steps):
        points = [y_of(vs[t]) if math.isfinite(vs[t]) else bottom for _, _, vs in lines]
        for k, (lx, ly, anchor) in enumerate(place_labels(xs[t], points)):
            labels[k].append([lx, ly, anchor, round(points[k], 1)])
    out.append(f'<line class="cursor" x1="{xs[0]:.1f}" x2="{xs[0]:.1f}" y1="{TOP}" '
               f'y2="{height - 4}" stroke="#d33" stroke-width="1.5" pointer-events="none"/>')
    for k, (name, colour, vs) in enumerate(lines):
        lx, ly, anchor, py = labels[k][0]
        # the label's white box is sized by the page's script, which knows its text's width
        out.append(f'<g pointer-events="none"><circle id="dot-{k}" cx="{xs[0]:.1f}" '
                   f'cy="{py}" r="4.5" fill="{colour}" stroke="#fff"/>'
                   f'<rect id="value-bg-{k}" fill="#fff" fill-opacity="0.85" width="0" '
                   f'height="0"/><text id="value-{k}" class="value-label" x="{lx}" y="{ly}" '
                   f'text-anchor="{anchor}" fill="{colour}">{html.escape(name)} {vs[0]:.3f}'
                   f'</text></g>')
    out.append("</svg>")
    return "".join(out), {"x": [round(x, 1) for x in xs], "labels": labels}


def state_map_svg(axis, name, values, scale):
    """One state over the steps: a row per unit, a column per step.

    Drawn as an image (one pixel per unit and step, stretched to the step
    axis): a long sequence of a wide layer would be too many SVG shapes.

    Parameters
    ----------
    axis : StepAxis
    name : str
        Shown left of the map (short: the heading above it says the rest).
    values : ndarray of shape (n_steps, n_units)
    scale : float
        The absolute value drawn in full colour.
    """
    n_units = values.shape[1]
    row = max(1, min(6, 160 // n_units))
    height = row * n_units + 2
    width = WIDTH - RIGHT - LEFT
    image = SIGNED_PALETTE[signed_levels(values.T, scale)]
    return (f'<svg class="state-map" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-size="{FONT}">'
            f'<text x="{LEFT - 6}" y="{height / 2 + 4:.1f}" text-anchor="end" fill="#222">'
            f'{html.escape(name)}</text>'
            f'<image x="{LEFT}" y="1" width="{width}" height="{row * n_units}" '
            f'preserveAspectRatio="none" style="image-rendering: pixelated" '
            f'href="{png_data_uri(image)}"><title>{html.escape(name)}: a row per unit, a '
            f'column per step</title></image>'
            f'<rect x="{LEFT}" y="1" width="{width}" height="{row * n_units}" fill="none" '
            f'stroke="{ZERO_STROKE}"/>'
            f'<line class="cursor" x1="{axis.centre(0):.1f}" x2="{axis.centre(0):.1f}" '
            f'y1="0" y2="{height}" stroke="#d33" stroke-width="1.5" '
            f'pointer-events="none"/></svg>')
