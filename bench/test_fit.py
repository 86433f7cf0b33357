"""Training benchmark: LSTMRegressor.fit vs the same model in a PyTorch loop
and in Keras (see lstm_fast/_fit_benchmark.py for the problem).

    python bench/test_fit.py             # the table (torch, keras if installed)
    lstm-fast bench --fit                # the same, from an installed package
    pytest bench/test_fit.py             # pytest-benchmark, one epoch per round

CI runs this file with --benchmark-disable (one epoch each, as a smoke test).
"""

import numpy as np
import pytest

from lstm_fast import _compare
from lstm_fast._benchmark import format_dicts
from lstm_fast._fit_benchmark import BATCH, D, H, IMPLEMENTATIONS, N, T, make_problem, run


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
def test_fit_one_epoch(benchmark, impl):
    if impl != "lstm_fast" and not _compare.available(impl):
        pytest.skip(f"{impl} is not installed")
    X, y = make_problem()
    benchmark.extra_info.update(N=N, T=T, D=D, H=H, batch=BATCH)
    sec, mse = benchmark.pedantic(IMPLEMENTATIONS[impl], args=(X, y, 1), rounds=1,
                                  iterations=1)
    assert np.isfinite(mse)


if __name__ == "__main__":
    print(format_dicts(run(("torch", "keras")),
                       ["implementation", "s_per_epoch", "train_mse", "vs_lstm_fast"]))
