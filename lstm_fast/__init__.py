"""lstm-fast: LSTM, GRU and RNN networks for the CPU, as C kernels behind a
NumPy API, with scikit-learn estimators on top.

The kernel variant (generic x86-64, AVX2+FMA or AVX-512) is chosen at import
from what the CPU supports; set ``LSTM_FAST_ISA=generic|avx2|avx512`` before
importing to force a lower one.
"""

from ._config import get_num_threads, set_num_threads, show_config
from ._version import __version__

__all__ = ["__version__", "show_config", "get_num_threads", "set_num_threads",
           "LSTMRegressor", "LSTMClassifier"]

_ESTIMATORS = ("LSTMRegressor", "LSTMClassifier")


def __getattr__(name):
    # The estimators import scikit-learn: only when asked for, so that the
    # layers (lstm_fast.layers) load without it.
    if name in _ESTIMATORS:
        from . import _estimators

        return getattr(_estimators, name)
    raise AttributeError(f"module 'lstm_fast' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_ESTIMATORS))
