"""Two builds of lstm-fast timed against each other, interleaved in one
process: the speed check of a change that must not slow anything down.

Copy the old build's installed package under another name first, then
install the new one:

    cp -r "$(python -c 'import lstm_fast, os; print(os.path.dirname(lstm_fast.__file__))')" /tmp/old/lstm_fast_base
    pip install .
    PYTHONPATH=/tmp/old python tools/compare_builds.py lstm_fast_base lstm_fast

For every cell, bench shape and mode (forward; a training step: forward in
training mode then backward) each round times one call of each build, the
order alternating by round; the table gives each build's median and the
ratio new/old with the spread of the per-round ratios (their 10th and 90th
percentiles): a ratio is noise unless it lies outside that spread.
"""

import argparse
import importlib
import time

import numpy as np

SHAPES = {
    "small": (32, 50, 8, 64),
    "medium": (64, 100, 32, 128),
    "large": (128, 100, 128, 512),
    "stream": (1, 1000, 4, 64),
}
CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _call(layer, mode, X, dY):
    if mode == "forward":
        layer.forward(X)
    else:
        cache = layer.forward(X, training=True)[-1]
        layer.backward(cache, dY=dY, input_gradient=False)


def compare(old, new, cells, shapes, seconds):
    rows = []
    for cell in cells:
        for shape in shapes:
            B, T, D, H = SHAPES[shape]
            rng = np.random.default_rng(0)
            X = rng.standard_normal((B, T, D)).astype(np.float32)
            dY = rng.standard_normal((B, T, H)).astype(np.float32)
            layers = [getattr(m.layers, CELLS[cell])(D, H, random_state=0) for m in (old, new)]
            for mode in ("forward", "train"):
                for layer in layers:  # warm-up
                    _call(layer, mode, X, dY)
                times = ([], [])
                deadline = time.perf_counter() + seconds
                r = 0
                while time.perf_counter() < deadline or r < 10:
                    order = (0, 1) if r % 2 == 0 else (1, 0)
                    for k in order:
                        t0 = time.perf_counter()
                        _call(layers[k], mode, X, dY)
                        times[k].append(time.perf_counter() - t0)
                    r += 1
                a, b = np.array(times[0]), np.array(times[1])
                ratios = b / a
                rows.append((cell, shape, mode, 1e3 * np.median(a), 1e3 * np.median(b),
                             np.median(b) / np.median(a), np.percentile(ratios, 10),
                             np.percentile(ratios, 90), r))
                print("| {} | {} | {} | {:.3f} | {:.3f} | {:.3f} | {:.2f}-{:.2f} | {} |"
                      .format(*rows[-1]), flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old", help="module name of the old build (e.g. lstm_fast_base)")
    p.add_argument("new", help="module name of the new build (e.g. lstm_fast)")
    p.add_argument("--cells", nargs="+", default=list(CELLS))
    p.add_argument("--shapes", nargs="+", default=list(SHAPES))
    p.add_argument("--seconds", type=float, default=3.0, help="per case and mode")
    args = p.parse_args()
    old = importlib.import_module(args.old)
    new = importlib.import_module(args.new)
    importlib.import_module(args.old + ".layers")
    importlib.import_module(args.new + ".layers")
    print(f"threads: {new.get_num_threads()}")
    print("| cell | shape | mode | old ms | new ms | new/old | per-round p10-p90 | rounds |")
    print("|---|---|---|---:|---:|---:|---|---:|")
    compare(old, new, args.cells, args.shapes, args.seconds)


if __name__ == "__main__":
    main()
