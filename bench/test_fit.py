"""Training benchmark: LSTMRegressor.fit vs the same model in a PyTorch loop
and in Keras (see lstm_fast/_fit_benchmark.py for the problem).

    python bench/test_fit.py             # the table (torch, keras if installed)
    python bench/test_fit.py --dropout   # with dropout=0.2, recurrent_dropout=0.2
    lstm-fast bench --fit [--dropout 0.2]  # the same, from an installed package
    pytest bench/test_fit.py             # pytest-benchmark, one epoch per round

CI runs this file with --benchmark-disable (one epoch each, as a smoke test).
"""

import numpy as np
import pytest

from lstm_fast import _compare
from lstm_fast._benchmark import format_dicts
from lstm_fast._fit_benchmark import (BATCH, D, DROPOUT_NOTES, H, IMPLEMENTATIONS, N, T,
                                      make_problem, run, run_dropout)


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
def test_fit_one_epoch(benchmark, impl):
    if impl != "lstm_fast" and not _compare.available(impl):
        pytest.skip(f"{impl} is not installed")
    X, y = make_problem()
    benchmark.extra_info.update(N=N, T=T, D=D, H=H, batch=BATCH)
    sec, mse = benchmark.pedantic(IMPLEMENTATIONS[impl], args=(X, y, 1), rounds=1,
                                  iterations=1)
    assert np.isfinite(mse)


@pytest.mark.parametrize("impl", ["lstm_fast", "keras"])
def test_fit_one_epoch_with_dropout(benchmark, impl):
    # torch.nn.LSTM has no dropout within one layer: nothing to time.
    if impl != "lstm_fast" and not _compare.available(impl):
        pytest.skip(f"{impl} is not installed")
    X, y = make_problem()
    benchmark.extra_info.update(N=N, T=T, D=D, H=H, batch=BATCH, dropout=0.2,
                                recurrent_dropout=0.2)
    sec, mse = benchmark.pedantic(IMPLEMENTATIONS[impl], args=(X, y, 1),
                                  kwargs={"dropout": 0.2, "recurrent_dropout": 0.2},
                                  rounds=1, iterations=1)
    assert np.isfinite(mse)


if __name__ == "__main__":
    import sys

    if "--dropout" in sys.argv[1:]:
        print(format_dicts(run_dropout(("torch", "keras")),
                           ["implementation", "dropout", "s_per_epoch", "train_mse",
                            "vs_lstm_fast"]))
        for lib, note in DROPOUT_NOTES.items():
            print(f"{lib}: {note}")
    else:
        print(format_dicts(run(("torch", "keras")),
                           ["implementation", "s_per_epoch", "train_mse", "vs_lstm_fast"]))
