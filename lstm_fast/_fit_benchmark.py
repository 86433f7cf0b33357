"""Training benchmark: LSTMRegressor.fit against the same model trained by a
PyTorch loop and by Keras, on the same data, in the same process.

Problem: N=8192 sequences, T=64 steps, D=8 features, one LSTM layer H=64 and
a linear head on the last step, minibatches of 64, Adam lr=1e-3, float32, no
weight decay. Each implementation reports seconds per epoch and its final
training MSE (the models start from different random weights, so the losses
agree only roughly).

:func:`run_dropout` times the same problem trained with dropout on the
LSTM's inputs and on its recurrent state (Keras's ``dropout`` and
``recurrent_dropout``); see its docstring for what each library can run.
"""

import time
import warnings

import numpy as np

N, T, D, H = 8192, 64, 8, 64
BATCH, LR, EPOCHS = 64, 1e-3, 3


def make_problem(n=N, seed=0):
    """X ~ N(0, 1); y mixes a sum over time (memory) and the last step."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D)).astype(np.float32)
    y = np.tanh(X[:, :, 0].sum(axis=1) / np.sqrt(T)) + 0.5 * X[:, -1, 1]
    return X, y.astype(np.float32)


def lstm_fast_estimator(epochs=EPOCHS, threads=None, dropout=0.0, recurrent_dropout=0.0):
    """The benchmark's model as an :class:`~lstm_fast.LSTMRegressor`."""
    from . import LSTMRegressor

    return LSTMRegressor(hidden_layer_sizes=(H,), batch_size=BATCH, learning_rate_init=LR,
                         alpha=0.0, max_iter=epochs, n_iter_no_change=np.inf, shuffle=True,
                         random_state=0, n_jobs=threads, dropout=dropout,
                         recurrent_dropout=recurrent_dropout)


def fit_lstm_fast(X, y, epochs=EPOCHS, threads=None, dropout=0.0, recurrent_dropout=0.0):
    """(seconds per epoch, final training MSE) of LSTMRegressor. The MSE is
    of its predictions, which never drop units."""
    est = lstm_fast_estimator(epochs, threads, dropout, recurrent_dropout)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        est.fit(X, y)
    seconds = time.perf_counter() - start
    mse = float(np.mean((est.predict(X) - y) ** 2))
    return seconds / epochs, mse


def fit_torch(X, y, epochs=EPOCHS, threads=None):
    """(seconds per epoch, final training MSE) of torch.nn.LSTM + Linear in
    the usual PyTorch training loop."""
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


