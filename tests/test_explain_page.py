"""The interactive step-through page (est.explain_html, lstm-fast explain).

Without a browser: what the page shows is checked in its HTML (the sentence
at the top, the chart's axes and true target, the compared model's line and
state map, the colour of a zero input, where the values' labels go). With
headless Chromium (.ci/run installs Debian's; those tests skip without it):
it renders, its step control changes what it shows, the labels stay inside
the chart at the first and the last step, and its console stays clean.
"""

import json
import pathlib
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

from lstm_fast import LSTMClassifier, LSTMRegressor
from lstm_fast import _explain_svg as svg
from lstm_fast.datasets import make_adding_problem

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs Debian's)")
DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "layers.md"


def fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached: a few epochs are enough here
        return est.fit(X, y)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """Two layers, a sequence of 7 real steps padded to 9."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 9, 2))
    est = fit(LSTMRegressor((6, 4), max_iter=2, random_state=0), X, X.sum(axis=(1, 2)))
    x = X[0].copy()
    x[7:] = np.nan
    return est.explain_html(x, str(tmp_path_factory.mktemp("page") / "explain.html"))


@pytest.fixture(scope="module")
def adding(tmp_path_factory):
    """An LSTM and an RNN on the adding problem, side by side."""
    X, y = make_adding_problem(300, 12, random_state=0)
    lstm, rnn = (fit(LSTMRegressor((8,), cell=cell, max_iter=3, random_state=0), X, y)
                 for cell in ("lstm", "rnn"))
    x = X[5]
    marks = np.flatnonzero(x[:, 1])
    path = lstm.explain_html(x, str(tmp_path_factory.mktemp("adding") / "explain.html"),
                             y=y[5], compare=rnn, marks=marks, feature_names=["value", "marker"])
    return {"path": path, "lstm": lstm, "rnn": rnn, "x": x, "y": y[5], "marks": marks,
            "text": open(path, encoding="utf-8").read()}


def page_data(text):
    return json.loads(re.search(r"const DATA = (\{.*?\});\n", text).group(1))


def chart_of(text):
    return re.search(r'<svg id="chart".*?</svg>', text, flags=re.S).group(0)


# ------------------------------------------------------------ the content


def test_page_is_self_contained(page):
    text = open(page, encoding="utf-8").read()
    assert "<script src" not in text and "http://" not in text and "https://" not in text
    assert page_data(text)["length"] == 7  # padding steps are not shown


def test_the_sentence_at_the_top_says_what_to_look_for(adding, page, tmp_path):
    sentence = re.search(r'<p id="task">(.*?)</p>', adding["text"], flags=re.S).group(1)
    assert "The LSTM and the RNN read the same sequence" in sentence
    assert "marked steps" in sentence and "true target (dashed line)" in sentence
    alone = re.search(r'<p id="task">(.*?)</p>', open(page).read(), flags=re.S).group(1)
    assert alone.startswith("LSTM reads the sequence one step at a time and predicts")
    # the caller's own sentence, as text
    task = "Sum of the <two> marked values & what to look for."
    path = adding["lstm"].explain_html(adding["x"], str(tmp_path / "p.html"), task=task)
    assert ('<p id="task">Sum of the &lt;two&gt; marked values &amp; what to look for.</p>'
            in open(path).read())


def test_the_chart_has_axes_and_shows_the_true_target(adding):
    chart = chart_of(adding["text"])
    # y axis: tick values at evenly spaced heights; fit value -> height from them
    ticks = re.findall(r'<line x1="64" x2="884" y1="([\d.]+)"[^>]*/><text x="58" y="[\d.]+" '
                       r'text-anchor="end" fill="#444">(-?[\d.]+)</text>', chart)
    heights, values = np.array(ticks, dtype=float).T
    assert len(ticks) >= 3 and np.allclose(np.diff(heights), heights[1] - heights[0], atol=0.2)
    slope, offset = np.polyfit(values, heights, 1)
    assert ">prediction</text>" in chart and ">step</text>" in chart
    x_ticks = re.findall(r'text-anchor="middle" fill="#444">(\d+)</text>', chart)
    assert x_ticks[0] == "0" and int(x_ticks[-1]) <= 11
    # the dashed target line is at the target's height, on the same scale as the ticks
    target = re.search(r'<path id="target" d="([^"]+)"[^>]*stroke-dasharray', chart).group(1)
    ys = [float(y) for y in re.findall(r"[ML][\d.]+,([\d.]+)", target)]
    assert np.allclose(ys, slope * adding["y"] + offset, atol=0.6)
    # and each model's line goes through its prediction after every step
    for k, model in enumerate((adding["lstm"], adding["rnn"])):
        stream = model.stream()
        expected = [float(np.ravel(stream.step(x_t))[0]) for x_t in adding["x"]]
        line = re.search(rf'<path id="line-{k}" data-name="(\w+)" d="([^"]+)"', chart)
        assert line.group(1) == model.cell.upper()
        drawn = (np.array(re.findall(r"[ML][\d.]+,([\d.]+)", line.group(2)), dtype=float)
                 - offset) / slope
        assert np.allclose(drawn, expected, atol=0.02)


def test_the_rnn_is_shown_beside_the_lstm(adding):
    text, data = adding["text"], page_data(adding["text"])
    assert "<title>LSTM and RNN: one sequence, step by step</title>" in text
    assert [m["name"] for m in data["models"]] == ["LSTM", "RNN"]
    assert [line["name"] for line in data["lines"]] == ["LSTM", "RNN"]
    assert sorted(data["models"][0]["layers"][0]) == ["c", "f", "g", "h", "i", "o"]
    assert sorted(data["models"][1]["layers"][0]) == ["h"]
    # each one's state over the steps: the LSTM's cell state, the RNN's hidden state
    assert "<h3>LSTM: cell state c over the steps" in text
    assert "<h3>RNN: hidden state h over the steps" in text
    assert text.count('<svg class="state-map"') == 2
    assert "grid-template-columns: repeat(2, 1fr)" in text  # the step panels side by side
    # the readout names both and how far each is from the target
    assert '" (off by "' in text


def test_the_state_maps_show_each_unit_at_every_step(adding):
    import base64
    import io

    from matplotlib.image import imread

    maps = re.findall(r'<svg class="state-map".*?href="data:image/png;base64,([^"]+)"',
                      adding["text"], flags=re.S)
    assert len(maps) == 2
    for encoded, model, state in zip(maps, (adding["lstm"], adding["rnn"]), ("c", "h")):
        values = model.inspect(adding["x"][None]).layers[0][state][0]  # (steps, units)
        image = np.rint(imread(io.BytesIO(base64.b64decode(encoded)), format="png") * 255)
        assert image.shape == (8, 12, 3)  # a row per unit, a column per step
        expected = svg.SIGNED_PALETTE[svg.signed_levels(values.T, np.abs(values).max())]
        np.testing.assert_array_equal(image, expected)


def test_the_marked_steps_and_the_inputs_are_drawn(adding):
    chart = chart_of(adding["text"])
    assert chart.count('class="mark"') == len(adding["marks"]) == 2
    strips = re.findall(r'<g class="input-strip" data-feature="(\w+)">(.*?)</g>', chart, re.S)
    assert [name for name, _ in strips] == ["value", "marker"]
    fills = re.findall(r'fill="(#[0-9a-f]{6})"', strips[1][1])
    assert len(fills) == 12
    marked = set(adding["marks"].tolist())
    for t, fill in enumerate(fills):
        assert (fill == "#ffffff") == (t not in marked)


def test_a_zero_input_is_visible(adding):
    """A zero is white: it must have an outline, not be white on white."""
    assert svg.signed_colour(0.0, 1.0) == "#ffffff"
    assert svg.ZERO_STROKE not in ("#ffffff", "#fff", "white")
    chart = chart_of(adding["text"])
    marker_strip = re.search(r'data-feature="marker">(.*?)</g>', chart, re.S).group(1)
    zeros = re.findall(r'<rect [^>]*fill="#ffffff"([^>]*)>', marker_strip)
    assert len(zeros) == 10 and all(f'stroke="{svg.ZERO_STROKE}"' in z for z in zeros)
    # too many steps for a cell outline each: the strip gets one frame instead
    axis = svg.StepAxis(1000)
    out, _ = svg.chart_svg(axis, [], None, np.zeros((1000, 1)), ["x"], 1.0, [], "prediction")
    assert f'fill="none" stroke="{svg.ZERO_STROKE}"' in out
    # the per-step squares have the same outline (the page's style)
    assert "svg.cells rect { stroke: #b0b0b0;" in adding["text"]


def test_colours_run_from_closed_to_open_and_negative_to_positive():
    assert svg.gate_colour(0.0) == "#440154" and svg.gate_colour(1.0) == "#fde725"
    assert svg.signed_colour(2.0, 2.0) == "#b2182b" and svg.signed_colour(-5, 2.0) == "#2166ac"
    assert svg.signed_colour(float("nan"), 1.0) == "#ffffff"


# ------------------------------------------------------ label placement


def test_labels_stay_inside_the_plot_at_the_first_and_last_step():
    right, bottom = svg.WIDTH - svg.RIGHT, svg.TOP + svg.PLOT_HEIGHT
    axis = svg.StepAxis(50)
    for t, anchor in ((0, "start"), (49, "end")):
        for lx, ly, got in svg.place_labels(axis.centre(t), [svg.TOP, bottom]):
            assert got == anchor
            assert svg.LEFT < lx < right
            assert svg.TOP + svg.FONT <= ly <= bottom
    # at the last step the label ends left of the cursor: nothing past the right edge
    (lx, _, _), = svg.place_labels(axis.centre(49), [100])
    assert lx == round(axis.centre(49) - svg.LABEL_PAD, 1)


def test_labels_of_close_values_are_moved_apart_and_kept_inside():
    bottom = svg.TOP + svg.PLOT_HEIGHT
    for ys in ([120, 121], [bottom, bottom, bottom], [svg.TOP, svg.TOP + 1], [80, 200, 81]):
        placed = svg.place_labels(400, ys)
        baselines = sorted(ly for _, ly, _ in placed)
        assert all(b - a >= svg.LABEL_GAP - 1e-9 for a, b in zip(baselines, baselines[1:]))
        assert all(svg.TOP + svg.FONT <= b <= bottom for b in baselines)
    # order is kept: the higher point gets the higher label
    (_, a, _), (_, b, _) = svg.place_labels(400, [121, 120])
    assert b < a


def test_the_page_carries_the_placements_for_every_step(adding):
    cursor = page_data(adding["text"])["cursor"]
    assert len(cursor["x"]) == 12 and len(cursor["labels"]) == 2
    for per_step in cursor["labels"]:
        assert per_step[0][2] == "start" and per_step[-1][2] == "end"
        assert per_step[-1][0] < svg.WIDTH - svg.RIGHT


# -------------------------------------------------------- other models


def test_a_classifier_page_shows_the_inputs_and_states_without_a_plot(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 6, 3))
    clf = fit(LSTMClassifier((4,), cell="gru", max_iter=2, random_state=0), X, X[:, 0, 0] > 0)
    text = open(clf.explain_html(X[0], str(tmp_path / "c.html"))).read()
    assert "no running prediction from the GRU" in text and "<h2>The inputs</h2>" in text
    assert '<g id="y-axis" display="none">' in text and 'id="target"' not in text
    assert "GRU reads the sequence one step at a time" in text
    assert text.count('class="input-strip"') == 3
    with pytest.raises(ValueError, match="y is drawn against the prediction after every step"):
        clf.explain_html(X[0], str(tmp_path / "d.html"), y=1)


def test_a_per_step_target_for_output_sequence(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 8, 1))
    est = fit(LSTMRegressor((4,), output="sequence", max_iter=2, random_state=0), X,
              X.cumsum(axis=1))
    text = open(est.explain_html(X[0], str(tmp_path / "s.html"), y=X[0, :, 0].cumsum())).read()
    assert len(page_data(text)["target"]) == 8
    assert 'output="last"' not in text  # the note about the last step is for output="last"


@pytest.mark.parametrize("options, message", [
    ({"marks": [3, 12]}, "marks must be steps from 0 to 11"),
    ({"marks": [1.5]}, "marks must be steps"),
    ({"feature_names": ["one"]}, "feature_names has 1 name(s) for 2 input feature(s)"),
    ({"y": [1.0, 2.0]}, "y must be this sequence's target: one number"),
    ({"y": float("nan")}, "y must be finite"),
    ({"compare": "rnn.npz"}, "compare must be a fitted LSTMRegressor"),
])
def test_bad_options_are_refused_before_writing(adding, options, message, tmp_path):
    with pytest.raises(ValueError, match=re.escape(message)):
        adding["lstm"].explain_html(adding["x"], str(tmp_path / "p.html"), **options)
    assert not (tmp_path / "p.html").exists()


def test_compare_must_read_the_same_features(adding, tmp_path):
    X = np.random.default_rng(3).standard_normal((20, 12, 3))
    other = fit(LSTMRegressor((4,), max_iter=1, random_state=0), X, X[:, 0, 0])
    with pytest.raises(ValueError, match="compare was fitted on 3 features, this model on 2"):
        adding["lstm"].explain_html(adding["x"], str(tmp_path / "p.html"), compare=other)


# --------------------------------------------------------- command line


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lstm_fast", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_command_writes_the_page_with_a_compared_model(adding, tmp_path):
    adding["lstm"].save(tmp_path / "lstm.npz")
    adding["rnn"].save(tmp_path / "rnn.npz")
    np.save(tmp_path / "x.npy", adding["x"])
    proc = cli("explain", "lstm.npz", "x.npy", "--compare", "rnn.npz", "--target", "0.7",
               "--mark", *adding["marks"], "--feature-names", "value", "marker",
               "--task", "Two marked values.", "--out", "page.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "page.html").read_text()
    data = page_data(text)
    assert [m["name"] for m in data["models"]] == ["LSTM", "RNN"] and data["target"] == 0.7
    assert data["feature_names"] == ["value", "marker"] and '<p id="task">Two marked' in text
    assert chart_of(text).count('class="mark"') == 2


@pytest.mark.parametrize("args, error", [
    (["--mark", "40"], "argument --mark: marks must be steps from 0 to 11"),
    (["--feature-names", "a"], "argument --feature-names: feature_names has 1 name(s)"),
    (["--compare", "none.npz"], "argument --compare: no such file: none.npz"),
    (["--compare", "other.npz"], "argument --compare: other.npz was fitted on 3 features"),
])
def test_the_command_names_a_bad_option(adding, args, error, tmp_path):
    adding["lstm"].save(tmp_path / "lstm.npz")
    X = np.random.default_rng(3).standard_normal((20, 12, 3))
    fit(LSTMRegressor((4,), max_iter=1, random_state=0), X, X[:, 0, 0]).save(
        tmp_path / "other.npz")
    np.save(tmp_path / "x.npy", adding["x"])
    proc = cli("explain", "lstm.npz", "x.npy", *args, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith(f"lstm-fast explain: error: {error}")
    assert len(proc.stderr.splitlines()) == 1 and not (tmp_path / "explain.html").exists()


# ------------------------------------------------------------- the docs


def test_the_docs_example_runs_and_the_lstm_wins(tmp_path):
    """docs/layers.md's example prints what it shows, its page says what the
    docs say, and its command line (on the example's models) writes the page."""
    if not DOC.exists():
        pytest.skip(f"{DOC} is not beside the tests (installed without the source tree)")
    section = DOC.read_text(encoding="utf-8").split("## The step-through page", 1)[1]
    code, shown = re.search(r"```python\n(.*?)```\n```\n(.*?)```", section, flags=re.S).groups()
    # the docs' claims about this run: the LSTM lands near the target, the
    # RNN near the average; then the files the command line reads
    check = ("last = lambda m: float(m.predict(x[None])[0])\n"
             "print(abs(last(lstm) - y_test[i]), abs(last(rnn) - y_test[i]), "
             "abs(last(rnn) - 1))\n"
             "lstm.save('lstm.npz'); rnn.save('rnn.npz'); np.save('x.npy', x)\n")
    (tmp_path / "page.py").write_text(code + check, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-W", "ignore", "page.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed, numbers = proc.stdout.splitlines()
    assert printed == shown.strip()
    lstm_error, rnn_error, rnn_from_mean = map(float, numbers.split())
    assert lstm_error < 0.15 < rnn_error and rnn_from_mean < 0.3
    text = (tmp_path / "explain.html").read_text()
    assert "The adding problem: the target is the sum" in text and "RNN" in text

    command = re.search(r"```\n(lstm-fast explain .*?)```", section, flags=re.S).group(1)
    args = command.replace("\\\n", " ").split()[1:]
    (tmp_path / "explain.html").unlink()
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = page_data((tmp_path / "explain.html").read_text())
    assert data["target"] == 0.46 and [m["name"] for m in data["models"]] == ["LSTM", "RNN"]


# ------------------------------------------------------------ in Chromium


def chromium(*args, timeout=90):
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@needs_chromium
def test_page_renders_to_a_screenshot(page, tmp_path):
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1000", f"file://{page}")
    from matplotlib.image import imread

    image = imread(shot)
    assert image.shape[:2] == (1000, 1200) and image[..., :3].std() > 0.05


@needs_chromium
def test_screenshots_at_the_first_a_marked_and_the_last_step_differ(adding, tmp_path):
    from matplotlib.image import imread

    shots = []
    for step in (0, int(adding["marks"][0]), 11):
        shot = tmp_path / f"step-{step}.png"
        chromium(f"--screenshot={shot}", "--window-size=1200,1400",
                 f"file://{adding['path']}#step={step}")
        shots.append(imread(shot)[..., :3])
        assert shots[-1].std() > 0.05
    # the cursor, the labels and the panels move with the step
    assert all(np.abs(a - b).max() > 0.5 for a, b in zip(shots, shots[1:]))


@needs_chromium
def test_the_step_control_changes_the_values_shown(page):
    def shown(step):
        dom = chromium("--dump-dom", f"file://{page}#step={step}").stdout
        label = re.search(r'id="label">([^<]*)<', dom).group(1)
        means = re.findall(r'data-name="(\w)">mean (-?[\d.]+)<', dom)
        return label, means

    label2, means2 = shown(2)
    label6, means6 = shown(6)
    assert label2 == "step 2 of 6" and label6 == "step 6 of 6"
    names = [name for name, _ in means2]
    assert names == [name for name, _ in means6]
    assert names.count("f") == 2 and names.count("h") == 2  # two layers, every gate
    assert means2 != means6


# Appended to a copy of the page: after it has drawn a step, write where the
# browser put each value's label (its box, from the laid-out text) and the
# plot's box into the DOM, for --dump-dom to read.
MEASURE = """<script>
const chart = document.getElementById("chart").getBoundingClientRect();
const boxes = [...document.querySelectorAll(".value-label")].map(t => {
  const b = t.getBoundingClientRect();
  return [b.left - chart.left, b.top - chart.top, b.right - chart.left, b.bottom - chart.top,
          t.textContent]; });
document.body.setAttribute("data-measured", JSON.stringify(boxes));
</script></body>"""


@needs_chromium
@pytest.mark.parametrize("where", ["first", "marked", "last"])
def test_the_labels_stay_inside_the_chart(adding, where, tmp_path):
    step = {"first": 0, "marked": int(adding["marks"][0]), "last": 11}[where]
    copy = tmp_path / "measured.html"
    copy.write_text(adding["text"].replace("</body>", MEASURE), encoding="utf-8")
    dom = chromium("--dump-dom", f"file://{copy}#step={step}").stdout
    boxes = json.loads(re.search(r"data-measured=\"([^\"]*)\"", dom).group(1)
                       .replace("&quot;", '"'))
    assert [text.split()[0] for *_, text in boxes] == ["LSTM", "RNN"]
    for left, top, right, bottom, _ in boxes:
        assert svg.LEFT <= left and right <= svg.WIDTH - svg.RIGHT, (where, boxes)
        assert svg.TOP - 2 <= top and bottom <= svg.TOP + svg.PLOT_HEIGHT + 2, (where, boxes)
    (a_top, a_bottom), (b_top, b_bottom) = sorted((box[1], box[3]) for box in boxes)
    assert a_bottom <= b_top + 3  # the two labels do not cover each other
    readout = re.search(r'id="readout">([^<]*)<', dom).group(1)
    assert f"After step {step}: LSTM " in readout and "true target" in readout
    assert ("marker = 1.000" in readout) == (where == "marked")


# Appended to a copy of the page: the arrow keys and a click on the chart
# choose the step (what the page shows after each, for --dump-dom to read).
STEPS = """<script>
const seen = [], shown = () => seen.push(document.getElementById("label").textContent);
const key = name => document.dispatchEvent(new KeyboardEvent("keydown", {key: name}));
key("ArrowRight"); shown(); key("ArrowRight"); shown(); key("ArrowLeft"); shown();
key("ArrowLeft"); key("ArrowLeft"); shown();  // not before the first step
const box = document.getElementById("chart").getBoundingClientRect();
document.getElementById("chart").dispatchEvent(new MouseEvent("click", {bubbles: true,
  clientX: box.left + DATA.cursor.x[7] + 2, clientY: box.top + 100})); shown();
document.getElementById("step").value = 11;
document.getElementById("step").dispatchEvent(new Event("input")); key("ArrowRight"); shown();
document.body.setAttribute("data-seen", JSON.stringify(seen));
</script></body>"""


@needs_chromium
def test_the_keys_and_a_click_on_the_chart_choose_the_step(adding, tmp_path):
    copy = tmp_path / "steps.html"
    copy.write_text(adding["text"].replace("</body>", STEPS), encoding="utf-8")
    dom = chromium("--dump-dom", f"file://{copy}").stdout
    seen = json.loads(re.search(r'data-seen="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    assert seen == [f"step {t} of 11" for t in (1, 2, 1, 0, 7, 11)]
    assert '<line class="cursor" x1="{0}" x2="{0}"'.format(
        page_data(adding["text"])["cursor"]["x"][11]) in dom


@needs_chromium
def test_the_console_has_no_errors(page, adding):
    for path in (page, adding["path"]):
        proc = chromium("--dump-dom", f"file://{path}")
        console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
        assert not console, console  # the page logs nothing: any message is a problem
