"""Fit and predict on dask arrays of sequences bigger than memory.

``Incremental`` and ``ParallelPostFit`` are dask-ml's wrappers
(``dask_ml.wrappers``), subclassed so that they take the estimators' 3-D X
(n_sequences, n_steps, n_features) as a dask array, chunked along the
sequences:

- ``Incremental(est).fit(X, y)`` calls ``est.partial_fit`` (one epoch) on
  each block of sequences in turn, as dask-ml does for a 2-D X;
- ``ParallelPostFit(est).predict(X)`` (and ``predict_proba``,
  ``predict_log_proba``, and ``Incremental``'s) predicts each block where
  it lies (on the workers of a dask.distributed cluster), a dask array
  back.

dask-ml's own wrappers fail on a 3-D X; why, and the three things adapted,
are in :mod:`lstm_fast._dask_ml`. Every other parameter and behaviour is
dask-ml's. dask and dask-ml are optional: ``pip install "dask[distributed]"
dask-ml``; the import of this module works without them, and the first use
of a name says what to install.
"""

__all__ = ["Incremental", "ParallelPostFit"]

_INSTALL = 'pip install "dask[distributed]" dask-ml'


def __getattr__(name):
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from lstm_fast import _dask_ml
    except ImportError as exc:
        raise ImportError(f"lstm_fast.dask.{name} needs dask and dask-ml ({exc}): "
                          f"{_INSTALL}") from exc
    return getattr(_dask_ml, name)


def __dir__():
    return sorted(list(globals()) + __all__)
