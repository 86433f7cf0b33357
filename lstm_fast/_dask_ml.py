"""dask-ml's ``Incremental`` and ``ParallelPostFit`` for 3-D arrays of sequences.

Imported by :mod:`lstm_fast.dask` on first use (it needs dask and dask-ml).
dask-ml's wrappers are written for 2-D X (n_samples, n_features); ours is
3-D (n_sequences, n_steps, n_features). Three places in dask-ml (2025.1)
assume 2-D, and each is adapted here, nothing else:

- ``dask_ml._partial.fit`` (what ``Incremental.fit`` runs) names X's block
  ``i`` by the graph key ``(name, i, 0)``: the key of a 2-D array's block.
  A 3-D array's blocks are ``(name, i, 0, 0)``, so ``(name, i, 0)`` is no
  key and dask passes the tuple itself, as data, to ``partial_fit``:
  ``np.asarray`` of ``('array-…', i, 0)`` is an array of strings ("could
  not convert string to float: 'array-…'"). y's block is named
  ``(name, i)``, the key of a 1-D array's block: a 2-D y
  (``output="sequence"``, several outputs) reaches ``partial_fit`` as a
  tuple too ("X has 10 sequences, y has 2").
  ``Incremental`` here hands dask-ml a dask Bag of the blocks instead (the
  other collection ``dask_ml._partial.fit`` takes, named ``(name, i)``),
  one partition per block along axis 0: ``partial_fit`` gets each 3-D
  block as it is, in dask-ml's order.
- ``ParallelPostFit.predict`` guesses the output's metadata by predicting a
  dummy of shape ``(1, X.shape[1])``: for a 3-D X that is one univariate
  series of n_steps, which an estimator fitted on n_features > 1 refuses.
  Here the dummy is one sequence of X's shape, ``(1, n_steps,
  n_features)``, and its prediction also gives the output's shape.
- Its ``map_blocks(..., drop_axis=1)`` declares an output of ``X.ndim - 1
  = 2`` dimensions with X's chunks, and ``predict_proba`` declares chunks
  ``(X.chunks[0], n_classes)`` without dropping an axis: for a 3-D X
  neither says what comes back (1-D, 2-D or 3-D), so the result's shape is
  wrong or it fails to assemble. Here the output's axes after the first
  are declared from the dummy's prediction (``output="sequence"``:
  n_steps, and outputs or classes), and the axes of X it does not have
  are dropped.

And, as dask-ml rechunks a 2-D X into blocks of whole rows, a 3-D X is
rechunked into blocks of whole sequences (axes 1 and 2 in one chunk); its
blocks along axis 0 are kept as they are, so ``Incremental`` calls
``partial_fit`` once per block the user made.
"""

import dask
import dask.array as da
import dask.bag as db
import numpy as np
from dask.highlevelgraph import HighLevelGraph
from dask_ml import wrappers

__all__ = ["Incremental", "ParallelPostFit"]


def _whole_sequences(X):
    """X with one chunk along every axis but the first (a 3-D dask array)."""
    if X.numblocks[1:] != (1,) * (X.ndim - 1):
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
    return X


def _is_sequences(X):
    return isinstance(X, da.Array) and X.ndim == 3


def _call(block, estimator, method):
    return getattr(estimator, method)(block)


class _SequencesPostFit:
    """predict and predict_proba block by block on a 3-D dask array
    (dask-ml's predict_log_proba is the log of predict_proba); anything
    else goes to dask-ml's ParallelPostFit."""

    def _check_array(self, X):
        if _is_sequences(X):
            return _whole_sequences(X)
        return super()._check_array(X)

    def _map_sequences(self, method, X, meta):
        X = _whole_sequences(X)
        estimator = self._postfit_estimator
        # One sequence of X's own shape: what the output of each block looks
        # like after its first axis (dask-ml's dummy is (1, X.shape[1])).
        dummy = getattr(estimator, method)(np.zeros((1,) + X.shape[1:], dtype=X.dtype))
        if meta is None:
            meta = dummy[:0]
        ndim = dummy.ndim
        return X.map_blocks(
            _call, estimator=estimator, method=method, token=method, meta=meta,
            dtype=meta.dtype,
            chunks=(X.chunks[0],) + dummy.shape[1:],
            # X's axes beyond the output's are dropped; an output with
            # more axes than X never comes from our estimators.
            drop_axis=list(range(ndim, X.ndim)))

    def predict(self, X):
        """Predict for X, block by block for a dask array.

        Parameters
        ----------
        X : dask array of shape (n_sequences, n_steps, n_features), or
            anything dask-ml's ``ParallelPostFit.predict`` takes
            (a NumPy array or a list of sequences is predicted at once).

        Returns
        -------
        y : dask array, chunked along axis 0 as X is; what the estimator's
            ``predict`` returns for a NumPy X otherwise.
        """
        self._check_method("predict")
        if _is_sequences(X):
            return self._map_sequences("predict", X, self.predict_meta)
        return super().predict(X)

    def predict_proba(self, X):
        """Class probabilities, block by block for a dask array.

        Parameters
        ----------
        X : dask array of shape (n_sequences, n_steps, n_features), or
            anything dask-ml's ``ParallelPostFit.predict_proba`` takes.

        Returns
        -------
        proba : dask array of shape (n_sequences, n_classes), or
            (n_sequences, n_steps, n_classes) for ``output="sequence"``.
        """
        self._check_method("predict_proba")
        if _is_sequences(X):
            return self._map_sequences("predict_proba", X, self.predict_proba_meta)
        return super().predict_proba(X)


