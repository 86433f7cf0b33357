"""The `lstm-fast` command's answer to bad input: one line on stderr that
names the argument and what it expected, exit status 2, no traceback
(unless asked for)."""

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import lstm_fast
from lstm_fast import LSTMClassifier, LSTMRegressor


def cli(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "lstm_fast", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A saved regressor (2 features), a saved classifier, and one sequence."""
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 5, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LSTMRegressor((4,), max_iter=1, random_state=0).fit(X, X.sum(axis=(1, 2))).save(
            folder / "regressor.npz")
        LSTMClassifier((4,), max_iter=1, random_state=0).fit(X, X[:, 0, 0] > 0).save(
            folder / "classifier.npz")
    np.save(folder / "sequence.npy", X[0])
    return folder


# ------------------------------------------------------------------ explain


def test_explain_writes_the_page_for_either_estimator(files, tmp_path):
    for model in ("regressor.npz", "classifier.npz"):
        proc = cli("explain", files / model, files / "sequence.npy", "--out",
                   tmp_path / f"{model}.html", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / f"{model}.html").read_text().startswith("<!doctype html>")


def test_explain_names_an_input_of_the_wrong_shape(files, tmp_path):
    np.save(tmp_path / "seqs.npy", np.zeros((1, 3, 12, 2)))
    proc = cli("explain", files / "regressor.npz", tmp_path / "seqs.npy", cwd=tmp_path)
    assert_one_line_error(proc, "lstm-fast explain: error: argument input:",
                          "(n_timesteps, 2)", "4-D array of shape (1, 3, 12, 2)")
    assert not (tmp_path / "explain.html").exists()


@pytest.mark.parametrize("shape", [(5, 3), (2, 5, 2), (0, 2)])
def test_explain_names_a_sequence_of_other_features_or_several_sequences(files, tmp_path,
                                                                          shape):
    np.save(tmp_path / "x.npy", np.zeros(shape))
    proc = cli("explain", files / "regressor.npz", tmp_path / "x.npy", cwd=tmp_path)
    assert_one_line_error(proc, "argument input:", f"shape {shape}",
                          "fitted on 2 features")


def test_explain_names_an_input_it_cannot_read(files, tmp_path):
    (tmp_path / "x.csv").write_text("1,2\nthree,4\n")
    (tmp_path / "x.npy").write_bytes(b"not an array")
    np.save(tmp_path / "words.npy", np.array([["a", "b"]]))
    assert_one_line_error(cli("explain", files / "regressor.npz", tmp_path / "x.csv",
                              cwd=tmp_path), "argument input: cannot read", ".csv file")
    assert_one_line_error(cli("explain", files / "regressor.npz", tmp_path / "x.npy",
                              cwd=tmp_path), "argument input: cannot read", ".npy file")
    assert_one_line_error(cli("explain", files / "regressor.npz", tmp_path / "words.npy",
                              cwd=tmp_path), "argument input:", "<U1 values")
    assert_one_line_error(cli("explain", files / "regressor.npz", tmp_path / "none.npy",
                              cwd=tmp_path), "argument input: no such file")


def test_explain_names_a_missing_or_damaged_model(files, tmp_path):
    sequence = files / "sequence.npy"
    assert_one_line_error(cli("explain", tmp_path / "none.npz", sequence, cwd=tmp_path),
                          "argument model: no such file", "est.save(path)")
    assert_one_line_error(cli("explain", tmp_path, sequence, cwd=tmp_path),
                          "argument model:", "is a folder")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip file")
    assert_one_line_error(cli("explain", tmp_path / "garbage.npz", sequence, cwd=tmp_path),
                          "argument model: expected a model file written by est.save(path)")
    data = (files / "regressor.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert_one_line_error(cli("explain", tmp_path / "cut.npz", sequence, cwd=tmp_path),
                          "argument model:")
    assert_one_line_error(cli("explain", sequence, sequence, cwd=tmp_path), "argument model:")


def test_explain_names_an_out_path_it_cannot_write(files, tmp_path):
    proc = cli("explain", files / "regressor.npz", files / "sequence.npy", "--out",
               tmp_path / "no" / "such" / "page.html", cwd=tmp_path)
    assert_one_line_error(proc, "argument --out: cannot write", "does not exist")


def test_traceback_on_request(files, tmp_path):
    args = ("explain", tmp_path / "none.npz", files / "sequence.npy")
    for proc in (cli("--traceback", *args, cwd=tmp_path), cli(*args, "--traceback", cwd=tmp_path),
                 cli(*args, cwd=tmp_path, env={"LSTM_FAST_TRACEBACK": "1"})):
        assert proc.returncode != 0
        assert "Traceback" in proc.stderr and "no such file" in proc.stderr


# ------------------------------------------------------------ other commands


@pytest.mark.parametrize("args, fragments", [
    (["demo", "--samples", "0"], ["argument --samples: must be a positive integer, got '0'"]),
    (["demo", "--epochs", "many"], ["argument --epochs: must be a positive integer"]),
    (["demo", "--steps", "1"], ["argument --steps: must be an integer of at least 2"]),
    (["bench", "--repeat", "0"], ["argument --repeat: must be a positive integer"]),
    (["bench", "--shapes", "huge"], ["argument --shapes: invalid choice: 'huge'"]),
    (["bench", "--compare", "nosuchlib"], ["argument --compare: unknown library 'nosuchlib'"]),
    (["bench", "--json", "no/such/folder/b.json"], ["argument --json: cannot write",
                                                    "does not exist"]),
    (["bench", "--precision", "--dtype", "float64"],
     ["argument --precision: times float32 layers", "leave --dtype float64 out"]),
    (["explain", "model.npz"], ["the following arguments are required: input"]),
    (["nosuchcommand"], ["argument command: invalid choice: 'nosuchcommand'"]),
    ([], ["the following arguments are required: command"]),
])
def test_bad_options_are_one_line_with_exit_status_2(args, fragments, tmp_path):
    assert_one_line_error(cli(*args, cwd=tmp_path), "lstm-fast", *fragments)


def test_demo_refuses_an_out_that_is_a_file(tmp_path):
    (tmp_path / "pictures").write_text("")
    assert_one_line_error(cli("demo", "--quick", "--out", "pictures", cwd=tmp_path),
                          "lstm-fast demo: error: argument --out:", "expected a folder")


def test_bench_plot_refuses_a_missing_folder_before_timing_anything(tmp_path):
    proc = cli("bench", "--plot", tmp_path / "no" / "b.png", cwd=tmp_path)
    assert_one_line_error(proc, "argument --plot: cannot write")
    assert proc.stdout == ""


def test_version_and_info(tmp_path):
    proc = cli("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"lstm-fast {lstm_fast.__version__}"
    proc = cli("info", cwd=tmp_path)
    assert proc.returncode == 0
    assert re.search(rf"^version: +{re.escape(lstm_fast.__version__)}$", proc.stdout, re.M)
    assert re.search(r"^int8: +\S", proc.stdout, re.M)
