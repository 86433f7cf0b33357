"""lstm-fast: LSTM layers for the CPU, as C kernels behind a NumPy API.

The kernel variant (generic x86-64, AVX2+FMA or AVX-512) is chosen at import
from what the CPU supports; set ``LSTM_FAST_ISA=generic|avx2|avx512`` before
importing to force a lower one.
"""

from ._config import get_num_threads, set_num_threads, show_config
from ._version import __version__

__all__ = ["__version__", "show_config", "get_num_threads", "set_num_threads"]
from ._estimators import LSTMClassifier, LSTMRegressor

__all__ += ["LSTMRegressor", "LSTMClassifier"]
