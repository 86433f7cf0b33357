"""tools/ab_interleaved.py times two installed builds against each other."""

import pathlib
import re
import subprocess
import sys

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
