"""bench --load: the table's rows, the busy processes gone afterwards, the
busy-machine warning, and the command line (no timing is asserted)."""

import multiprocessing
import subprocess
import sys

import numpy as np
import pytest

from lstm_fast import _load_benchmark


def test_rows_for_each_load_library_and_thread_count():
    before = set(multiprocessing.active_children())  # other tests' joblib workers
    rows = _load_benchmark.run(shapes=("small",), modes=("forward", "train"), loads=(0, 1),
                               threads=2, seconds=0.2, rounds=2)
    assert [(r["mode"], r["load"], r["threads"]) for r in rows] == [
        ("forward", 0, 1), ("forward", 0, 2), ("train", 0, 1), ("train", 0, 2),
        ("forward", 1, 1), ("forward", 1, 2), ("train", 1, 1), ("train", 1, 2)]
    for r in rows:
        assert set(r) == set(_load_benchmark.COLUMNS)
        assert r["calls"] >= 2 and 0 < r["median_ms"] <= r["p90_ms"] * (1 + 1e-9)
        if r["threads"] == 1:
            assert r["median_vs_1"] == r["mean_vs_1"] == r["p90_vs_1"] == 1.0
    assert set(multiprocessing.active_children()) <= before  # the busy processes are gone


def test_busy_processes_really_spin():
    import os
    import time

    with _load_benchmark.busy_processes(1) as busy:
        pid = busy.procs[0].pid
        time.sleep(0.3)
        with open(f"/proc/{pid}/stat") as f:
            utime = int(f.read().split()[13])
    assert utime > 0 or os.name != "posix"


def test_warning_when_the_machine_is_busy(monkeypatch):
    monkeypatch.setattr(_load_benchmark.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    assert _load_benchmark.machine_load() is None
    assert _load_benchmark.machine_load([1.0] * 10) is None
    spread = _load_benchmark.machine_load(list(np.r_[np.ones(8), 5, 5]))
    assert "spread" in spread and "WARNING" in spread
    monkeypatch.setattr(_load_benchmark.os, "getloadavg", lambda: (3.7, 1, 1))
    monkeypatch.setattr(_load_benchmark.os, "cpu_count", lambda: 2)
    assert "load average is 3.7 on 2 CPUs" in _load_benchmark.machine_load()


def test_command_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "lstm_fast", "bench", "--shapes", "small", "--modes", "forward",
         "--no-reference", "--repeat", "1", "--load", "1", "--load-seconds", "0.2"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "under load" in out.stdout
    table = out.stdout.split("under load")[1]
    assert "| small | forward | 1 | lstm_fast | 1 |" in table


@pytest.mark.parametrize("args, message", [
    (["--load", "-1"], "--load: must be an integer of at least 0"),
    (["--load-seconds", "0"], "--load-seconds: must be a positive number"),
])
def test_bad_arguments(args, message, tmp_path):
    out = subprocess.run([sys.executable, "-m", "lstm_fast", "bench", *args],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr
    assert "Traceback" not in out.stderr
