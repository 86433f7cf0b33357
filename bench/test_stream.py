"""Streaming benchmark: microseconds per step from Python, one stream, H=64,
D=4, for lstm_fast's est.stream() (LSTM and GRU, float32 models fed float32
or float64 observations) beside torch.nn.LSTMCell / GRUCell called step by
step (float32), when torch is installed. The table's times are medians over
rounds that alternate between the libraries, so that a slow spell of a
shared machine hits them alike.

    python bench/test_stream.py      # the table
    pytest bench/test_stream.py      # pytest-benchmark

CI runs this file with --benchmark-disable (each case once, as a smoke test).
"""

import time
import warnings

import numpy as np
import pytest

D, H, STEPS = 4, 64, 2000


def fitted(cell):
    from lstm_fast import LSTMRegressor

    X = np.random.default_rng(0).standard_normal((32, 10, D))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two epochs: a model to stream, not a good one
        return LSTMRegressor((H,), cell=cell, output="sequence", max_iter=2,
                             random_state=0).fit(X, X.sum(axis=2))


def lstm_fast_stepper(cell):
    stream = fitted(cell).stream()
    return stream.step


def torch_stepper(cell):
    import torch

    torch.manual_seed(0)
    module = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell](D, H)
    head = torch.nn.Linear(H, 1)
    state = [None]

    def step(x):
        with torch.no_grad():
            xt = torch.from_numpy(x).reshape(1, D)
            state[0] = module(xt, state[0])
            h = state[0][0] if cell == "lstm" else state[0]
            return float(head(h)[0, 0])

    return step


def microseconds_per_step(step, xs):
    for x in xs[:100]:
        step(x)
    start = time.perf_counter()
    for x in xs:
        step(x)
    return 1e6 * (time.perf_counter() - start) / len(xs)


def observations(dtype=np.float32):
    return list(np.random.default_rng(1).standard_normal((STEPS, D)).astype(dtype))

@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_lstm_fast_stream_step(benchmark, cell):
    step, x = lstm_fast_stepper(cell), observations()[0]
    benchmark(step, x)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_torch_cell_step(benchmark, cell):
    pytest.importorskip("torch")
    step, x = torch_stepper(cell), observations()[0]
    benchmark(step, x)


def main(rounds=7):
    xs32, xs64 = observations(), observations(np.float64)
    print(f"streaming one observation at a time: D={D}, H={H}, 1 stream, {STEPS} steps, "
          f"median of {rounds} rounds")
    print(f"{'cell':<6}{'lstm_fast us/step':>20}{'(float64 x)':>13}{'torch us/step':>16}"
          f"{'ratio':>8}")
    for cell in ("lstm", "gru"):
        steppers = {"f32": (lstm_fast_stepper(cell), xs32), "f64": (lstm_fast_stepper(cell), xs64)}
        try:
            steppers["torch"] = (torch_stepper(cell), xs32)
        except ImportError:
            pass
        times = {name: [] for name in steppers}
        for _ in range(rounds):
            for name, (step, xs) in steppers.items():
                times[name].append(microseconds_per_step(step, xs))
        us = {name: float(np.median(t)) for name, t in times.items()}
        line = f"{cell:<6}{us['f32']:>20.2f}{us['f64']:>13.2f}"
        if "torch" in us:
            print(line + f"{us['torch']:>16.2f}{us['torch'] / us['f32']:>7.1f}x")
        else:
            print(line + f"{'(no torch)':>16}")


if __name__ == "__main__":
    main()
