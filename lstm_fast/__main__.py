"""The ``lstm-fast`` command (also ``python -m lstm_fast``)."""

import argparse
import sys


def _info(args):
    from . import show_config

    show_config()
    return 0


def _bench(args):
    import numpy as np

    from . import _benchmark, show_config

    show_config()
    print(f"{'numpy sgemm:':<16}{_benchmark.numpy_sgemm_gflops():.0f} GFLOP/s (float32 matmul, 1024^3)")
    print()
    rows = _benchmark.run(args.shapes or None, tuple(args.modes), np.dtype(args.dtype),
                          repeat=args.repeat, cells=tuple(args.cells),
                          compare=tuple(args.compare))
    print(_benchmark.format_table(rows))
    return 0


def _demo(args):
    from . import _demo

    if args.quick:
        args.samples, args.epochs, args.steps = 600, 2, 20
    _demo.run(out=args.out, n_samples=args.samples, n_timesteps=args.steps,
              hidden=args.hidden, epochs=args.epochs)
    return 0


def _explain(args):
    import numpy as np

    from ._estimators import LSTMClassifier, LSTMRegressor

    try:
        estimator = LSTMRegressor.load(args.model)
    except ValueError as error:  # the file says which class it holds
        if "LSTMClassifier" not in str(error):
            raise
        estimator = LSTMClassifier.load(args.model)
    x = np.loadtxt(args.input, delimiter=",", ndmin=2) if args.input.endswith(".csv") \
        else np.load(args.input, allow_pickle=False)
    print(estimator.explain_html(x, args.out))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lstm-fast", description="Fast CPU LSTM layers.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print version, ISA, OpenMP runtime and threads")
    info.set_defaults(run=_info)
    demo = sub.add_parser(
        "demo", help="LSTM vs plain RNN on the adding problem: results and pictures",
        description="Fit an LSTM and a plain RNN of the same size on the adding problem "
                    "(a long-time-lag task), print their test error and fit time, and write "
                    "loss curves, the LSTM's gates on one sequence, and the gradient flow "
                    "of both models as PNG files.")
    demo.add_argument("--out", default="lstm-fast-demo", help="folder for the pictures "
                      "(default: ./lstm-fast-demo)")
    demo.add_argument("--samples", type=int, default=5000, help="training sequences")
    demo.add_argument("--steps", type=int, default=50, help="time steps per sequence")
    demo.add_argument("--hidden", type=int, default=32, help="hidden units of each model")
    demo.add_argument("--epochs", type=int, default=25, help="training epochs")
    demo.add_argument("--quick", action="store_true",
                      help="a few seconds on small data (the pictures, not the result)")
    demo.set_defaults(run=_demo)
    explain = sub.add_parser(
        "explain", help="write an interactive page stepping through one sequence",
        description="Load a model saved with est.save() and write a self-contained HTML page "
                    "that steps through one sequence: inputs, gates and states at each step.")
    explain.add_argument("model", help="a model file written by est.save(path)")
    explain.add_argument("input", help="one sequence: .npy (n_timesteps, n_features) or "
                         ".csv (one row per step)")
    explain.add_argument("--out", default="explain.html", help="page to write")
    explain.set_defaults(run=_explain)
    bench = sub.add_parser("bench", help="time the kernels against the NumPy reference")
    bench.add_argument("--shapes", nargs="*", choices=["small", "medium", "large", "stream"],
                       help="shapes to run (default: all)")
    bench.add_argument("--modes", nargs="*", choices=["forward", "train"],
                       default=["forward", "train"], help="what to time (default: both)")
    bench.add_argument("--cells", nargs="*", choices=["lstm", "gru", "rnn"], default=["lstm"],
                       help="cells to time (default: lstm)")
    bench.add_argument("--compare", nargs="*", choices=["torch"], default=[],
                       help="also time the same layers in these libraries (when installed)")
    bench.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    bench.add_argument("--repeat", type=int, default=7, help="timed calls per measurement")
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
