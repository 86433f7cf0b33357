"""A self-contained HTML page that steps through one sequence: at each step
the input, every gate, the cell state and the hidden state of every layer,
and the model's prediction so far. Inline SVG and JavaScript only: the page
needs no network and no server."""

import html
import json

import numpy as np

from . import _core

_TITLES = {
    "i": "input gate i", "f": "forget gate f", "g": "cell candidate g", "o": "output gate o",
    "c": "cell state c", "h": "hidden state h",
    "r": "reset gate r", "z": "update gate z", "n": "new gate n",
}
# Every cell's gates, in the kernels' table order, then the states; a gate
# without a title above is shown by its name.
_ORDER = tuple(dict.fromkeys(name for cell in _core.CELLS.values()
                             for name in cell.gate_names)) + ("c", "h")
_TITLES = {name: _TITLES.get(name, f"gate {name}") for name in _ORDER}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>%(title)s</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
 h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 18px 0 6px; }
 .hint { color: #666; margin: 2px 0 14px; }
 #controls { display: flex; gap: 10px; align-items: center; }
 #step { width: 420px; } button { font-size: 16px; }
 .row { display: grid; grid-template-columns: 170px 1fr 90px; align-items: center; gap: 8px; }
 .name { text-align: right; } .value { font-variant-numeric: tabular-nums; color: #444; }
 svg.cells rect { stroke: #fff; stroke-width: 1; }
 .legend { color: #666; font-size: 12px; }
</style></head>
<body>
<h1>%(title)s</h1>
<p class="hint">%(subtitle)s</p>
<div id="controls">
 <button id="prev" title="previous step">&#9664;</button>
 <input type="range" id="step" min="0" max="%(last)d" value="0">
 <button id="next" title="next step">&#9654;</button>
 <span id="label"></span>
</div>
<p class="hint">Drag the slider or press the left/right arrow keys. Each square is one
unit; gates run from 0 (closed, dark) to 1 (open, bright); states are blue when negative,
red when positive. Hover a square for its value.</p>
<div id="panels"></div>
<h2>Prediction after each step</h2>
<svg id="timeline" width="900" height="160"></svg>
<script>
const DATA = %(data)s;
const GATES = new Set(["i", "f", "o", "r", "z"]);
function colour(name, v, scale) {
  if (GATES.has(name)) { return "hsl(" + (260 - 200 * v) + ",70%%," + (15 + 50 * v) + "%%)"; }
  const a = Math.max(-1, Math.min(1, v / scale));
  return a >= 0 ? "rgba(200,40,40," + a + ")" : "rgba(40,80,200," + (-a) + ")";
}
function row(parent, label, name, values, scale) {
  const div = document.createElement("div"); div.className = "row";
  const n = values.length, w = Math.min(24, Math.floor(760 / n));
  let cells = "";
  values.forEach((v, k) => { cells += '<rect x="' + k * w + '" y="0" width="' + w +
    '" height="22" fill="' + colour(name, v, scale) + '"><title>unit ' + k + ": " +
    v.toFixed(4) + "</title></rect>"; });
  const mean = values.reduce((a, b) => a + b, 0) / n;
  div.innerHTML = '<span class="name">' + label + '</span><svg class="cells" width="' +
    n * w + '" height="22">' + cells + '</svg><span class="value" data-name="' + name +
    '">mean ' + mean.toFixed(3) + "</span>";
  parent.appendChild(div);
}
function render(t) {
  const panels = document.getElementById("panels"); panels.innerHTML = "";
  document.getElementById("step").value = t;
  document.getElementById("label").textContent = "step " + t + " of " + (DATA.length - 1);
  const input = document.createElement("h2"); input.textContent = "Input"; panels.appendChild(input);
  row(panels, "x_t", "x", DATA.inputs[t], DATA.input_scale);
  DATA.layers.forEach((layer, l) => {
    const h = document.createElement("h2"); h.textContent = "Layer " + l; panels.appendChild(h);
    DATA.order.forEach(name => { if (name in layer) {
      row(panels, DATA.titles[name], name, layer[name][t], layer.scale[name]); } });
  });
  drawTimeline(t); location.hash = "step=" + t;
}
function drawTimeline(t) {
  const svg = document.getElementById("timeline"), p = DATA.prediction;
  if (!p) { svg.outerHTML = "<p class='hint'>(no running prediction for this model)</p>"; return; }
  const W = 880, H = 140, lo = Math.min(...p), hi = Math.max(...p), span = (hi - lo) || 1;
  const x = k => 10 + k * W / Math.max(1, p.length - 1), y = v => H - (v - lo) / span * (H - 20);
  let path = ""; p.forEach((v, k) => { path += (k ? "L" : "M") + x(k) + "," + y(v); });
  svg.innerHTML = '<path d="' + path + '" fill="none" stroke="#333" stroke-width="2"/>' +
    '<line x1="' + x(t) + '" x2="' + x(t) + '" y1="0" y2="' + H + '" stroke="#d33"/>' +
    '<circle cx="' + x(t) + '" cy="' + y(p[t]) + '" r="5" fill="#d33"/>' +
    '<text x="' + (x(t) + 8) + '" y="16" id="prediction">' + p[t].toFixed(4) + "</text>";
}
const slider = document.getElementById("step");
slider.addEventListener("input", () => render(+slider.value));
document.getElementById("prev").onclick = () => render(Math.max(0, +slider.value - 1));
document.getElementById("next").onclick = () => render(Math.min(DATA.length - 1, +slider.value + 1));
document.addEventListener("keydown", e => {
  if (e.key === "ArrowLeft") render(Math.max(0, +slider.value - 1));
  if (e.key === "ArrowRight") render(Math.min(DATA.length - 1, +slider.value + 1));
});
const m = /step=(\\d+)/.exec(location.hash);
render(m ? Math.min(DATA.length - 1, +m[1]) : 0);
</script>
</body></html>
"""


def _scale(array):
    finite = np.abs(array[np.isfinite(array)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def explain_html(estimator, x, path):
    """Write the step-through page for one sequence x; returns path."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    trace = estimator.inspect(x[None])
    length = int(trace.lengths[0]) if trace.lengths is not None else x.shape[0]
    layers = []
    for values in trace.layers:
        layer = {name: np.round(values[name][0, :length], 5).tolist()
                 for name in _ORDER if name in values}
        layer["scale"] = {name: _scale(values[name][0, :length]) for name in layer}
        layers.append(layer)
    prediction = None
    if not estimator.bidirectional and not hasattr(estimator, "classes_"):
        stream = estimator.stream()
        steps = [np.ravel(stream.step(x_t))[0] for x_t in x[:length]]
        prediction = [round(float(v), 5) for v in steps]
    data = {
        "length": length, "order": _ORDER, "titles": _TITLES, "layers": layers,
        "inputs": np.round(x[:length], 5).tolist(), "input_scale": _scale(x[:length]),
        "prediction": prediction,
    }
    name = type(estimator).__name__
    page = _PAGE % {
        "title": html.escape(f"{name} ({estimator.cell.upper()}): one sequence, step by step"),
        "subtitle": html.escape(f"{length} steps, {x.shape[1]} input feature(s), layers of "
                                f"{', '.join(str(h) for h in estimator._hidden_sizes())} units"),
        "last": length - 1,
        "data": json.dumps(data),
    }
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
