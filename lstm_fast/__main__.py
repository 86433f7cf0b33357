"""The ``lstm-fast`` command (also ``python -m lstm_fast``).

Bad input (a missing or damaged file, an array of the wrong shape, an option
out of range) ends the command with one line on stderr that names the
argument and what it expected, and exit status 2; an unexpected failure
with one line and exit status 1. ``--traceback`` (or
``LSTM_FAST_TRACEBACK=1``) shows the full traceback instead.
"""

import argparse
import os
import sys

from ._version import __version__

TRACEBACK_ENV = "LSTM_FAST_TRACEBACK"


class UsageError(Exception):
    """Bad input to the command: reported as "argument NAME: MESSAGE", exit 2."""

    def __init__(self, argument, message):
        super().__init__(f"argument {argument}: {message}")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line (no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(text):
    return " ".join(str(text).split())


def _argument_type(convert, accept, expected):
    """An argparse type: the text converted (int, float) and accepted, else
    an error that says what was expected."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value
    return parse


_positive_int = _argument_type(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _argument_type(int, lambda v: v >= 0, "an integer of at least 0")
_positive_float = _argument_type(float, lambda v: 0 < v < float("inf"),
                                 "a positive number of seconds")
_fraction = _argument_type(float, lambda v: 0 <= v < 1, "a number in [0, 1)")  # dropout rates


def _at_least_two(text):
    value = _positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer of at least 2, got {text!r}")
    return value


def _writable_file(argument, path):
    """Refuse an output path whose folder is missing, before any long work."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(argument, f"{path} is a folder; expected a file name")
    if not os.path.isdir(folder):
        raise UsageError(argument, f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(argument, f"cannot write {path}: the folder {folder} is not writable")


def _needs_matplotlib(argument):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(argument, "needs matplotlib, which is not installed: "
                                   "pip install 'lstm-fast[plot]'") from None


# How to get each library `bench --compare` can time. torch is not in the
# compare extra: the public index's Linux wheel is the multi-GB CUDA build.
_INSTALL_HINTS = {
    "torch": "the CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu",
    "onnxruntime": "pip install 'lstm-fast[compare]'",
    "keras": "pip install tensorflow-cpu",
}


def _info(args):
    from . import show_config

    show_config()
    return 0


def _bench(args):
    import numpy as np

    from . import _benchmark, _compare, _fit_benchmark, _load_benchmark, show_config
    from ._config import config, get_num_threads

    compare = [lib for item in args.compare for lib in item.split(",") if lib]
    for lib in compare:
        if lib not in _compare.STEPPERS:
            raise UsageError("--compare", f"unknown library {lib!r}; choose from "
                                          f"{', '.join(_compare.STEPPERS)}")
    recurrent_dropout = args.recurrent_dropout
    if recurrent_dropout is None:
        recurrent_dropout = args.dropout
    for option, value in (("--dropout", args.dropout),
                          ("--recurrent-dropout", args.recurrent_dropout),
                          ("--fit-samples", args.fit_samples), ("--fit-epochs", args.fit_epochs),
                          ("--fit-rounds", args.fit_rounds), ("--fit-threads", args.fit_threads)):
        if value is not None and not args.fit:
            raise UsageError(option, "applies to the training table: add --fit")
    dropout = (args.dropout or 0.0, recurrent_dropout or 0.0)
    fit_samples = args.fit_samples or _fit_benchmark.N
    if fit_samples < _fit_benchmark.BATCH:
        raise UsageError("--fit-samples", f"must be at least the batch size "
                                          f"{_fit_benchmark.BATCH}, got {fit_samples}")
    fit_epochs = args.fit_epochs or _fit_benchmark.EPOCHS
    fit_rounds = args.fit_rounds or 3
    if (args.dropout is not None or args.recurrent_dropout is not None) and not any(dropout):
        raise UsageError("--dropout", "the rates are all 0: leave --dropout and "
                                      "--recurrent-dropout out for the table without dropout")
    if args.precision and args.dtype != "float32":
        raise UsageError("--precision", "times float32 layers and their int8 and bfloat16 "
                                        "copies: leave --dtype float64 out")
    if args.json:
        _writable_file("--json", args.json)
    if args.plot:
        _writable_file("--plot", args.plot)
        _needs_matplotlib("--plot")
    missing = [lib for lib in compare if not _compare.available(lib)]
    for lib in missing:
        print(f"not installed, left out: {lib} ({_INSTALL_HINTS[lib]})", file=sys.stderr)
    compare = [lib for lib in compare if lib not in missing]

    busy = _load_benchmark.machine_load()
    if busy:
        print(busy + "\n")
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
        trainers = tuple(lib for lib in compare if lib != "onnxruntime")
        sizes = {"epochs": fit_epochs, "n": fit_samples, "rounds": fit_rounds,
                 "threads": args.fit_threads}
        print(f"\nfit (N={fit_samples}, T={_fit_benchmark.T}, D={_fit_benchmark.D}, "
              f"H={_fit_benchmark.H}, batch {_fit_benchmark.BATCH}, Adam; {fit_epochs} "
              f"epochs timed, median of {fit_rounds} alternating rounds, "
              f"{args.fit_threads or 'all'} threads):\n")
        if any(dropout):
            report["fit_dropout"] = _fit_benchmark.run_dropout(trainers, *dropout, **sizes)
            print(_benchmark.format_dicts(report["fit_dropout"], [
                "implementation", "dropout", "s_per_epoch", "train_mse", "vs_lstm_fast"]))
            print("\n(dropout: dropout / recurrent_dropout; train_mse: predictions, which "
                  "drop nothing; vs_lstm_fast: against lstm_fast with dropout)")
            for lib in ("lstm_fast",) + trainers:
                print(f"{lib}: {_fit_benchmark.DROPOUT_NOTES[lib]}")
        else:
            report["fit"] = _fit_benchmark.run(trainers, **sizes)
            print(_benchmark.format_dicts(report["fit"], ["implementation", "s_per_epoch",
                                                          "train_mse", "vs_lstm_fast"]))
        report["fit_rss_mib_per_epoch"] = _fit_benchmark.rss_per_epoch()
        print("resident memory after each partial_fit epoch (MiB): "
              + ", ".join(f"{v:.1f}" for v in report["fit_rss_mib_per_epoch"]))
    if args.load is not None:
        libs = ("lstm_fast",) + tuple(lib for lib in compare if lib in ("torch", "onnxruntime"))
        loads = tuple(args.load) if args.load else (0, 1, None)
        report["load"] = _load_benchmark.run(args.shapes or tuple(_benchmark.SHAPES),
                                             tuple(args.modes), loads, libs,
                                             seconds=args.load_seconds)
        print("\nunder load: each configuration's calls back to back, LOAD busy processes "
              "competing; ratios to the same library on one thread under the same load:\n")
        print(_benchmark.format_dicts(report["load"], _load_benchmark.COLUMNS))
    if args.precision:
        from . import _precision_benchmark

        cells = tuple(dict.fromkeys("rnn_tanh" if c == "rnn" else c for c in args.cells))
        report["precision"] = _precision_benchmark.run_precision_benchmark(
            args.shapes or None, cells, rounds=args.repeat)
        print(f"\nreduced precision ({get_num_threads()} threads, median of {args.repeat} "
              "interleaved rounds; errors: max |Y - Y of lstm_fast float32| over the output "
              "of unit-variance input):\n")
        print(_precision_benchmark.format_table(report["precision"]))
    if args.json:
        _benchmark.to_json(rows, args.json, **report)
        print(f"\nwrote {args.json}")
    if args.plot:
        _benchmark.bar_chart(rows, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _output_folder(argument, path):
    """Create the output folder now: a path that cannot be one fails before
    the long work, not after it."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(argument, f"{path} is a file; expected a folder (new or existing) "
                                   "for the pictures")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UsageError(argument, f"cannot create the folder {path}: "
                                   f"{error.strerror or error}") from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(argument, f"cannot write in the folder {path}; choose another one")


# --quick: small data, for the pictures rather than the result; options
# given explicitly keep their values.
_DEMO_DEFAULTS = {"samples": 5000, "steps": 50, "epochs": 25}
_DEMO_QUICK = {"samples": 600, "steps": 20, "epochs": 2}


def _demo(args):
    from . import _demo

    _output_folder("--out", args.out)
    for name, default in (_DEMO_QUICK if args.quick else _DEMO_DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    try:
        _demo.run(out=args.out, n_samples=args.samples, n_timesteps=args.steps,
                  hidden=args.hidden, epochs=args.epochs)
    except MemoryError as error:  # sizes this machine cannot hold: the options' fault
        argument = "--hidden" if "hidden_layer_sizes" in str(error) else "--samples/--steps"
        raise UsageError(argument, f"too large for this machine: {_one_line(error)}") \
            from error
    return 0


def _load_estimator(path, argument="model"):
    """The estimator saved in `path`, whichever of the two classes it is."""
    from ._estimators import LSTMClassifier, LSTMRegressor

    _existing_file(argument, path, "a model file written by est.save(path)")
    try:
        try:
            return LSTMRegressor.load(path)
        except ValueError as error:  # the file says which class it holds
            if "LSTMClassifier" not in str(error):
                raise
            return LSTMClassifier.load(path)
    except (OSError, ValueError) as error:
        raise UsageError(argument, f"expected a model file written by est.save(path); "
                                   f"{_one_line(error)}") from error


def _existing_file(argument, path, expected):
    if not os.path.exists(path):
        raise UsageError(argument, f"no such file: {path} (expected {expected})")
    if os.path.isdir(path):
        raise UsageError(argument, f"{path} is a folder (expected {expected})")


def _load_sequence(path, n_features):
    """One sequence from a .npy or .csv file, as an (n_timesteps, n_features) array."""
    import numpy as np

    expected = (f"one sequence: a .npy file of shape (n_timesteps, {n_features}) or a .csv "
                f"file of one row per step and {n_features} columns")
    _existing_file("input", path, expected)
    try:
        if path.endswith(".csv"):
            x = np.loadtxt(path, delimiter=",", ndmin=2)
        else:
            x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        kind = ".csv file of numbers" if path.endswith(".csv") else ".npy file (np.save)"
        raise UsageError("input", f"cannot read {path} as a {kind}: {_one_line(error)}; "
                                  f"expected {expected}") from error
    if not isinstance(x, np.ndarray):  # an .npz archive
        x.close()
        raise UsageError("input", f"{path} is an .npz archive; expected {expected}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise UsageError("input", f"{path} holds {x.dtype} values; expected {expected}")
    if x.ndim == 1 and n_features == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != n_features or x.shape[0] == 0:
        hint = " (one sequence of several? save one: np.save(path, X[i]))" if x.ndim == 3 else ""
        raise UsageError("input", f"expected {expected} (the model was fitted on {n_features} "
                                  f"features), got a {x.ndim}-D array of shape {x.shape} in "
                                  f"{path}{hint}")
    return x


def _explain(args):
    _writable_file("--out", args.out)
    estimator = _load_estimator(args.model)
    compare = None if args.compare is None else _load_estimator(args.compare, "--compare")
    if compare is not None and compare.n_features_in_ != estimator.n_features_in_:
        raise UsageError("--compare", f"{args.compare} was fitted on {compare.n_features_in_} "
                                      f"features, {args.model} on {estimator.n_features_in_}: "
                                      f"both must read the same sequences")
    x = _load_sequence(args.input, estimator.n_features_in_)
    from ._explain import OptionError

    flags = {"y": "--target", "marks": "--mark", "feature_names": "--feature-names"}
    try:
        print(estimator.explain_html(x, args.out, y=args.target, compare=compare, task=args.task,
                                     marks=args.mark, feature_names=args.feature_names))
    except OptionError as error:
        raise UsageError(flags[error.option], _one_line(error)) from error
    except OSError as error:
        raise UsageError("--out", f"cannot write {args.out}: {_one_line(error)}") from error
    return 0


def main(argv=None):
    parser = _Parser(prog="lstm-fast", description="Fast CPU LSTM layers.",
                     epilog=f"Bad input ends a command with a one-line error (exit status 2); "
                            f"--traceback or {TRACEBACK_ENV}=1 shows the full traceback.")
    parser.add_argument("--version", action="version", version=f"lstm-fast {__version__}")
    parser.add_argument("--traceback", action="store_true", default=False,
                        help="on an error, print the full traceback (or set "
                             f"{TRACEBACK_ENV}=1)")
    # --traceback is accepted after the subcommand too; SUPPRESS keeps a
    # subcommand that does not see it from resetting the value given before.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, print the full traceback")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", parents=[common],
                          help="print version, ISA, OpenMP runtime and threads")
    info.set_defaults(run=_info)
    demo = sub.add_parser(
        "demo", parents=[common],
        help="LSTM vs plain RNN on the adding problem: results and pictures",
        description="Fit an LSTM and a plain RNN of the same size on the adding problem "
                    "(a long-time-lag task), print their test error and fit time, time one "
                    "training step against PyTorch (when installed) and the NumPy reference, "
                    "and write loss curves, the LSTM's gates on one sequence, and the gradient "
                    "flow of both models as PNG files, with an HTML page stepping through "
                    "one sequence.")
    demo.add_argument("--out", default="lstm-fast-demo", help="folder for the pictures "
                      "(default: ./lstm-fast-demo)")
    demo.add_argument("--samples", type=_positive_int,
                      help=f"training sequences (default: {_DEMO_DEFAULTS['samples']})")
    demo.add_argument("--steps", type=_at_least_two,
                      help=f"time steps per sequence (default: {_DEMO_DEFAULTS['steps']})")
    demo.add_argument("--hidden", type=_positive_int, default=32,
                      help="hidden units of each model (default: 32)")
    demo.add_argument("--epochs", type=_positive_int,
                      help=f"training epochs (default: {_DEMO_DEFAULTS['epochs']})")
    demo.add_argument("--quick", action="store_true",
                      help="a few seconds on small data (the pictures, not the result): "
                           + ", ".join(f"--{k} {v}" for k, v in _DEMO_QUICK.items())
                           + " unless given")
    demo.set_defaults(run=_demo)
    explain = sub.add_parser(
        "explain", parents=[common],
        help="write an interactive page stepping through one sequence",
        description="Load a model saved with est.save() and write a self-contained HTML page "
                    "that steps through one sequence: the prediction after every step, the "
                    "inputs, the states over the steps, and the gates and states at each step; "
                    "with --compare, a second model (say an RNN beside an LSTM) beside it.")
    explain.add_argument("model", help="a model file written by est.save(path)")
    explain.add_argument("input", help="one sequence: .npy (n_timesteps, n_features) or "
                         ".csv (one row per step)")
    explain.add_argument("--out", default="explain.html", help="page to write")
    explain.add_argument("--compare", metavar="MODEL2",
                         help="a second model file, fitted on the same features, shown beside "
                              "the first")
    explain.add_argument("--target", type=float, metavar="Y",
                         help="the sequence's true target, drawn in the chart")
    explain.add_argument("--mark", type=int, nargs="+", metavar="STEP",
                         help="steps to highlight (counted from 0)")
    explain.add_argument("--feature-names", nargs="+", metavar="NAME",
                         help="names of the input features (default x[0], x[1]...)")
    explain.add_argument("--task", metavar="TEXT",
                         help="the sentence at the top of the page: what the task is and what "
                              "to look for (default: a generic one)")
    explain.set_defaults(run=_explain)
    bench = sub.add_parser(
        "bench", parents=[common],
        help="time the kernels against the NumPy reference (and torch, onnxruntime, Keras)",
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
    bench.add_argument("--repeat", type=_positive_int, default=7,
                       help="timed calls per measurement")
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
    bench.add_argument("--load", nargs="*", type=_non_negative_int, metavar="K",
                       help="also time each shape on the default thread count and on one "
                            "thread while K busy processes compete for the cores, for each K "
                            "given (none given: 0, 1 and one per core), with the compared "
                            "torch and onnxruntime")
    bench.add_argument("--precision", action="store_true",
                       help="also time int8 and bfloat16 inference (layer.quantize) against "
                            "float32, torch's bfloat16 and quantize_dynamic and ONNX Runtime's "
                            "dynamically quantized graph (those installed), same weights, with "
                            "each one's largest error against float32")
    bench.add_argument("--load-seconds", type=_positive_float, default=3.0, metavar="S",
                       help="seconds of calls per configuration under --load (default 3)")
    bench.add_argument("--fit-samples", type=_positive_int, metavar="N",
                       help="training sequences of --fit (default 8192; at least 64)")
    bench.add_argument("--fit-epochs", type=_positive_int, metavar="N",
                       help="epochs timed per --fit round (default 3)")
    bench.add_argument("--fit-rounds", type=_positive_int, metavar="N",
                       help="alternating rounds of --fit; their median is shown (default 3)")
    bench.add_argument("--fit-threads", type=_positive_int, metavar="N",
                       help="threads of every library in --fit (default: all)")
    bench.add_argument("--dropout", type=_fraction, metavar="P",
                       help="--fit trains with this dropout (and, unless "
                            "--recurrent-dropout says otherwise, recurrent dropout), next to "
                            "lstm_fast and Keras without it")
    bench.add_argument("--recurrent-dropout", type=_fraction, metavar="P",
                       help="--fit's recurrent dropout (default: --dropout's)")
    bench.add_argument("--json", metavar="PATH", help="write every table as JSON")
    bench.add_argument("--plot", metavar="PATH",
                       help="write a bar chart of the speed-ups (PNG; needs matplotlib)")
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    if args.traceback or os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
        return args.run(args)
    prog = f"lstm-fast {args.command}"
    try:
        return args.run(args)
    except UsageError as error:
        print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - one line instead of a traceback
        print(f"{prog}: error: {type(error).__name__}: {_one_line(error)} (rerun with "
              f"--traceback for the details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
