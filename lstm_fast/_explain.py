"""A self-contained HTML page that steps through one sequence: the model's
prediction after every step against the true target, the inputs, and at
each step every layer's gates, cell state and hidden state; optionally a
second model (say a plain RNN beside an LSTM) on the same sequence, side by
side. Inline SVG and JavaScript only: the page needs no network and no
server."""

import html
import json
import numbers

import numpy as np

from . import _core
from ._explain_svg import (GATE_PALETTE, SIGNED_PALETTE, StepAxis, chart_svg, gate_levels,
                           hex_colours, signed_levels, state_map_svg)

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
# Values in [0, 1]; everything else (states, the GRU's new gate n, the
# LSTM's candidate g) is signed.
_GATES = frozenset({"i", "f", "o", "r", "z"})
_LINE_COLOURS = ("#1f62b4", "#e8710a")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>%(title)s</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
 h1 { font-size: 20px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 18px 0 6px; }
 h3 { font-size: 15px; margin: 12px 0 4px; }
 #task { font-size: 15px; margin: 4px 0 6px; max-width: 900px; line-height: 1.4; }
 .hint { color: #666; margin: 2px 0 10px; }
 #controls { display: flex; gap: 10px; align-items: center; margin: 8px 0; }
 #step { width: 420px; } button { font-size: 16px; }
 #readout { font-variant-numeric: tabular-nums; margin: 4px 0; }
 .legend span { margin-right: 16px; white-space: nowrap; }
 .swatch { display: inline-block; width: 22px; height: 0; vertical-align: middle;
           margin-right: 4px; border-top: 3px solid; }
 .swatch.dashed { border-top: 2px dashed #111; } .swatch.band { height: 10px; border: 0;
           background: #fde9a8; }
 .value-label { paint-order: stroke; stroke: #fff; stroke-width: 3px; font-weight: 600; }
 #panels { display: grid; grid-template-columns: repeat(%(columns)d, 1fr); gap: 24px; }
 .row { display: grid; grid-template-columns: 120px auto 1fr; align-items: center; gap: 8px;
        margin: 1px 0; }
 .name { text-align: right; }
 .mean { font-variant-numeric: tabular-nums; color: #444; white-space: nowrap; }
 svg.cells rect { stroke: #b0b0b0; stroke-width: 0.5; }
 .key { display: inline-block; width: 90px; height: 10px; vertical-align: middle;
        border: 1px solid #b0b0b0; margin: 0 4px; }
 .key.gate { background: linear-gradient(to right, #440154, #21918c, #fde725); }
 .key.signed { background: linear-gradient(to right, #2166ac, #fff, #b2182b); }
</style></head>
<body>
<h1>%(title)s</h1>
<p id="task">%(task)s</p>
<p class="hint">%(subtitle)s</p>
<div id="controls">
 <button id="prev" title="previous step">&#9664;</button>
 <input type="range" id="step" min="0" max="%(last)d" value="0" aria-label="step">
 <button id="next" title="next step">&#9654;</button>
 <span id="label"></span>
</div>
<p class="hint">Drag the slider, press the left/right arrow keys, or click the chart.</p>
<h2>%(chart_title)s</h2>
<div class="legend">%(legend)s</div>
%(chart_note)s
<div id="readout"></div>
%(chart)s
%(maps)s
<h2>Inside the models at this step</h2>
<p class="hint">Each square is one unit; hover it for its value. Gates: 0 (closed)
<span class="key gate"></span> 1 (open). States: negative <span class="key signed"></span>
positive, white at 0.</p>
<div id="panels"></div>
<script>
const DATA = %(data)s;
function row(parent, label, name, values, colours) {
  const div = document.createElement("div"); div.className = "row";
  const n = values.length, w = Math.max(1, Math.min(18, Math.floor(DATA.cells_width / n)));
  let cells = "";
  values.forEach((v, k) => { cells += '<rect x="' + k * w + '" y="0" width="' + w +
    '" height="18" fill="' + colours[k] + '"><title>unit ' + k + ": " + v.toFixed(4) +
    "</title></rect>"; });
  const mean = values.reduce((a, b) => a + b, 0) / n;
  div.innerHTML = '<span class="name">' + label + '</span><svg class="cells" width="' +
    n * w + '" height="18">' + cells + '</svg><span class="mean" data-name="' + name +
    '">mean ' + mean.toFixed(3) + "</span>";
  parent.appendChild(div);
}
function render(t) {
  const slider = document.getElementById("step");
  slider.value = t;
  document.getElementById("label").textContent = "step " + t + " of " + (DATA.length - 1);
  document.querySelectorAll(".cursor").forEach(line => {
    line.setAttribute("x1", DATA.cursor.x[t]); line.setAttribute("x2", DATA.cursor.x[t]); });
  const read = [];
  DATA.lines.forEach((line, k) => {
    const [lx, ly, anchor, py] = DATA.cursor.labels[k][t];
    const name = line.name, value = line.prediction[t];
    const target = DATA.target === null ? null : Array.isArray(DATA.target) ? DATA.target[t]
      : DATA.target;
    const dot = document.getElementById("dot-" + k), text = document.getElementById("value-" + k);
    dot.setAttribute("cx", DATA.cursor.x[t]); dot.setAttribute("cy", py);
    text.setAttribute("x", lx); text.setAttribute("y", ly);
    text.setAttribute("text-anchor", anchor);
    text.textContent = name + " " + value.toFixed(3);
    const box = text.getBBox(), bg = document.getElementById("value-bg-" + k);
    bg.setAttribute("x", box.x - 2); bg.setAttribute("y", box.y);
    bg.setAttribute("width", box.width + 4); bg.setAttribute("height", box.height);
    read.push(name + " " + value.toFixed(3) +
              (target === null ? "" : " (off by " + Math.abs(value - target).toFixed(3) + ")"));
  });
  if (DATA.target !== null) {
    read.push("true target " + (Array.isArray(DATA.target) ? DATA.target[t] : DATA.target)
              .toFixed(3));
  }
  const inputs = DATA.feature_names.map((f, j) => f + " = " + DATA.inputs[t][j].toFixed(3));
  document.getElementById("readout").textContent = "After step " + t + ": " +
    (read.length ? read.join(", ") + ". " : "") + "Input at this step: " + inputs.join(", ") + ".";
  const panels = document.getElementById("panels"); panels.innerHTML = "";
  DATA.models.forEach(model => {
    const column = document.createElement("div"); panels.appendChild(column);
    const head = document.createElement("h3"); head.textContent = model.name;
    column.appendChild(head);
    model.layers.forEach((layer, l) => {
      if (model.layers.length > 1) {
        const h = document.createElement("div"); h.className = "hint";
        h.textContent = "layer " + l; column.appendChild(h);
      }
      DATA.order.forEach(name => { if (name in layer) {
        const palette = layer[name].gate ? DATA.palettes.gate : DATA.palettes.signed;
        row(column, DATA.titles[name], name, layer[name].v[t],
            layer[name].c[t].map(level => palette[level])); } });
    });
  });
  if (location.hash !== "#step=" + t) { history.replaceState(null, "", "#step=" + t); }
}
const slider = document.getElementById("step");
const current = () => +slider.value, last = DATA.length - 1;
slider.addEventListener("input", () => render(current()));
document.getElementById("prev").onclick = () => render(Math.max(0, current() - 1));
document.getElementById("next").onclick = () => render(Math.min(last, current() + 1));
document.addEventListener("keydown", e => {
  if (e.target === slider) { return; }  // the slider steps itself: once, not twice
  if (e.key === "ArrowLeft") render(Math.max(0, current() - 1));
  if (e.key === "ArrowRight") render(Math.min(last, current() + 1));
});
document.getElementById("chart").addEventListener("click", e => {
  const box = e.currentTarget.getBoundingClientRect(), x = e.clientX - box.left;
  const t = Math.round((x - DATA.cursor.x[0]) / DATA.step_width);
  render(Math.max(0, Math.min(last, t)));
});
const m = /step=(\\d+)/.exec(location.hash);
render(m ? Math.min(last, +m[1]) : 0);
</script>
</body></html>
"""


class OptionError(ValueError):
    """A keyword argument that does not fit the sequence; `option` names it
    (the command line reports it as its own flag)."""

    def __init__(self, option, message):
        super().__init__(message)
        self.option = option


def _scale(array):
    finite = np.abs(array[np.isfinite(array)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _check_fitted_like(estimator, other):
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(other, "inspect") or not hasattr(other, "stream"):
        raise ValueError(f"compare must be a fitted LSTMRegressor or LSTMClassifier, got "
                         f"{type(other).__name__}")
    check_is_fitted(other)
    if other.n_features_in_ != estimator.n_features_in_:
        raise ValueError(f"compare was fitted on {other.n_features_in_} features, this model on "
                         f"{estimator.n_features_in_}: both must read the same sequences")


def _trace(estimator, x):
    """Per layer {name: values (length, units)}, the real length, and the
    prediction after every step (None where the model has no running one)."""
    trace = estimator.inspect(x[None])
    length = int(trace.lengths[0]) if trace.lengths is not None else x.shape[0]
    layers = [{name: values[name][0, :length] for name in _ORDER if name in values}
              for values in trace.layers]
    prediction = None
    if not estimator.bidirectional and not hasattr(estimator, "classes_"):
        stream = estimator.stream()
        prediction = np.array([np.ravel(stream.step(x_t))[0] for x_t in x[:length]])
    return layers, length, prediction


def _layer_data(layer):
    """The per-step squares: values (3 decimals) and their colours, as
    levels of the gate palette ("gate": true) or the signed one."""
    out = {}
    for name, values in layer.items():
        gate = name in _GATES
        levels = gate_levels(values) if gate else signed_levels(values, _scale(values))
        # float64 first: a float32 rounded to 3 decimals prints with 17 digits
        out[name] = {"v": np.round(values.astype(float), 3).tolist(), "c": levels.tolist(),
                     "gate": gate}
    return out


def _target(y, estimator, length, n_timesteps):
    """y as one number or one per step (output="sequence"), or None."""
    if y is None:
        return None
    try:
        target = np.asarray(y, dtype=float)
    except (TypeError, ValueError):
        raise OptionError("y", f"y must be a number, got {y!r}") from None
    if target.size == 1:
        target = target.reshape(())
    elif target.ndim == 1 and estimator.output == "sequence" and target.size in (length,
                                                                                 n_timesteps):
        target = target[:length]
    else:
        per_step = (f" or ({n_timesteps},), one per step" if estimator.output == "sequence"
                    else "")
        raise OptionError("y", f"y must be this sequence's target: one number{per_step}; got "
                               f"shape {target.shape} (for several outputs, pass the first)")
    if not np.all(np.isfinite(target)):
        raise OptionError("y", f"y must be finite, got {y!r}")
    return target


def _feature_names(feature_names, n_features):
    if feature_names is None:
        return [f"x[{j}]" for j in range(n_features)]
    names = [str(name) for name in np.ravel(np.asarray(feature_names, dtype=object))]
    if len(names) != n_features:
        raise OptionError("feature_names", f"feature_names has {len(names)} name(s) for "
                                           f"{n_features} input feature(s)")
    return names


def _marks(marks, length):
    steps = [] if marks is None else [t.item() if isinstance(t, np.generic) else t
                                      for t in np.ravel(np.asarray(marks, dtype=object))]
    if not all(isinstance(t, numbers.Integral) and 0 <= t < length for t in steps):
        raise OptionError("marks", f"marks must be steps from 0 to {length - 1} (this "
                                   f"sequence's length less one), got {steps}")
    return sorted(set(steps))


def _task_sentence(names, lined, has_target, has_marks):
    """What the page shows and what to look for, when the caller did not say.
    `lined`: the names of the models that predict after every step."""
    marks = " at the marked steps" if has_marks else ""
    both = len(names) == 2
    subject = f"The {names[0]} and the {names[1]} read the same sequence" if both else \
        f"{names[0]} reads the sequence"
    if not lined or (both and len(lined) == 1):
        only = (f"; only the {lined[0]} predicts after every step" if lined else "")
        states = ("compare whose state keeps what it took in (the maps over the steps below "
                  "the chart)" if both else "watch which inputs change its gates and states")
        return f"{subject} one step at a time{only}. Step through it{marks} and {states}."
    target = " and compare it with the true target (dashed line)" if has_target else ""
    if not both:
        return (f"{subject} one step at a time and predicts after every step. Step through it: "
                f"watch how the prediction moves{marks}{target}, and which units of the state "
                f"below change with it.")
    target = (" ends nearer the true target (dashed line)" if has_target
              else " keeps what it read")
    return (f"{subject} one step at a time and each predicts after every step. Step through it "
            f"and compare: which prediction moves{marks or ' with the inputs'} and{target}, "
            f"and whose state keeps what it took in (the maps over the steps below the chart)?")


def _legend(lines, unlined, has_target, has_marks):
    legend = "".join(f'<span><i class="swatch" style="border-color:{colour}"></i>'
                     f'{html.escape(name)} prediction</span>' for name, colour, _ in lines)
    if has_target:
        legend += '<span><i class="swatch dashed"></i>true target</span>'
    if has_marks:
        legend += '<span><i class="swatch band"></i>marked step</span>'
    if unlined:
        legend += (f"<span>(no running prediction from the {' and the '.join(unlined)}: a "
                   f"classifier or a bidirectional model predicts from the whole "
                   f"sequence)</span>")
    return legend


def _state_maps(axis, names, traces):
    """Each model's cell state (LSTM) or hidden state over the steps, top layer."""
    maps = []
    for name, (layers, _, _) in zip(names, traces):
        state = "c" if "c" in layers[-1] else "h"
        words = "cell state c" if state == "c" else "hidden state h"
        layer = f"layer {len(layers) - 1}'s " if len(layers) > 1 else ""
        maps.append(f"<h3>{html.escape(name)}: {layer}{words} over the steps, one row per "
                    f"unit</h3>" + state_map_svg(axis, state, layers[-1][state],
                                                 _scale(layers[-1][state])))
    return "\n".join(maps)


def explain_html(estimator, x, path, *, y=None, compare=None, task=None, marks=None,
                 feature_names=None):
    """Write the step-through page for one sequence x; returns path.

    The estimator's own method documents the parameters
    (``LSTMRegressor.explain_html``).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    models = [estimator] if compare is None else [estimator, compare]
    if compare is not None:
        _check_fitted_like(estimator, compare)
    traces = [_trace(model, x) for model in models]
    length = traces[0][1]
    if y is not None and traces[0][2] is None:
        raise OptionError("y", "y is drawn against the prediction after every step, which "
                               "this model does not make (a classifier or a bidirectional "
                               "model predicts from the whole sequence): leave y out")
    target = _target(y, estimator, length, x.shape[0])
    feature_names = _feature_names(feature_names, x.shape[1])
    marks = _marks(marks, length)
    names = [model.cell.upper() for model in models]
    if len(names) == 2 and names[0] == names[1]:
        names = [f"{names[0]} (1)", f"{names[0]} (2)"]

    inputs = x[:length]
    axis = StepAxis(length)
    lines = [(name, colour, prediction.tolist())
             for name, colour, (_, _, prediction) in zip(names, _LINE_COLOURS, traces)
             if prediction is not None]
    y_title = "prediction (first output)" if estimator.n_outputs_ > 1 else "prediction"
    chart, cursor = chart_svg(axis, lines, target, inputs, feature_names, _scale(inputs), marks,
                              y_title)
    unlined = [name for name, (_, _, prediction) in zip(names, traces) if prediction is None]
    chart_note = ""
    if lines and estimator.output == "last":
        chart_note = ('<p class="hint">A model fitted with output="last" was trained to answer '
                      'after the last step; its line before that shows what it would answer if '
                      'the sequence ended there.</p>')
    data = {
        "length": length, "order": _ORDER, "titles": _TITLES,
        "models": [{"name": name, "layers": [_layer_data(layer) for layer in layers]}
                   for name, (layers, _, _) in zip(names, traces)],
        "lines": [{"name": name, "prediction": np.round(values, 5).tolist()}
                  for name, _, values in lines],
        "target": None if target is None else np.round(target, 5).tolist(),
        "inputs": np.round(inputs, 5).tolist(), "feature_names": feature_names,
        "cursor": cursor, "step_width": axis.width,
        "cells_width": 300 if compare is not None else 720,
        "palettes": {"gate": hex_colours(GATE_PALETTE), "signed": hex_colours(SIGNED_PALETTE)},
    }
    sizes = "; ".join(f"{name}: {len(model._hidden_sizes())} layer(s) of "
                      f"{', '.join(str(h) for h in model._hidden_sizes())} units"
                      for name, model in zip(names, models))
    title = (f"{names[0]} and {names[1]}" if compare is not None else
             f"{type(estimator).__name__} ({names[0]})") + ": one sequence, step by step"
    if task is None:
        task = _task_sentence(names, [name for name, _, _ in lines], target is not None,
                              bool(marks))
    page = _PAGE % {
        "title": html.escape(title), "task": html.escape(task),
        "subtitle": html.escape(f"{length} steps, {x.shape[1]} input feature(s); {sizes}"),
        "last": length - 1, "columns": len(models),
        "chart_title": "Prediction after each step, and the inputs" if lines else "The inputs",
        "legend": _legend(lines, unlined, target is not None, bool(marks)),
        "chart_note": chart_note, "chart": chart, "maps": _state_maps(axis, names, traces),
        "data": json.dumps(data, separators=(",", ":")),
    }
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
