"""Scaling sequences: any scikit-learn 2-D transformer, per feature over time.

scikit-learn's scalers take a 2-D table (n_samples, n_features); the
estimators here take sequences, (n_samples, n_timesteps, n_features), so
``make_pipeline(StandardScaler(), LSTMRegressor())`` fails on 3-D X.
:class:`SequenceTransformer` fits the scaler on every real time step of
every sequence as one row of a table, and applies it step by step: each
feature is scaled alike at every step of every sequence. Sequences come in
every form the estimators take (their own parser, ``_sequences.as_sequences``,
reads them), and padded steps stay padding.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import get_tags
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from ._sequences import as_sequences, is_ragged_list, step_mask

__all__ = ["SequenceTransformer"]


class _Batch:
    """Sequences as the estimators read them, and the form they came in.

    `steps` holds the real steps of all sequences as the rows of one 2-D
    table (n_real_steps, n_features), sequence by sequence, in time order;
    `rebuild` puts rows of that order back into the input's form, NaN at
    the padded steps.
    """

    def __init__(self, X, dtype):
        # The form is read before as_sequences: it turns every form into
        # one (n, T, D) array. A list is answered with a list only when its
        # sequences differ in length: what the estimators' predict does.
        self.ragged = is_ragged_list(X)
        if self.ragged:
            self.item_1d = [np.ndim(seq) == 1 for seq in X]
        else:
            # np.asarray, not np.ndim: array-likes may implement __array__ only.
            self.ndim = X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim
        padded, lengths = as_sequences(X, dtype)
        self.shape = padded.shape
        self.lengths = lengths
        self.mask = step_mask(lengths, *padded.shape[:2])
        self.steps = padded[self.mask]

    @property
    def n_features(self):
        return self.shape[2]

    def rebuild(self, rows):
        n, T, _ = self.shape
        dtype = rows.dtype if rows.dtype.kind == "f" else np.float64
        out = np.full((n, T, rows.shape[1]), np.nan, dtype=dtype)
        out[self.mask] = rows
        if self.ragged:
            return [out[i, :self.lengths[i], 0] if one_d else out[i, :self.lengths[i]]
                    for i, one_d in enumerate(self.item_1d)]
        return out[:, :, 0] if self.ndim == 2 else out


def _float_dtype(X):
    """float32 for float32 input (a list: its first sequence), else float64:
    the precision the caller chose, as scikit-learn's scalers keep it."""
    first = X[0] if is_ragged_list(X) else X
    return np.float32 if getattr(first, "dtype", None) == np.float32 else np.float64


def _inner_has(method):
    """available_if check: the wrapped transformer (fitted, else the
    parameter) has `method`."""
    def check(self):
        inner = getattr(self, "transformer_", self.transformer)
        if not hasattr(inner, method):
            raise AttributeError(f"{type(inner).__name__} has no {method}, so "
                                 f"SequenceTransformer has none either")
        return True
    return check


