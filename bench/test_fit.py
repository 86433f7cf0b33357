"""Training benchmark: LSTMRegressor.fit vs an equivalent PyTorch loop.

Problem: N=8192 sequences, T=64 steps, D=8 features, one LSTM layer H=64 and
a linear head on the last step, minibatches of 64, Adam lr=1e-3, 3 epochs,
float32, no weight decay. Reports seconds per epoch and the final training MSE.

    python bench/test_fit.py             # the table (torch too if installed)
    pytest bench/test_fit.py             # pytest-benchmark, one epoch per round

CI runs this file with --benchmark-disable (one epoch each, as a smoke test).
"""

import time
import warnings

import numpy as np
import pytest

N, T, D, H = 8192, 64, 8, 64
BATCH, LR, EPOCHS = 64, 1e-3, 3


def make_problem(n=N, seed=0):
    """X ~ N(0, 1); y mixes a sum over time (memory) and the last step."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D)).astype(np.float32)
    y = np.tanh(X[:, :, 0].sum(axis=1) / np.sqrt(T)) + 0.5 * X[:, -1, 1]
    return X, y.astype(np.float32)


def lstm_fast_estimator(epochs=EPOCHS, threads=None):
    from lstm_fast import LSTMRegressor

    return LSTMRegressor(hidden_layer_sizes=(H,), batch_size=BATCH, learning_rate_init=LR,
                         alpha=0.0, max_iter=epochs, n_iter_no_change=np.inf, shuffle=True,
                         random_state=0, n_jobs=threads)


def fit_lstm_fast(X, y, epochs=EPOCHS, threads=None):
    """(seconds per epoch, final training MSE) of LSTMRegressor."""
    est = lstm_fast_estimator(epochs, threads)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        est.fit(X, y)
    seconds = time.perf_counter() - start
    mse = float(np.mean((est.predict(X) - y) ** 2))
    return seconds / epochs, mse


def fit_torch(X, y, epochs=EPOCHS, threads=None):
    """(seconds per epoch, final training MSE) of torch.nn.LSTM + Linear."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(D, H, batch_first=True)
            self.head = torch.nn.Linear(H, 1)

        def forward(self, x):
            _, (h_n, _) = self.lstm(x)
            return self.head(h_n[-1])[:, 0]

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = 0.5 * torch.mean((net(Xt[idx]) - yt[idx]) ** 2)
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        mse = float(torch.mean((net(Xt) - yt) ** 2))
    return seconds / epochs, mse


def _have_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


IMPLEMENTATIONS = {"lstm_fast": fit_lstm_fast, "torch": fit_torch}


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
def test_fit_one_epoch(benchmark, impl):
    if impl == "torch" and not _have_torch():
        pytest.skip("torch is not installed")
    X, y = make_problem()
    benchmark.extra_info.update(N=N, T=T, D=D, H=H, batch=BATCH)
    sec, mse = benchmark.pedantic(IMPLEMENTATIONS[impl], args=(X, y, 1), rounds=1,
                                  iterations=1)
    assert np.isfinite(mse)


def main():
    X, y = make_problem()
    print(f"fit: N={N} T={T} D={D} H={H} batch={BATCH} Adam lr={LR}, {EPOCHS} epochs, "
          f"float32; var(y)={y.var():.4f}")
    results = {"lstm_fast": fit_lstm_fast(X, y)}
    if _have_torch():
        import torch

        results["torch " + torch.__version__] = fit_torch(X, y)
    base = results["lstm_fast"][0]
    print(f"{'implementation':<22}{'s/epoch':>10}{'train MSE':>12}{'vs lstm_fast':>14}")
    for name, (sec, mse) in results.items():
        print(f"{name:<22}{sec:>10.3f}{mse:>12.4f}{sec / base:>13.2f}x")


if __name__ == "__main__":
    main()
