"""The ``lstm-fast`` command (also ``python -m lstm_fast``)."""

import argparse
import sys


def _info(args):
    from . import show_config

    show_config()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lstm-fast", description="Fast CPU LSTM layers.")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print version, ISA, OpenMP runtime and threads")
    info.set_defaults(run=_info)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
