"""The tools: ab_interleaved.py times two installed builds against each other;
fma_peak.c measures one core's peak FMA rate."""

import pathlib
import platform
import re
import shutil
import subprocess
import sys

import pytest

import lstm_fast

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "tools" / "ab_interleaved.py"
# The folder the imported package is installed in, as `pip --target` lays out.
INSTALLED = pathlib.Path(lstm_fast.__file__).resolve().parent.parent


def run(*args, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_ab_interleaved_reports_both_builds_and_their_ratio(tmp_path):
    proc = run(INSTALLED, INSTALLED, "--cell", "gru", "--shape", 3, 5, 2, 7, "--mode", "train",
               "--threads", 1, "--rounds", 4, "--reps", 1, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for label in ("before", "after"):
        assert re.search(rf"{label}\s+median\s+\d+\.\d+ ms\s+min\s+\d+\.\d+ ms", proc.stdout)
    assert re.search(r"after / before, per round: median \d+\.\d+", proc.stdout), proc.stdout


def test_ab_interleaved_says_what_to_do_with_a_folder_without_a_build(tmp_path):
    proc = run(tmp_path, INSTALLED, cwd=tmp_path)
    assert proc.returncode != 0
    assert "no lstm_fast package there" in proc.stderr and "pip install" in proc.stderr


FMA_PEAK = SCRIPT.parent / "fma_peak.c"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or not shutil.which("cc"),
                    reason="tools/fma_peak.c is x86 assembly, built with the C compiler")
def test_fma_peak_prints_a_rate_for_each_width_the_cpu_has(tmp_path):
    exe = tmp_path / "fma_peak"
    subprocess.run(["cc", "-O2", "-mavx512f", str(FMA_PEAK), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe), "200000"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rates = re.findall(r"(\d+)-bit FMA: +(\d+\.\d) GFLOP/s float32, +(\d+\.\d) float64", out.stdout)
    widths = {"256"} | ({"512"} if "avx512f" in pathlib.Path("/proc/cpuinfo").read_text() else set())
    assert {w for w, _, _ in rates} == widths, out.stdout
    for _, f32, f64 in rates:
        assert float(f32) > 0 and abs(float(f64) - float(f32) / 2) <= 0.1

    bad = subprocess.run([str(exe), "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "usage" in bad.stderr
