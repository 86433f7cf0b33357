"""Kernel benchmarks (pytest-benchmark): lstm_fast vs the NumPy reference.

    pytest bench/ --benchmark-group-by=param:shape,param:mode

CI runs this file with --benchmark-disable (each case once, as a smoke test).
For a table with ratios measured side by side, run `lstm-fast bench`.
"""

import numpy as np
import pytest

from lstm_fast import layers, reference
from lstm_fast._benchmark import MODES, SHAPES, make_problem

IMPLEMENTATIONS = {"lstm_fast": layers.LSTM, "reference": reference.LSTM}


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_lstm(benchmark, shape, mode, impl):
    B, T, D, H = SHAPES[shape]
    X, dY = make_problem(shape)
    layer = IMPLEMENTATIONS[impl](D, H, dtype=np.float32, random_state=0)
    benchmark.extra_info["gflop"] = 2 * B * T * 4 * H * (D + H) * (3 if mode == "train" else 1) / 1e9
    if impl == "reference" and shape == "large":
        benchmark.pedantic(MODES[mode], args=(layer, X, dY), rounds=3, iterations=1)
    else:
        benchmark(MODES[mode], layer, X, dY)
