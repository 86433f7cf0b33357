"""lstm-fast: LSTM, GRU and RNN networks for the CPU, as C kernels behind a
NumPy API, with scikit-learn estimators on top.

The kernel variant (generic x86-64, AVX2+FMA or AVX-512) is chosen at import
from what the CPU supports; set ``LSTM_FAST_ISA=generic|avx2|avx512`` before
importing to force a lower one.
"""

import importlib.util as _importlib_util
import os as _os

if _importlib_util.find_spec(f"{__name__}._core") is None:
    # Without this check, the import below fails with "cannot import name
    # '_core' from partially initialized module", which reads like a bug in
    # the package. The usual cause: Python was started in the repository
    # root, whose source folder lstm_fast/ (never compiled) comes first on
    # sys.path and hides the installed package.
    raise ImportError(
        f"lstm_fast was imported from {_os.path.dirname(__file__)}, a source folder "
        f"without the compiled module lstm_fast._core, instead of an installed "
        f"lstm-fast. Run Python from another directory (or with PYTHONSAFEPATH=1), or "
        f"build it for this environment from the repository root: `pip install .` "
        f"(a copy) or `pip install -e .` (editable: the Python files from this "
        f"folder, the compiled module from the build); see docs/install.md.",
        name=f"{__name__}._core")
del _importlib_util, _os

from ._cpus import set_default_threads as _set_default_threads  # noqa: E402

_set_default_threads()  # before the kernels' OpenMP runtime loads with _core

from ._config import get_num_threads, set_num_threads, show_config  # noqa: E402
from ._version import __version__  # noqa: E402

__all__ = ["__version__", "show_config", "get_num_threads", "set_num_threads",
           "LSTMRegressor", "LSTMClassifier", "from_long_format"]

# name -> the module that defines it, imported on first use
_LAZY = {"LSTMRegressor": "_estimators", "LSTMClassifier": "_estimators",
         "from_long_format": "_long_format"}


def __getattr__(name):
    # The estimators import scikit-learn: only when asked for, so that the
    # layers (lstm_fast.layers) load without it.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'lstm_fast' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
