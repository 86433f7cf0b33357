"""Time two builds of lstm_fast against each other, interleaved in one process.

On a shared machine the speed of a core drifts by tens of percent from one
minute to the next, so two builds timed one after the other differ by more
than most kernel changes. This loads both builds into one process (each
installed with ``pip install --no-deps --target DIR .``, copied here under
the package names ``lstm_fast_0`` and ``lstm_fast_1``), alternates rounds
between them (ABBA order) and reports, besides each build's median and
minimum, the median over rounds of after / before: a slow spell hits both
builds of a round alike.

Usage::

    pip install --no-deps --target /tmp/before . -Cbuild-dir=/tmp/build-before
    # ... change the kernels ...
    pip install --no-deps --target /tmp/after . -Cbuild-dir=/tmp/build-after
    python tools/ab_interleaved.py /tmp/before /tmp/after --cell gru \\
        --shape 1 200 4 512 --mode train --threads 2 --rounds 20
"""

import argparse
import importlib
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

MODES = ("forward", "train")


def load_build(target_dir, name, scratch):
    """Import the lstm_fast package installed in target_dir as `name`."""
    source = pathlib.Path(target_dir) / "lstm_fast"
    if not (source / "__init__.py").exists():
        raise SystemExit(f"{target_dir}: no lstm_fast package there "
                         "(install one with pip install --no-deps --target DIR .)")
    shutil.copytree(source, pathlib.Path(scratch) / name)
    return importlib.import_module(name)


def make_call(package, args, X):
    layers = importlib.import_module(package.__name__ + ".layers")
    cls = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.RNN}[args.cell]
    layer = cls(X.shape[2], args.shape[3], random_state=0, dtype=X.dtype)
    if args.mode == "forward":
        return lambda: layer.forward(X)

    def train():
        Y, *_, cache = layer.forward(X, training=True)
        layer.backward(cache, dY=np.ones_like(Y))
    return train


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", help="folder of the first build (pip --target)")
    parser.add_argument("after", help="folder of the second build")
    parser.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
    parser.add_argument("--shape", type=int, nargs=4, metavar=("B", "T", "D", "H"),
                        default=(32, 50, 8, 64))
    parser.add_argument("--mode", choices=MODES, default="forward",
                        help="inference forward, or training forward + backward")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=None, help="default: the builds' own")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3, help="calls per round and build")
    args = parser.parse_args(argv)

    B, T, D, _ = args.shape
    X = np.random.default_rng(0).standard_normal((B, T, D)).astype(args.dtype)
    with tempfile.TemporaryDirectory() as scratch:
        sys.path.insert(0, scratch)
        calls = []
        for k, target in enumerate((args.before, args.after)):
            package = load_build(target, f"lstm_fast_{k}", scratch)
            if args.threads:
                package.set_num_threads(args.threads)
            call = make_call(package, args, X)
            call()  # workspaces, thread pool
            calls.append(call)
        times = np.zeros((2, args.rounds))
        for r in range(args.rounds):
            for k in ((0, 1) if r % 2 == 0 else (1, 0)):
                start = time.perf_counter()
                for _ in range(args.reps):
                    calls[k]()
                times[k, r] = (time.perf_counter() - start) / args.reps * 1e3
    ratio = times[1] / times[0]
    print(f"{args.cell} {tuple(args.shape)} {args.mode} {args.dtype}, "
          f"{args.threads or 'default'} threads, {args.rounds} rounds:")
    for label, t in (("before", times[0]), ("after", times[1])):
        print(f"  {label:6s} median {np.median(t):9.3f} ms   min {t.min():9.3f} ms")
    q25, q50, q75 = np.quantile(ratio, (0.25, 0.5, 0.75))
    print(f"  after / before, per round: median {q50:.3f} (quartiles {q25:.3f}, {q75:.3f})")


if __name__ == "__main__":
    main()
