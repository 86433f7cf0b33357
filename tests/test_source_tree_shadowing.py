"""Python started in the repository root imports the source folder
lstm_fast/, which has no compiled _core, instead of the installed package:
the ImportError says so and what to do, instead of "partially initialized
module"."""

import os
import shutil
import subprocess
import sys

import pytest

import lstm_fast


def _editable_finder_installed():
    # An editable install's finder serves `lstm_fast` from its own source
    # folder whatever the working directory, so a copy cannot shadow it.
    return any("Redirect" in type(finder).__name__ for finder in sys.meta_path)


@pytest.mark.skipif(_editable_finder_installed(), reason="editable install: no shadowing")
def test_a_source_folder_without_the_compiled_core_says_what_to_do(tmp_path):
    # What `python -c "import lstm_fast"` in the repository root meets: the
    # package's Python files, no compiled _core, first on sys.path.
    installed = os.path.dirname(lstm_fast.__file__)
    shutil.copytree(installed, tmp_path / "lstm_fast",
                    ignore=lambda folder, names: [n for n in names if not n.endswith(".py")])
    for command in (["-c", "import lstm_fast"], ["-m", "lstm_fast", "info"]):
        proc = subprocess.run([sys.executable, *command], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode != 0
        assert "partially initialized" not in proc.stderr, proc.stderr
        message = proc.stderr.strip().splitlines()[-1]
        assert message.startswith("ImportError: ") or "(ImportError: " in message, message
        for fragment in (str(tmp_path / "lstm_fast"), "without the compiled module",
                         "Run Python from another directory", "pip install .",
                         "pip install -e ."):
            assert fragment in message, message