def fit_keras(X, y, epochs=EPOCHS, threads=None, dropout=0.0, recurrent_dropout=0.0):
    """(seconds per epoch, final training MSE) of keras LSTM + Dense through
    ``model.fit`` (TensorFlow backend). The first epoch, which traces and
    compiles the graph, is not counted. The MSE is of ``predict``, which
    never drops units."""
    import tensorflow as tf

    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # pools already started by an earlier benchmark
            pass
    tf.keras.utils.set_random_seed(0)
    lstm = tf.keras.layers.LSTM(H, dropout=dropout, recurrent_dropout=recurrent_dropout)
    model = tf.keras.Sequential([tf.keras.Input((T, D)), lstm, tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.Adam(LR), loss="mse")
    model.fit(X, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)  # compile
    start = time.perf_counter()
    model.fit(X, y, batch_size=BATCH, epochs=epochs, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    mse = float(np.mean((model.predict(X, batch_size=1024, verbose=0)[:, 0] - y) ** 2))
    return seconds / epochs, mse


IMPLEMENTATIONS = {"lstm_fast": fit_lstm_fast, "torch": fit_torch, "keras": fit_keras}


def _time_rounds(fits, X, y, epochs, threads, rounds):
    """Fit each of ``fits`` (name -> (function, keyword arguments)) ``rounds``
    times, in alternation: a shared machine's slow spells then hit all
    alike. Returns the median seconds per epoch and the last round's MSE of
    each."""
    seconds = {name: [] for name in fits}
    mse = {}
    for _ in range(rounds):
        for name, (fit, kwargs) in fits.items():
            sec, mse[name] = fit(X, y, epochs, threads, **kwargs)
            seconds[name].append(sec)
    return {name: float(np.median(s)) for name, s in seconds.items()}, mse


def _check_sizes(epochs, n, rounds):
    for name, value in (("epochs", epochs), ("n", n), ("rounds", rounds)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n < BATCH:
        raise ValueError(f"n must be at least the batch size {BATCH}, got {n}")


def run(libraries=("torch",), epochs=EPOCHS, n=N, threads=None, rounds=3):
    """Fit each implementation on the same problem.

    Parameters
    ----------
    libraries : tuple of str
        Which of ``"torch"`` and ``"keras"`` to compare with (those not
        installed are left out).
    epochs, n, threads : int
        Epochs timed, number of sequences, threads (all by default).
    rounds : int
        Fits of each implementation, in alternation: a shared machine's
        slow spells then hit all alike, and the median is reported.

    Returns
    -------
    list of dict
        ``implementation``, ``s_per_epoch`` (median over the rounds),
        ``train_mse`` (of the last round), ``vs_lstm_fast`` (how many
        times slower than lstm_fast).
    """
    from . import _compare

    _check_sizes(epochs, n, rounds)
    X, y = make_problem(n)
    fits = {"lstm_fast": (fit_lstm_fast, {})}
    for library in libraries:
        if _compare.available(library):
            fits[f"{library} {_compare.version(library)}"] = (IMPLEMENTATIONS[library], {})
    median, mse = _time_rounds(fits, X, y, epochs, threads, rounds)
    return [{"implementation": name, "s_per_epoch": median[name], "train_mse": mse[name],
             "vs_lstm_fast": median[name] / median["lstm_fast"]} for name in fits]


# What each library runs when asked for dropout (printed under the table).
DROPOUT_NOTES = {
    "lstm_fast": "one mask per sequence on the inputs and one on the recurrent state, "
                 "held for all steps, applied inside the fused C kernels",
    "torch": "torch.nn.LSTM's dropout acts only between stacked layers: with one layer "
             "it has none, so torch is timed without dropout",
    "keras": "with recurrent_dropout > 0 Keras's LSTMCell switches to implementation=1 "
             "(a mask per gate, 8 small matmuls a step instead of 2); on a CPU the "
             "cuDNN kernel is never used, with or without dropout",
}


def run_dropout(libraries=("torch", "keras"), dropout=0.2, recurrent_dropout=0.2,
                epochs=EPOCHS, n=N, threads=None, rounds=3):
    """Fit the benchmark's model with dropout, next to lstm_fast without it
    and to the other libraries.

    lstm_fast and Keras train with ``dropout`` on the LSTM's inputs and
    ``recurrent_dropout`` on its recurrent state (variational: one mask per
    sequence for all steps); Keras also without, to show what dropout costs
    it. torch.nn.LSTM has no dropout inside a layer, so torch trains
    without (its row says so); :data:`DROPOUT_NOTES` says what each ran.

    Parameters
    ----------
    libraries : tuple of str
        Which of ``"torch"`` and ``"keras"`` to compare with (those not
        installed are left out).
    dropout, recurrent_dropout : float
        Fractions in [0, 1) of the inputs and of the recurrent state
        dropped; not both 0.
    epochs, n, threads, rounds : int
        As in :func:`run`.

    Returns
    -------
    list of dict
        ``implementation``, ``dropout`` (``"none"`` or
        ``"<dropout> / <recurrent_dropout>"``), ``s_per_epoch`` (median
        over the rounds), ``train_mse`` (of the last round, predictions
        without dropout), ``vs_lstm_fast`` (how many times slower than
        lstm_fast with dropout).
    """
    from . import _compare

    for name, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    if not (dropout or recurrent_dropout):
        raise ValueError("dropout and recurrent_dropout are both 0: use run() for the "
                         "benchmark without dropout")
    _check_sizes(epochs, n, rounds)
    rates = {"dropout": dropout, "recurrent_dropout": recurrent_dropout}
    label = f"{dropout:g} / {recurrent_dropout:g}"
    configs = {("lstm_fast", label): (fit_lstm_fast, rates),
               ("lstm_fast", "none"): (fit_lstm_fast, {})}
    for library in libraries:
        if not _compare.available(library):
            continue
        name = f"{library} {_compare.version(library)}"
        if library == "keras":
            configs[(name, label)] = (fit_keras, rates)
            configs[(name, "none")] = (fit_keras, {})
        else:
            configs[(name, "none (no dropout within one nn.LSTM layer)")] = (
                IMPLEMENTATIONS[library], {})
    X, y = make_problem(n)
    median, mse = _time_rounds(configs, X, y, epochs, threads, rounds)
    base = median[("lstm_fast", label)]
    return [{"implementation": name, "dropout": rate, "s_per_epoch": median[(name, rate)],
             "train_mse": mse[(name, rate)], "vs_lstm_fast": median[(name, rate)] / base}
            for name, rate in configs]


def rss_per_epoch(epochs=5, n=2048):
    """Resident memory (MiB) after each of ``epochs`` one-epoch
    ``partial_fit`` calls of the benchmark model: flat when nothing leaks or
    accumulates across epochs.

    Returns
    -------
    list of float
    """
    import resource

    X, y = make_problem(n)
    est = lstm_fast_estimator(1)
    page = resource.getpagesize()
    out = []
    for _ in range(epochs):
        est.partial_fit(X, y)
        with open("/proc/self/statm") as f:
            out.append(int(f.read().split()[1]) * page / 2**20)
    return out
