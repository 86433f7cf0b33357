"""The ``lstm-fast`` command (also ``python -m lstm_fast``)."""

import argparse
import sys


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _info(args):
    from . import show_config

    show_config()
    return 0


def _bench(args):
    import numpy as np

    from . import _benchmark, _compare, _fit_benchmark, show_config
    from ._config import config

    compare = [lib for item in args.compare for lib in item.split(",") if lib]
    for lib in compare:
        if lib not in _compare.STEPPERS:
            print(f"--compare: unknown library {lib!r}; choose from "
                  f"{', '.join(_compare.STEPPERS)}", file=sys.stderr)
            return 2
    missing = [lib for lib in compare if not _compare.available(lib)]
    if missing:
        print(f"not installed, left out: {', '.join(missing)} "
              "(pip install 'lstm-fast[compare]')", file=sys.stderr)
    compare = [lib for lib in compare if lib not in missing]

    show_config()
    for lib in compare:
        print(f"{lib + ':':<16}{_compare.version(lib)}")
    sgemm = _benchmark.numpy_sgemm_gflops()
    print(f"{'numpy sgemm:':<16}{sgemm:.0f} GFLOP/s (float32 matmul 2048^3, same threads, "
          "OPENBLAS_CORETYPE unset)")
    print()
    rows = _benchmark.run(args.shapes or None, tuple(args.modes), np.dtype(args.dtype),
                          repeat=args.repeat, cells=tuple(args.cells), compare=tuple(compare),
                          reference=not args.no_reference)
    print(_benchmark.format_table(rows))
    report = {"config": config(), "numpy_sgemm_gflops": sgemm,
              "versions": {lib: _compare.version(lib) for lib in compare}}
    if args.dtypes:
        report["dtypes"] = _benchmark.run_dtypes(args.shapes or None, tuple(args.modes),
                                                 tuple(args.cells), repeat=args.repeat)
        print("\nfloat64 against float32:\n")
        print(_benchmark.format_dicts(report["dtypes"], ["cell", "shape", "mode", "float32_ms",
                                                         "float64_ms", "ratio"]))
    if args.threads is not None:
        report["threads"] = _benchmark.run_threads(args.shapes or ("medium", "large"),
                                                   tuple(args.modes), tuple(args.cells),
                                                   threads=args.threads or None,
                                                   repeat=args.repeat)
        print("\nthreads:\n")
        print(_benchmark.format_dicts(report["threads"], ["cell", "shape", "mode", "threads",
                                                          "one_thread_ms", "threads_ms",
                                                          "speedup"]))
    if args.fit:
        report["fit"] = _fit_benchmark.run(tuple(lib for lib in compare if lib != "onnxruntime"))
        print(f"\nfit (N={_fit_benchmark.N}, T={_fit_benchmark.T}, D={_fit_benchmark.D}, "
              f"H={_fit_benchmark.H}, batch {_fit_benchmark.BATCH}, Adam):\n")
        print(_benchmark.format_dicts(report["fit"], ["implementation", "s_per_epoch",
                                                      "train_mse", "vs_lstm_fast"]))
        report["fit_rss_mib_per_epoch"] = _fit_benchmark.rss_per_epoch()
        print("resident memory after each partial_fit epoch (MiB): "
              + ", ".join(f"{v:.1f}" for v in report["fit_rss_mib_per_epoch"]))
    if args.json:
        _benchmark.to_json(rows, args.json, **report)
        print(f"\nwrote {args.json}")
    if args.plot:
        _benchmark.bar_chart(rows, args.plot)
        print(f"wrote {args.plot}")
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
    bench = sub.add_parser(
        "bench", help="time the kernels against the NumPy reference (and torch, "
        "onnxruntime, Keras)",
        description="Time lstm_fast's layers against the NumPy reference and, with --compare, "
                    "the same layers (same weights, same threads) in other libraries, "
                    "side by side in this process; print one table of medians.")
    bench.add_argument("--shapes", nargs="*", choices=["small", "medium", "large", "stream"],
                       help="shapes to run (default: all)")
    bench.add_argument("--modes", nargs="*", choices=["forward", "train"],
                       default=["forward", "train"], help="what to time (default: both)")
    bench.add_argument("--cells", nargs="*", choices=["lstm", "gru", "rnn"], default=["lstm"],
                       help="cells to time (default: lstm)")
    bench.add_argument("--compare", nargs="*", default=[], metavar="LIB",
                       help="also time the same layers in these of torch, onnxruntime, keras "
                            "(space- or comma-separated; those not installed are left out)")
    bench.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    bench.add_argument("--repeat", type=int, default=7, help="timed calls per measurement")
    bench.add_argument("--no-reference", action="store_true",
                       help="skip the (slow) NumPy reference")
    bench.add_argument("--dtypes", action="store_true",
                       help="also time float64 against float32")
    bench.add_argument("--threads", nargs="*", type=_positive_int, metavar="N",
                       help="also time one thread against N threads, for each N given "
                            "(none given: all threads); on --shapes, or medium and large")
    bench.add_argument("--fit", action="store_true",
                       help="also time LSTMRegressor.fit against the compared libraries' "
                            "training loops, and resident memory across epochs")
    bench.add_argument("--json", metavar="PATH", help="write every table as JSON")
    bench.add_argument("--plot", metavar="PATH",
                       help="write a bar chart of the speed-ups (PNG; needs matplotlib)")
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