class SequenceTransformer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Apply a scikit-learn 2-D transformer per feature over all time steps.

    Fits `transformer` on the real time steps of all sequences as the rows
    of one table, shape (n_real_steps, n_features), and transforms every
    step with it: ``SequenceTransformer(StandardScaler())`` scales each
    feature by its mean and standard deviation over all steps of all
    sequences. Use it before an estimator of lstm-fast in a pipeline::

        make_pipeline(SequenceTransformer(StandardScaler()), LSTMRegressor())

    X comes in the forms :class:`~lstm_fast.LSTMRegressor` takes, and the
    output keeps the form:

    - 3-D (n_samples, n_timesteps, n_features): 3-D of the same shape;
    - 2-D (n_samples, n_timesteps), a batch of univariate series (as for
      the estimators, NOT a table of samples by features): 2-D;
    - a list of sequences of different lengths, each (T_i, n_features) or
      (T_i,): a list of arrays of the same shapes.

    Padded steps (a whole step of NaN after the last real step of a
    sequence) take no part in the fit and stay NaN in the output. NaN
    anywhere else is refused, with the error the estimators give.

    Parameters
    ----------
    transformer : estimator
        A scikit-learn transformer of 2-D data that keeps the number of
        features: StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler,
        QuantileTransformer, PowerTransformer, FunctionTransformer... It is
        cloned at fit; set its parameters through
        ``transformer__<name>`` (e.g. in a grid search).

    Attributes
    ----------
    transformer_ : estimator
        The clone of `transformer` fitted on the real steps.
    n_features_in_ : int
        Features per time step seen in fit.

    See Also
    --------
    sklearn.compose.TransformedTargetRegressor : with
        ``transformer=SequenceTransformer(StandardScaler())``, scales the
        per-step targets of ``LSTMRegressor(output="sequence")`` (y of shape
        (n_samples, n_timesteps[, n_outputs]), without padding).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from lstm_fast.preprocessing import SequenceTransformer
    >>> X = np.array([[[1.0, 10.0], [3.0, 30.0]],
    ...               [[5.0, 50.0], [np.nan, np.nan]]])   # 2nd: one step + padding
    >>> Xt = SequenceTransformer(StandardScaler()).fit_transform(X)
    >>> np.round(Xt[:, :, 0], 3)    # feature 0: mean 3, std 1.633 over 3 steps
    array([[-1.225,  0.   ],
           [ 1.225,    nan]])
    """

    def __init__(self, transformer):
        self.transformer = transformer

    def fit(self, X, y=None):
        """Fit the transformer on the real steps of all sequences.

        Parameters
        ----------
        X : array-like or list of arrays
            Shape (n_samples, n_timesteps, n_features), (n_samples,
            n_timesteps), or a list of (T_i, n_features) / (T_i,) arrays;
            trailing all-NaN steps are padding.
        y : None
            Ignored: a per-sequence target has no row per step to give the
            transformer.

        Returns
        -------
        self : SequenceTransformer
        """
        batch = self._fit_batch(X)
        self.transformer_.fit(batch.steps)
        # One step through the fitted transformer: one that changes the
        # number of features is refused at fit, not at the first transform.
        self._check_rows(self.transformer_.transform(batch.steps[:1]), 1, "transform")
        return self

    def fit_transform(self, X, y=None):
        """Fit the transformer on the real steps, and transform X.

        Parameters
        ----------
        X : array-like or list of arrays
            As in :meth:`fit`.
        y : None
            Ignored.

        Returns
        -------
        Xt : ndarray or list of ndarray
            X transformed, in X's form; NaN at the padded steps.
        """
        batch = self._fit_batch(X)
        rows = self.transformer_.fit_transform(batch.steps)
        return batch.rebuild(self._check_rows(rows, len(batch.steps), "fit_transform"))

    def transform(self, X):
        """Transform every real step of X with the fitted transformer.

        Parameters
        ----------
        X : array-like or list of arrays
            As in :meth:`fit`, with as many features per step; any number
            of sequences and steps.

        Returns
        -------
        Xt : ndarray or list of ndarray
            X transformed, in X's form; NaN at the padded steps.
        """
        return self._apply("transform", X)

    @available_if(_inner_has("inverse_transform"))
    def inverse_transform(self, X):
        """Undo :meth:`transform` (when the transformer can).

        Parameters
        ----------
        X : array-like or list of arrays
            Transformed sequences (or predictions of a model trained on
            them), in any form :meth:`fit` takes.

        Returns
        -------
        X : ndarray or list of ndarray
            In the original scale, in X's form; NaN at the padded steps.
        """
        return self._apply("inverse_transform", X)

    def get_feature_names_out(self, input_features=None):
        """Names of the features of each output step.

        Parameters
        ----------
        input_features : array-like of str or None
            Names of the n_features_in_ features of a step; None: x0, x1...

        Returns
        -------
        ndarray of str
            The transformer's names for them (the input names for a scaler).
        """
        check_is_fitted(self)
        input_features = _check_feature_names_in(self, input_features)
        if hasattr(self.transformer_, "get_feature_names_out"):
            return self.transformer_.get_feature_names_out(input_features)
        return input_features

    def _fit_batch(self, X):
        if not (hasattr(self.transformer, "fit") and hasattr(self.transformer, "transform")):
            raise TypeError(
                f"transformer must be a scikit-learn transformer (with fit and transform), "
                f"e.g. StandardScaler(); got {self.transformer!r}")
        batch = _Batch(X, _float_dtype(X))
        self.transformer_ = clone(self.transformer)
        self.n_features_in_ = batch.n_features
        return batch

    def _apply(self, method, X):
        check_is_fitted(self)
        batch = _Batch(X, _float_dtype(X))
        if batch.n_features != self.n_features_in_:
            raise ValueError(f"X has {batch.n_features} features per time step, but "
                             f"SequenceTransformer was fitted with {self.n_features_in_}")
        rows = getattr(self.transformer_, method)(batch.steps)
        return batch.rebuild(self._check_rows(rows, len(batch.steps), method))

    def _check_rows(self, rows, n_rows, method):
        """The transformer's output as a dense (n_rows, n_features_in_) array,
        finite: NaN at a real step would read as padding downstream."""
        name = type(self.transformer_).__name__
        if sp.issparse(rows):
            raise ValueError(f"{name}.{method} returned a sparse matrix; SequenceTransformer "
                             f"needs dense output (e.g. sparse_output=False)")
        rows = np.asarray(rows)  # a DataFrame under set_output(transform="pandas")
        if rows.shape != (n_rows, self.n_features_in_):
            raise ValueError(
                f"{name}.{method} turned {self.n_features_in_} features per step into "
                f"{rows.shape[1] if rows.ndim == 2 else rows.shape}; SequenceTransformer "
                f"needs a transformer that keeps the features of each step (a scaler); "
                f"reduce or expand features before making sequences")
        if rows.dtype.kind in "fc" and not np.isfinite(rows).all():
            raise ValueError(f"{name}.{method} returned NaN or infinity at a real step; "
                             f"the estimators would read NaN as padding")
        return rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        # allow_nan stays False, as for the estimators: NaN is refused
        # except as whole trailing steps (padding), which this tag cannot say.
        if hasattr(self.transformer, "__sklearn_tags__"):
            inner = get_tags(self.transformer).transformer_tags
            if inner is not None:
                tags.transformer_tags.preserves_dtype = inner.preserves_dtype
        return tags
