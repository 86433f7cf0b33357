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
                          repeat=args.repeat, cells=tuple(args.cells))
    print(_benchmark.format_table(rows))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lstm-fast", description="Fast CPU LSTM layers.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print version, ISA, OpenMP runtime and threads")
    info.set_defaults(run=_info)
    bench = sub.add_parser("bench", help="time the kernels against the NumPy reference")
    bench.add_argument("--shapes", nargs="*", choices=["small", "medium", "large", "stream"],
                       help="shapes to run (default: all)")
    bench.add_argument("--modes", nargs="*", choices=["forward", "train"],
                       default=["forward", "train"], help="what to time (default: both)")
    bench.add_argument("--cells", nargs="*", choices=["lstm", "gru", "rnn"], default=["lstm"],
                       help="cells to time (default: lstm)")
    bench.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    bench.add_argument("--repeat", type=int, default=7, help="timed calls per measurement")
    bench.set_defaults(run=_bench)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