class ParallelPostFit(_SequencesPostFit, wrappers.ParallelPostFit):
    """dask-ml's ``ParallelPostFit`` that also predicts a 3-D dask array of
    sequences, block by block (blocks of whole sequences).

    What differs from dask-ml, and why: :mod:`lstm_fast._dask_ml`.

    Parameters
    ----------
    estimator : LSTMRegressor or LSTMClassifier, fitted
    scoring : str or callable, default=None
        As in dask-ml (``score`` hands dask arrays to the estimator's
        ``score``, which loads them into memory).
    predict_meta, predict_proba_meta : array, default=None
        Empty arrays of the outputs' type. Optional: one sequence of X's
        shape is predicted to find the output's dtype and shape.
    transform_meta : array, default=None
        As in dask-ml (the estimators have no ``transform``).

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from lstm_fast import LSTMRegressor
    >>> from lstm_fast.dask import ParallelPostFit
    >>> X = np.random.default_rng(0).standard_normal((40, 5, 2))
    >>> est = LSTMRegressor((4,), max_iter=1).fit(X, X[:, :, 0].sum(axis=1))
    >>> ParallelPostFit(est).predict(da.from_array(X, chunks=(10, 5, 2))).chunks
    ((10, 10, 10, 10),)
    """


class Incremental(_SequencesPostFit, wrappers.Incremental):
    """dask-ml's ``Incremental`` that also fits on a 3-D dask array of
    sequences: one ``partial_fit`` call (one epoch) per block along axis 0.

    Prediction is :class:`ParallelPostFit`'s. What differs from dask-ml,
    and why: :mod:`lstm_fast._dask_ml`.

    Parameters
    ----------
    estimator : LSTMRegressor or LSTMClassifier
        Cloned by ``fit``; ``partial_fit`` goes on from the fitted
        ``estimator_``. Fit arguments (``classes=`` for a classifier) go
        to every ``partial_fit`` call; ``sample_weight`` is refused with a
        3-D dask X (dask-ml would hand it whole to every block).
    scoring : str or callable, default=None
        As in dask-ml.
    shuffle_blocks : bool, default=True
        Visit the blocks in the order ``check_random_state(random_state)
        .shuffle`` gives, as dask-ml does; in order otherwise.
    random_state : int, RandomState or None, default=None
        The blocks' order (the network's initialisation and mini-batches
        follow the estimator's own ``random_state``).
    assume_equal_chunks : bool, default=False
        As in dask-ml (y is rechunked to X's blocks here).
    predict_meta, predict_proba_meta, transform_meta : array, default=None
        As in :class:`ParallelPostFit`.

    Attributes
    ----------
    estimator_ : LSTMRegressor or LSTMClassifier
        The fitted estimator (its fitted attributes are copied onto the
        wrapper too, as dask-ml does).
    """

    def _fit_for_estimator(self, estimator, X, y, **fit_kwargs):
        if not _is_sequences(X):
            return super()._fit_for_estimator(estimator, X, y, **fit_kwargs)
        if y is None:
            raise ValueError(f"{type(estimator).__name__} requires y: pass y, a dask or "
                             "NumPy array with one target (or row of targets) per sequence")
        if "sample_weight" in fit_kwargs and fit_kwargs["sample_weight"] is not None:
            # dask-ml passes fit arguments whole to every block's partial_fit.
            raise ValueError("sample_weight cannot be split into X's blocks by dask-ml's "
                             "Incremental; call est.partial_fit(X_block, y_block, "
                             "sample_weight=w_block) for each block yourself")
        X = _whole_sequences(X)
        y = da.asarray(y)
        if not np.isnan(X.shape[0]) and y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} sequences but y has {y.shape[0]} rows")
        # y's blocks must hold the targets of X's blocks.
        if y.chunks[0] != X.chunks[0] or y.numblocks[1:] != (1,) * (y.ndim - 1):
            y = y.rechunk((X.chunks[0],) + tuple((n,) for n in y.shape[1:]))
        return super()._fit_for_estimator(estimator, _blocks_bag(X), _blocks_bag(y),
                                          **fit_kwargs)


def _blocks_bag(array):
    """A dask Bag whose partition i is block i (along axis 0) of `array`,
    chunked along axis 0 only: the key ``(name, i)`` that
    ``dask_ml._partial.fit`` reads each block from."""
    name = "sequence-blocks-" + dask.base.tokenize(array)
    tail = (0,) * (array.ndim - 1)
    # Each key an alias of the array's block: no copy, no task.
    layer = {(name, i): (array.name, i) + tail for i in range(array.numblocks[0])}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[array])
    return db.Bag(graph, name, array.numblocks[0])
