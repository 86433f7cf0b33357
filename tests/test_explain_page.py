"""The interactive step-through page, opened in headless Chromium: it
renders, its step control changes what it shows, its console stays clean,
and it needs nothing from the network."""

import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest

from lstm_fast import LSTMRegressor

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (.ci/run installs Debian's)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 9, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LSTMRegressor((6, 4), max_iter=2, random_state=0).fit(X, X.sum(axis=(1, 2)))
    x = X[0].copy()
    x[7:] = np.nan  # a sequence of 7 real steps, padded
    return est.explain_html(x, str(tmp_path_factory.mktemp("page") / "explain.html"))


def chromium(*args, timeout=90):
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_page_is_self_contained(page):
    text = open(page, encoding="utf-8").read()
    assert "<script src" not in text and "http://" not in text and "https://" not in text
    assert '"length": 7' in text  # padding steps are not shown


@needs_chromium
def test_page_renders_to_a_screenshot(page, tmp_path):
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1000", f"file://{page}")
    from matplotlib.image import imread

    image = imread(shot)
    assert image.shape[:2] == (1000, 1200) and image[..., :3].std() > 0.05


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


@needs_chromium
def test_the_console_has_no_errors(page):
    proc = chromium("--dump-dom", f"file://{page}")
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console  # the page logs nothing: any message is a problem
