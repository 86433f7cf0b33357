"""The package version: the one place it is written.

pyproject.toml reads it from here at build time (scikit-build-core's regex
metadata provider), so the wheel's name, its metadata and
``lstm_fast.__version__`` cannot disagree, installed or not.
"""

__version__ = "0.1.0"
