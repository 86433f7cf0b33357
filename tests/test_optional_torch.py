"""torch is optional and not in the `compare` extra: on Linux the public
index's torch wheel is the multi-GB CUDA build (docs/install.md gives the
CPU build's command). Without torch, the tests that need it skip."""

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def _extra_requirements(extra):
    names = []
    for requirement in importlib.metadata.requires("lstm-fast") or []:
        if re.search(rf"""extra\s*==\s*["']{extra}["']""", requirement):
            names.append(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower())
    return names


def test_compare_extra_leaves_torch_out():
    assert sorted(_extra_requirements("compare")) == ["onnx", "onnxruntime"]
    assert not any(name == "torch" for extra in ("test", "plot")
                   for name in _extra_requirements(extra))


def test_torch_tests_skip_cleanly_without_torch():
    # sys.modules["torch"] = None makes `import torch` raise ImportError, as
    # in an environment without it.
    child = ("import sys, pytest; sys.modules['torch'] = None; "
             "sys.exit(pytest.main(sys.argv[1:]))")
    proc = subprocess.run(
        [sys.executable, "-c", child, "-q", "-p", "no:cacheprovider", "-rs",
         str(TESTS / "test_torch_parity.py"), str(TESTS / "test_reference.py"),
         str(TESTS / "test_bidirectional.py"), "-k", "torch"],
        capture_output=True, text=True, timeout=600, cwd=TESTS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"\d+ passed, \d+ skipped|\d+ skipped", proc.stdout), proc.stdout[-2000:]
    assert "could not import 'torch'" in proc.stdout, proc.stdout[-2000:]
