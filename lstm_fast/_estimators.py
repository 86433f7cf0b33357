"""scikit-learn estimators trained by the C kernels: LSTMRegressor, LSTMClassifier.

The split follows ``sklearn/neural_network/_multilayer_perceptron.py``: the
private :class:`_BaseRecurrent` holds the algorithm (network construction,
epochs, minibatches, early stopping, prediction and scoring); the public
classes only add the loss, the output activation and the handling of their
targets. What is not the algorithm lives beside it: parsing X and y into
padded arrays in :mod:`._sequences`, the file format of save/load in
:mod:`._persistence`, the state a Ctrl-C leaves in :mod:`._checkpoint`.
"""

import copy
import functools
import inspect
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (Interval, Options, StrOptions,
                                            validate_parameter_constraints)
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d
from threadpoolctl import ThreadpoolController

from . import _persistence
from ._checkpoint import EpochCheckpoint
from ._layer_base import check_memory
from ._losses import monotone_quantiles
from ._network import CELLS, LOSSES, RecurrentNetwork, softmax
from ._quantize import PRECISIONS, check_precision
from ._optimizers import LR_SCHEDULES, AdamOptimizer, SGDOptimizer, clip_grad_norm
from ._sequences import (as_sample_weight, as_sequences, is_ragged_list, pad_targets,
                         step_mask, unpad)

__all__ = ["LSTMRegressor", "LSTMClassifier"]

#: Sequences per forward pass in predict: bounds memory, not results (the
#: kernels give every sequence the same result whatever the batch).
_PREDICT_CHUNK = 1024

#: What to do instead of looking inside a quantized copy (_refuse_reduced).
_ON_THE_FLOAT_MODEL = ("Call {} on the float32 estimator it came from: it runs the training "
                       "kernels, which take float32 weights only")


# --------------------------------------------------------------- estimators


@functools.lru_cache(maxsize=None)
def _threadpool_controller():
    """One scan of the process's thread pools (BLAS, OpenMP), kept: a new
    ``threadpool_limits`` scans every loaded library again, 0.4 ms here and
    several with torch loaded, next to a small predict's 1 ms. Pools of
    libraries loaded later are not limited by the estimators; ours and
    numpy's BLAS are loaded before."""
    return ThreadpoolController()


def _base_and_own_signature(init):
    """The signature of a derived estimator's ``__init__(self,
    hidden_layer_sizes, *, <own parameters>, **base_params)``: every
    parameter of ``_BaseRecurrent.__init__``, then the class's own.

    scikit-learn reads an estimator's parameters from its ``__init__``'s
    signature (``get_params``, ``clone``, the repr), so the derived classes
    must show the base's parameters there; stating that signature once,
    here, keeps them from repeating the base's list (which MLPRegressor and
    MLPClassifier write out twice)."""
    base = list(inspect.signature(_BaseRecurrent.__init__).parameters.values())
    own = [p for p in inspect.signature(init).parameters.values()
           if p.kind is inspect.Parameter.KEYWORD_ONLY]
    return inspect.Signature(base + own)




class _BaseRecurrent(BaseEstimator):
    """Base class of the recurrent estimators. Use the derived classes.

    Holds the algorithm: input validation, network construction, the
    minibatch loop, early stopping, prediction and scoring (save and load
    call :mod:`._persistence`). A derived class supplies what depends on
    its targets:

    - ``_loss``: the key of its loss in ``LOSSES`` (or ``_loss_function``,
      for a loss that depends on parameters);
    - ``_is_classifier``: stratify the validation split, save the labels;
    - ``_metric(y_true, y_pred, sample_weight=None)``: what score() is;
    - ``_validate_y`` and ``_n_outputs_from``: y as the network's target,
      the fitted attributes it sets, and the width of the head;
    - ``_class_weight_vector``: the classifier's class weights (the base
      has none);
    - ``_output_activation``, ``_score_output`` (the validation score),
      ``_score_steps`` (score() at the real steps of output="sequence")
      and ``_stream_prediction``: from the head's output to predictions.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "cell": [StrOptions(set(CELLS))],
        "bidirectional": ["boolean"],
        "output": [StrOptions({"last", "sequence"})],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "recurrent_dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "learning_rate": [StrOptions(set(LR_SCHEDULES))],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "clip_norm": [None, Interval(Real, 0, None, closed="neither")],
        "n_jobs": [None, Integral],
        "dtype": [Options(type, {np.float32, np.float64}),
                  StrOptions({"float32", "float64"})],
    }

    def __init__(self, hidden_layer_sizes=(64,), *, cell="lstm", bidirectional=False,
                 output="last",
                 solver="adam", alpha=0.0001, dropout=0.0, recurrent_dropout=0.0,
                 batch_size="auto", learning_rate_init=0.001,
                 learning_rate="constant", power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, clip_norm=None, n_jobs=None, dtype=np.float32):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.cell = cell
        self.bidirectional = bidirectional
        self.output = output
        self.solver = solver
        self.alpha = alpha
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.clip_norm = clip_norm
        self.n_jobs = n_jobs
        self.dtype = dtype

    # ----------------------------------------------------------- validation

    def _dtype(self):
        return np.dtype(self.dtype)

    def _threads(self):
        """Context that sets the kernels' OpenMP threads to n_jobs (if given)
        and BLAS to one thread: the only BLAS work here is a few small
        products per minibatch, and idle BLAS threads spinning after them
        would take cores from the kernels."""
        limits = {"blas": 1}
        if self.n_jobs is not None:
            limits["openmp"] = effective_n_jobs(self.n_jobs)
        return _threadpool_controller().limit(limits=limits)

    def _validate_X(self, X, reset):
        X, lengths = as_sequences(X, self._dtype())
        if not reset:
            check_is_fitted(self)
            if X.shape[2] != self.n_features_in_:
                # scikit-learn's wording first (check_n_features_in_after_fitting
                # matches it), then what a feature is to a sequence model.
                name, got, fitted = type(self).__name__, X.shape[2], self.n_features_in_
                raise ValueError(
                    f"X has {got} features, but {name} is expecting {fitted} features "
                    f"as input: X has {got} features per time step, but {name} was "
                    f"fitted with {fitted} (features are the last axis of a 3-D X; a "
                    f"2-D X is a batch of univariate series, of 1 feature)"
                )
        return X, lengths

    def _validate_data(self, X, y, reset, classes=None):
        """X, lengths, y as the network's training target, the step mask
        (output="sequence" only), and the fitted attributes the targets set."""
        X, lengths = self._validate_X(X, reset)
        n, T, _ = X.shape
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             f"target y is None")
        if self.output == "sequence":
            y = pad_targets(y, T)
        y = np.asarray(y)
        if y.ndim == 0 or len(y) != n:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: X has {n} "
                f"sequences, y has {len(y) if y.ndim else 'a scalar'}"
            )
        mask = step_mask(lengths, n, T) if self.output == "sequence" else None
        target, target_attrs = self._validate_y(y, mask, T, reset, classes)
        return X, lengths, target, mask, target_attrs

    def _class_weight_vector(self, target, mask, sample_weight, target_attrs):
        """Weight of each class (n_classes,), or None: no class weights (the
        classifier's class_weight)."""
        return None

    def _weights(self, sample_weight, target, mask, class_weight):
        """The weights the training loss and the validation score use.

        Returns None when neither sample weights nor class weights are given
        (the unweighted path, with the step mask alone, as before weights
        existed). Otherwise ``(row, loss)``: ``row`` (n,), each sequence's
        weight (the L2 term's and the epoch mean's denominator sums it);
        ``loss``, the weight of each entry of the loss: (n,) for
        output="last" (sample weight times its class's weight), (n, T) for
        output="sequence" (the sample's weight at each real step, times the
        class weight of the step's label; 0 at padded steps).
        """
        if sample_weight is None and class_weight is None:
            return None
        row = np.ones(len(target)) if sample_weight is None else sample_weight
        loss = row if mask is None else row[:, None] * mask
        if class_weight is not None:
            loss = loss * class_weight[np.maximum(target, 0)]  # padded steps: code -1
            if mask is None:
                row = loss
        return row, loss

    def _validate_weights(self, sample_weight, target, mask, target_attrs, check_classes):
        """sample_weight checked and, with the class weights, as :meth:`_weights`."""
        sample_weight = as_sample_weight(sample_weight, len(target))
        class_weight = self._class_weight_vector(target, mask, sample_weight, target_attrs)
        weights = self._weights(sample_weight, target, mask, class_weight)
        if weights is not None:
            loss_w = weights[1]
            if not loss_w.any():
                raise ValueError("sample_weight and class_weight give every sequence (or "
                                 "every real step) a zero weight: nothing to learn from")
            if self._is_classifier and check_classes:
                # A zero weight removes a sample: as fit refuses a y of one class.
                codes = target if mask is None else target[mask]
                kept = np.unique(codes[(loss_w if mask is None else loss_w[mask]) > 0])
                if len(kept) < 2:
                    raise ValueError(
                        f"Classifier can't train when only one class has a non-zero "
                        f"weight: sample_weight and class_weight leave only class "
                        f"{target_attrs['classes_'][kept[0]]!r}")
        return weights, class_weight

    def _validate_validation_set(self, X_val, y_val, sample_weight_val, n_features, target,
                                 target_attrs, class_weight):
        """fit's X_val, y_val, sample_weight_val as the validation score takes
        them: (X, lengths, target, mask, loss weights or None), or None when
        no validation set is given."""
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val is given without X_val and y_val")
            return None
        if y_val is None:
            raise ValueError("X_val is given, but y_val is not: pass both, or neither")
        if X_val is None:
            raise ValueError("y_val is given, but X_val is not: pass both, or neither")
        try:
            X_val, len_val = as_sequences(X_val, self._dtype(), name="X_val")
        except ValueError as exc:
            if "X_val" in str(exc):
                raise
            raise ValueError(f"X_val (the validation sequences) is invalid: {exc}") from exc
        n, T, D = X_val.shape
        if D != n_features:
            raise ValueError(f"X_val has {D} features per time step, but X has "
                             f"{n_features}")
        if n < 2:
            raise ValueError(f"X_val has {n} sequence; the validation score needs at "
                             f"least 2")
        if self.output == "sequence":
            y_val = pad_targets(y_val, T)
        y_val = np.asarray(y_val)
        if y_val.ndim == 0 or len(y_val) != n:
            raise ValueError(f"y_val has {len(y_val) if y_val.ndim else 'a scalar'} "
                             f"targets, but X_val has {n} sequences")
        mask = step_mask(len_val, n, T) if self.output == "sequence" else None
        try:
            t_val, _ = self._validate_y(y_val, mask, T, True, target_attrs.get("classes_"))
        except ValueError as exc:
            raise ValueError(f"y_val (the validation targets) is invalid: {exc}") from exc
        if not self._is_classifier and t_val.shape[-1] != target.shape[-1]:
            raise ValueError(f"y_val has {t_val.shape[-1]} outputs, but y has "
                             f"{target.shape[-1]}")
        sample_weight_val = as_sample_weight(sample_weight_val, n, "sample_weight_val")
        weights = self._weights(sample_weight_val, t_val, mask, class_weight)
        if weights is not None and not weights[1].any():
            raise ValueError("sample_weight_val and class_weight give every validation "
                             "sequence (or step) a zero weight")
        return X_val, len_val, t_val, mask, None if weights is None else weights[1]

    # -------------------------------------------------------------- network

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not sizes or any(
            not isinstance(s, Integral) or isinstance(s, bool) or s < 1 for s in sizes
        ):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got "
                             f"{self.hidden_layer_sizes!r}")
        return tuple(int(s) for s in sizes)

    def _loss_function(self):
        """The training loss, ``f(out, target, weights) -> (loss, d_out)``."""
        return LOSSES[self._loss]

    def _make_optimizer(self, params):
        schedule = {"lr_schedule": self.learning_rate, "power_t": self.power_t}
        if self.solver == "adam":
            return AdamOptimizer(params, self.learning_rate_init, self.beta_1, self.beta_2,
                                 self.epsilon, **schedule)
        return SGDOptimizer(params, self.learning_rate_init, self.momentum, **schedule)

    def _validate_schedule_params(self):
        """scikit-learn's check of learning_rate and power_t, also where it
        skips its own: a partial_fit of a fitted estimator (which starts a
        new optimizer from them after load)."""
        names = ("learning_rate", "power_t")
        validate_parameter_constraints({k: self._parameter_constraints[k] for k in names},
                                       {k: getattr(self, k) for k in names},
                                       caller_name=type(self).__name__)

    def _forward_pass(self, network, X, lengths):
        """Network output (after the output activation), in chunks of sequences."""
        outs = []
        for start in range(0, X.shape[0], _PREDICT_CHUNK):
            stop = start + _PREDICT_CHUNK
            Xc = X[start:stop]
            lc = None if lengths is None else lengths[start:stop]
            if lc is not None:
                Xc = Xc[:, :int(lc.max())]
            out = network.forward(np.ascontiguousarray(Xc), lc)
            if out.ndim == 3 and out.shape[1] < X.shape[1]:
                out = np.concatenate(
                    [out, np.zeros((out.shape[0], X.shape[1] - out.shape[1], out.shape[2]),
                                   out.dtype)], axis=1)
            outs.append(out)
        # float64 out, as scikit-learn expects of predictions and probabilities.
        return self._output_activation(np.concatenate(outs).astype(np.float64))

    def _backprop(self, network, X, lengths, target, mask, weight_sum=None, dropout=None):
        """Loss of one minibatch; its gradient lands in ``network.grad``.

        `mask`: the step mask, or the loss weights of a weighted fit (then
        `weight_sum`, the batch's sum of sequence weights, divides the L2
        term instead of the batch size, as in MLP). `dropout`: as
        :meth:`RecurrentNetwork.forward` takes it, or None."""
        out, state = network.forward(X, lengths, training=True, dropout=dropout)
        loss, d_out = self._loss_function()(out, target, mask)
        network.backward(state, d_out)
        if self.alpha:
            n = X.shape[0] if weight_sum is None else weight_sum
            w = network.params[:network.n_weights]
            loss += 0.5 * self.alpha * float(np.dot(w, w)) / n
            network.grad[:network.n_weights] += network.dtype.type(self.alpha / n) * w
        return loss

    # ----------------------------------------------------------------- fit

    def _fit(self, X, y, incremental=False, classes=None, sample_weight=None,
             X_val=None, y_val=None, sample_weight_val=None):
        self._refuse_reduced("partial_fit" if incremental else "fit")
        hidden = self._hidden_sizes()
        self._validate_schedule_params()
        reset = not hasattr(self, "network_") or not (incremental or self.warm_start)
        X, lengths, target, mask, target_attrs = self._validate_data(X, y, reset, classes)
        weights, class_weight = self._validate_weights(
            sample_weight, target, mask, target_attrs, check_classes=reset and classes is None)
        validation = self._validate_validation_set(X_val, y_val, sample_weight_val,
                                                   X.shape[2], target, target_attrs,
                                                   class_weight)
        # As MLP: a new fit draws from random_state afresh; partial_fit and
        # warm_start go on with the stream the last fit left (not saved by
        # save()), so that each epoch shuffles and drops out differently;
        # from a copy, committed with the rest, so an interrupted fit
        # leaves the stream as it was.
        rng = getattr(self, "_random_state", None)
        rng = (check_random_state(self.random_state) if reset or rng is None
               else copy.deepcopy(rng))

        # Everything is computed into new objects and assigned at the end, so
        # a fit that fails leaves a fitted estimator as it was.
        if reset:
            n_outputs = self._n_outputs_from(target, target_attrs)
            self._check_fit_memory(X.shape[2], hidden, n_outputs)
            network = RecurrentNetwork(self.cell, X.shape[2], hidden, n_outputs,
                                       self.output, self._dtype(), self.bidirectional)
            network.initialize(rng)
            fitted = {"n_iter_": 0, "t_": 0, "loss_curve_": [], "_no_improvement_count": 0,
                      "best_loss_": np.inf, "validation_scores_": None,
                      "best_validation_score_": None}
            optimizer = None
        else:
            network = self._copy_network()
            if (network.hidden_layer_sizes != hidden or network.cell != self.cell
                    or network.bidirectional != self.bidirectional
                    or network.output != self.output or network.dtype != self._dtype()):
                raise ValueError(
                    "warm_start/partial_fit cannot change hidden_layer_sizes, cell, "
                    "bidirectional, output or dtype of a fitted estimator; fit a new one "
                    "instead"
                )
            fitted = {k: getattr(self, k) for k in (
                "n_iter_", "t_", "_no_improvement_count", "best_loss_",
                "best_validation_score_")}
            fitted["loss_curve_"] = list(self.loss_curve_)
            fitted["validation_scores_"] = (None if self.validation_scores_ is None
                                            else list(self.validation_scores_))
            optimizer = None
            if incremental and hasattr(self, "_optimizer"):
                optimizer = copy.deepcopy(self._optimizer)
        if optimizer is None:
            optimizer = self._make_optimizer(network.params)
        if fitted["best_loss_"] is None:
            fitted["best_loss_"] = np.inf
        fitted["learning_rates_"] = [] if reset else list(self.learning_rates_)
        fitted["_random_state"] = rng

        checkpoint = EpochCheckpoint()
        try:
            with self._threads(), np.errstate(over="ignore", invalid="ignore"):
                optimizer = self._fit_stochastic(network, optimizer, fitted, X, lengths,
                                                 target, mask, rng, incremental, checkpoint,
                                                 weights, validation)
        except KeyboardInterrupt:
            # Ctrl-C: keep what the completed epochs of this fit learned (as
            # if max_iter had been the number of them), then stop the caller.
            # With no completed epoch the estimator stays as it was.
            if checkpoint.epochs:
                optimizer = checkpoint.restore(network, fitted)
                self._commit(network, optimizer, fitted, X.shape[2], target_attrs)
            raise
        self._commit(network, optimizer, fitted, X.shape[2], target_attrs)
        return self

    def _commit(self, network, optimizer, fitted, n_features, target_attrs):
        """Set every fitted attribute in one step (one dict update: an
        interrupt cannot leave half of them assigned)."""
        attrs = dict(fitted)
        attrs.update(network_=network, _optimizer=optimizer, n_features_in_=int(n_features),
                     n_outputs_=network.n_outputs)
        # After: a regressor's quantile head has more columns than y has outputs.
        attrs.update(target_attrs)
        self.__dict__.update(attrs)

    def _check_fit_memory(self, n_features, hidden, n_outputs):
        """MemoryError before the network is built if its parameters, their
        gradient and the optimizer's state cannot fit in memory."""
        n_params = RecurrentNetwork.count_parameters(self.cell, n_features, hidden, n_outputs,
                                                     self.bidirectional)
        # params, grad, best params, the epoch checkpoint's params and
        # optimizer copy, and the optimizer (Adam: m, v; SGD: velocity).
        copies = 4 + (4 if self.solver == "adam" else 2)
        check_memory(copies * n_params * self._dtype().itemsize,
                     f"{type(self).__name__}.fit with hidden_layer_sizes="
                     f"{hidden if len(hidden) <= 6 else f'({hidden[0]}, ..., {hidden[-1]}): {len(hidden)} layers'} "
                     f"({n_params} parameters, with their gradient and optimizer state)",
                     "use smaller hidden_layer_sizes")

    def _fit_stochastic(self, network, optimizer, fitted, X, lengths, target, mask, rng,
                        incremental, checkpoint, weights=None, validation=None):
        """The epochs; returns the optimizer to keep. `checkpoint` receives
        the state after every completed epoch (for an interrupted fit).
        `weights`: None or as :meth:`_weights`; `validation`: fit's own
        validation set, as :meth:`_validate_validation_set` returns it."""
        early_stopping = self.early_stopping and not incremental
        n = X.shape[0]
        X_val = w_val = None
        if validation is not None:
            X_val, len_val, t_val, m_val, w_val = validation
            if fitted["validation_scores_"] is None:
                fitted["validation_scores_"] = []
                fitted["best_validation_score_"] = -np.inf
        elif early_stopping:
            idx = np.arange(n)
            stratify = target if (self._is_classifier and target.ndim == 1) else None
            idx_train, idx_val = train_test_split(
                idx, random_state=rng, test_size=self.validation_fraction, stratify=stratify)
            if len(idx_val) < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            X_val, len_val = X[idx_val], None if lengths is None else lengths[idx_val]
            t_val, m_val = target[idx_val], None if mask is None else mask[idx_val]
            X, target = X[idx_train], target[idx_train]
            lengths = None if lengths is None else lengths[idx_train]
            mask = None if mask is None else mask[idx_train]
            if weights is not None:
                w_val = weights[1][idx_val]
                weights = (weights[0][idx_train], weights[1][idx_train])
                for part, w in (("validation", w_val), ("training", weights[1])):
                    if not w.any():
                        raise ValueError(
                            f"The {part} split of early_stopping has only zero sample "
                            f"weights; change random_state or validation_fraction, or "
                            f"pass X_val and y_val")
            n = X.shape[0]
            if fitted["validation_scores_"] is None:
                fitted["validation_scores_"] = []
                fitted["best_validation_score_"] = -np.inf
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` larger than sample size. It is going to "
                              "be clipped")
            batch_size = int(np.clip(self.batch_size, 1, n))

        best_params = network.params.copy()
        # Dropout's masks come from their own stream, seeded from rng, so
        # that they do not shift the shuffling's.
        dropout = None
        if self.dropout or self.recurrent_dropout:
            dropout = (float(self.dropout), float(self.recurrent_dropout),
                       np.random.RandomState(rng.randint(np.iinfo(np.int32).max)))
        n_epochs = 1 if incremental else self.max_iter
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm
            progress = tqdm(total=n_epochs, unit="epoch", desc=f"{type(self).__name__}({self.cell})",
                            dynamic_ncols=True)
        diverged = False
        converged = False
        try:
            for _ in range(n_epochs):
                learning_rate = optimizer.epoch_begins(fitted["t_"])
                order = rng.permutation(n) if self.shuffle else np.arange(n)
                total = 0.0
                for start in range(0, n, batch_size):
                    idx = order[start:start + batch_size]
                    lb = None if lengths is None else lengths[idx]
                    Xb = X[idx]
                    mb = None if mask is None else mask[idx]
                    tb = target[idx]
                    if weights is not None:
                        # The loss weights replace the step mask (they hold it).
                        mb = weights[1][idx].astype(network.dtype)
                        batch_weight = float(weights[0][idx].sum())
                    if lb is not None:
                        T_b = int(lb.max())  # skip steps that are padding for all
                        Xb = np.ascontiguousarray(Xb[:, :T_b])
                        if mb is not None and mb.ndim == 2:
                            mb, tb = mb[:, :T_b], tb[:, :T_b]
                    if weights is None:
                        loss = self._backprop(network, Xb, lb, tb, mb, dropout=dropout)
                    elif not mb.any():
                        continue  # all weights zero: as if the batch were removed
                    else:
                        loss = self._backprop(network, Xb, lb, tb, mb, batch_weight, dropout)
                    if not np.isfinite(loss):
                        diverged = True
                        break
                    if self.clip_norm is not None:  # the norm is a pass over every gradient
                        clip_grad_norm(network.grad, self.clip_norm)
                    optimizer.update(network.params, network.grad)
                    total += loss * (len(idx) if weights is None else batch_weight)
                if not diverged and not np.all(np.isfinite(network.params)):
                    diverged = True
                if diverged:
                    break
                fitted["n_iter_"] += 1
                fitted["t_"] += n
                fitted["loss_curve_"].append(
                    total / (n if weights is None else float(weights[0].sum())))
                fitted["learning_rates_"].append(learning_rate)
                score = None
                if X_val is not None:
                    score = self._score_arrays(network, X_val, len_val, t_val, m_val, w_val)
                    fitted["validation_scores_"].append(score)
                    if not early_stopping:  # a validation set to watch, not to stop on
                        fitted["best_validation_score_"] = max(
                            fitted["best_validation_score_"], score)
                if self._update_no_improvement_count(fitted, early_stopping):
                    best_params[...] = network.params
                # MLP's rule: a stall stops training, or ("adaptive") divides
                # the rate and starts counting again. Decided before the
                # checkpoint, which must hold the state this epoch leaves.
                stalled = fitted["_no_improvement_count"] > self.n_iter_no_change
                if stalled:
                    stopping, outcome = optimizer.trigger_stopping()
                    if not stopping:
                        fitted["_no_improvement_count"] = 0
                checkpoint.save(best_params if early_stopping else network.params,
                                optimizer, fitted, early_stopping)
                if progress is not None:
                    postfix = {"loss": f"{fitted['loss_curve_'][-1]:.5g}"}
                    if score is not None:
                        postfix["val_score"] = f"{score:.4f}"
                    progress.set_postfix(postfix, refresh=False)
                    progress.update(1)
                if stalled:
                    what = ("Validation score" if early_stopping else "Training loss")
                    if progress is not None:
                        progress.write(f"{what} did not improve more than tol={self.tol} "
                                       f"for {self.n_iter_no_change} consecutive epochs. "
                                       f"{outcome}", file=sys.stderr)
                    if stopping:
                        converged = True
                        break
        finally:
            if progress is not None:
                progress.close()

        if diverged:
            network.params[...] = best_params
            # The optimizer's state (momentum, Adam's moments) led to the
            # divergence: a later partial_fit starts afresh from the restored
            # parameters instead of diverging again at once.
            optimizer = self._make_optimizer(network.params)
            warnings.warn(
                f"{type(self).__name__}: the training loss became NaN or infinite at "
                f"epoch {fitted['n_iter_'] + 1}; training stopped and the parameters of "
                f"the best epoch were restored. Try a lower learning_rate_init (now "
                f"{self.learning_rate_init}), gradient clipping (clip_norm=1.0), or "
                f"scaling X and y.",
                ConvergenceWarning,
            )
            if not fitted["loss_curve_"]:
                fitted["loss_curve_"].append(np.nan)
                fitted["learning_rates_"].append(learning_rate)
            return optimizer
        if early_stopping:
            # As MLP: keep the parameters of the best validation score.
            network.params[...] = best_params
            fitted["best_loss_"] = None
        if not converged and not incremental:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                f"the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return optimizer

    def _update_no_improvement_count(self, fitted, early_stopping):
        """MLP's rule; returns True when this epoch is the best so far."""
        if early_stopping:
            last = fitted["validation_scores_"][-1]
            if last < fitted["best_validation_score_"] + self.tol:
                fitted["_no_improvement_count"] += 1
            else:
                fitted["_no_improvement_count"] = 0
            if last > fitted["best_validation_score_"]:
                fitted["best_validation_score_"] = last
                return True
            return False
        last = fitted["loss_curve_"][-1]
        if last > fitted["best_loss_"] - self.tol:
            fitted["_no_improvement_count"] += 1
        else:
            fitted["_no_improvement_count"] = 0
        if last < fitted["best_loss_"]:
            fitted["best_loss_"] = last
            return True
        return False

    def _copy_network(self):
        return copy.deepcopy(self.network_)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None,
            sample_weight_val=None):
        """Fit the network to sequences X and targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or \
                (n_samples, n_timesteps), or list of arrays
            Input sequences. A 2-D X is a batch of univariate series. Pad
            shorter sequences at the end with NaN (whole steps), or pass a
            list of (n_timesteps_i, n_features) arrays.
        y : array-like
            One target per sequence (``output="last"``): shape (n_samples,)
            or (n_samples, n_outputs); or one per step (``output="sequence"``):
            shape (n_samples, n_timesteps[, n_outputs]) or a list; entries at
            padded steps are ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            One non-negative weight per sequence; None weighs all alike. Each
            minibatch's loss is the weighted mean ``sum_i w_i l_i / sum_i
            w_i`` over its sequences (for ``output="sequence"``, over their
            real steps: each step of sequence i has weight w_i, so the loss
            is ``sum_it w_i l_it / sum_it w_i`` over real steps), and the L2
            term is divided by the batch's ``sum_i w_i`` instead of its
            size, as :class:`~sklearn.neural_network.MLPRegressor` does. So
            a zero weight is the same as removing the sequence, and an
            integer weight the same as repeating it, whenever the batches
            hold the same sequences (one batch, ``shuffle=False``: otherwise
            the batches differ, and so do the steps). A minibatch whose
            weights are all zero makes no optimizer step. ``loss_curve_`` is
            the weighted mean of each epoch's loss. The validation split of
            ``early_stopping`` keeps its sequences' weights and its score is
            weighted by them. The classifier's `class_weight` multiplies in.
        X_val : array-like or list of arrays, default=None
            A validation set of your own, in the forms X takes (any number
            of time steps). When given, no validation split is carved out of
            X: ``validation_scores_`` holds its score (R^2 or accuracy)
            after each epoch, and with ``early_stopping=True`` training stops
            when it no longer improves and keeps the best epoch's
            parameters; with ``early_stopping=False`` the scores are only
            recorded (the training loss decides when to stop). In a
            :class:`~sklearn.pipeline.Pipeline` (metadata routing:
            ``est.set_fit_request(X_val=True, y_val=True)``), X_val reaches
            this estimator as given, NOT transformed by the earlier steps
            (scikit-learn's caveat for HistGradientBoosting's X_val; use
            ``Pipeline(..., transform_input=["X_val"])`` to transform it).
        y_val : array-like, default=None
            Targets of X_val, in the forms y takes; required with X_val.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of X_val's sequences in the validation score.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        KeyboardInterrupt
            When interrupted (Ctrl-C, SIGINT): fit stops after the kernel
            call in progress (one minibatch step at most) and re-raises, with
            the estimator as a fit with ``max_iter`` = the epochs completed
            would have left it: their parameters (with early stopping, the
            best validation epoch's), ``n_iter_``, ``loss_curve_`` and
            optimizer state; the epoch in progress is dropped. If no epoch
            completed, the estimator is left as it was before the call
            (unfitted, or its previous fit).
        MemoryError
            Before anything is allocated, if the network's parameters and
            optimizer state, or the training workspace, exceed the memory
            available.
        ValueError
            Before any training, the estimator left as it was: for bad X or
            y, weights that are negative, NaN, infinite, all zero or not of
            shape (n_samples,), X_val without y_val (or y_val without
            X_val), or a validation set that does not match X and y.
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight,
                         X_val=X_val, y_val=y_val, sample_weight_val=sample_weight_val)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current parameters.

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the sequences, as in :meth:`fit`.

        Returns
        -------
        self : object
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    # ---------------------------------------------------- reduced precision

    def quantize(self, precision):
        """An inference copy whose recurrent layers run int8 or bfloat16
        weights: smaller, and faster where the CPU has the dot products.

        ``"int8"``: each row of the recurrent layers' weight matrices
        quantized to int8 with its own scale, and at every step each row of
        the input and of the hidden state likewise, their products summed
        exactly in int32 (AVX512-VNNI where the CPU has it, the same bits
        without). ``"bfloat16"``: weights, inputs and states rounded to
        bfloat16, products summed in float32 (AVX512-BF16 where the CPU has
        it). Gate activations, states, biases and the head stay float32
        (see ``lstm_fast.layers.LSTM.quantize``).

        The copy predicts (``predict``, ``predict_proba``, ``score``...),
        streams (:meth:`stream`: the states of ``predict``), saves
        (:meth:`save`: the reduced arrays, a smaller file) and pickles. It
        does not train: ``fit`` and ``partial_fit`` refuse it, as do
        :meth:`inspect`, :meth:`gradient_flow` and :meth:`explain_html`,
        which need the training kernels; train the float32 estimator and
        quantize it again. :meth:`to_onnx` refuses it too (ONNX's nodes
        compute in float32): export the float32 estimator.
        ``sklearn.base.clone`` of it is an ordinary unfitted (float32)
        estimator.

        Parameters
        ----------
        precision : {"int8", "bfloat16"}

        Returns
        -------
        estimator
            A new fitted estimator of the same class and parameters, with
            ``precision_`` set to `precision`; this one is left as it is.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ValueError
            For an unknown precision, a ``dtype=np.float64`` estimator (fit
            it with float32), or an estimator that is already quantized.

        Examples
        --------
        >>> import numpy as np
        >>> from lstm_fast import LSTMRegressor
        >>> X = np.random.default_rng(0).standard_normal((64, 10, 2))
        >>> est = LSTMRegressor((8,), max_iter=5, random_state=0).fit(X, X.sum(axis=(1, 2)))
        >>> small = est.quantize("int8")
        >>> small.precision_, est.precision_
        ('int8', 'float32')
        >>> bool(np.abs(small.predict(X) - est.predict(X)).max() < 0.05)
        True
        """
        check_is_fitted(self)
        check_precision(precision)
        if self.precision_ in PRECISIONS:
            raise ValueError(f"this estimator is already {self.precision_}; quantize the "
                             f"float32 estimator it came from")
        if self.network_.dtype != np.float32:
            raise ValueError(f"reduced precisions run float32 models; this one was fitted "
                             f"with dtype={self.network_.dtype.name}: fit it with "
                             f"dtype=np.float32, then quantize")
        network = self.network_.quantize(precision)
        # The fitted attributes but the training state: the copy never trains.
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("network_", "_optimizer", "_random_state")}
        new = copy.deepcopy(state)
        est = type(self).__new__(type(self))
        est.__dict__.update(new, network_=network)
        return est

    @property
    def precision_(self):
        """The precision of the fitted recurrent layers' weights: the dtype's
        name ("float32", "float64") or, after :meth:`quantize`, "int8" or
        "bfloat16"."""
        if "network_" not in self.__dict__:
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet, "
                                 f"so it has no precision_")
        network = self.network_
        return network.precision or network.dtype.name

    def _refuse_reduced(self, what, advice=None):
        """ValueError, before anything changes, if this is a quantized copy:
        `what` (a method's name) needs the float32 model's training kernels."""
        network = self.__dict__.get("network_")
        if network is not None and network.precision is not None:
            advice = advice or (
                "It does not train: train the float32 estimator it came from (or "
                "sklearn.base.clone(est), an unfitted float32 estimator with the same "
                "parameters), then quantize it again")
            article = "an" if network.precision[0] in "aeiou" else "a"
            raise ValueError(
                f"{what}() needs the float32 model: this {type(self).__name__} is "
                f"{article} {network.precision} copy for inference, made by quantize(). "
                f"{advice}")

    def __repr__(self, N_CHAR_MAX=700):
        text = super().__repr__(N_CHAR_MAX)
        network = self.__dict__.get("network_")
        if network is not None and network.precision is not None:
            # As the code that made it reads.
            text += f".quantize({network.precision!r})"
        return text

    # -------------------------------------------------------------- predict

    def _predict_output(self, X):
        check_is_fitted(self)
        is_list = is_ragged_list(X)
        X, lengths = self._validate_X(X, reset=False)
        with self._threads():
            out = self._forward_pass(self.network_, X, lengths)
        return out, lengths, is_list

    def score(self, X, y, sample_weight=None):
        """R^2 (LSTMRegressor) or accuracy (LSTMClassifier) of the predictions.

        For ``output="sequence"``, over the real steps only.

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sequence; for ``output="sequence"``, of each of
            its real steps.

        Returns
        -------
        score : float
        """
        if self.output == "last":
            # What RegressorMixin.score and ClassifierMixin.score compute.
            return self._metric(y, self.predict(X), sample_weight=sample_weight)
        out, lengths, _ = self._predict_output(X)
        n, T = out.shape[:2]
        mask = step_mask(lengths, n, T)
        if sample_weight is not None:
            sample_weight = np.broadcast_to(
                as_sample_weight(sample_weight, n)[:, None], mask.shape)[mask]
        return self._score_steps(out[mask], np.asarray(pad_targets(y, T))[mask],
                                 sample_weight)

    def _score_arrays(self, network, X, lengths, target, mask, weights=None):
        """The validation score; `weights`: the loss weights of the set."""
        out = self._forward_pass(network, X, lengths)
        if mask is not None:
            out, target = out[mask], target[mask]
            weights = None if weights is None else weights[mask]
        return self._score_output(out, target, weights)

    # ---------------------------------------------------------- looking inside

    def inspect(self, X):
        """Gate activations and states of every layer at every step.

        Computed by the kernels in training mode (the same numbers a fit
        sees), for sequences X as :meth:`predict` takes them.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        Trace
            ``trace.layers[l]["f"]`` is layer l's forget gate, (n_samples,
            n_timesteps, hidden), NaN at padded steps; see :class:`Trace`.
        """
        from ._inspect import Trace

        check_is_fitted(self)
        self._refuse_reduced("inspect", _ON_THE_FLOAT_MODEL.format("inspect"))
        X, lengths = self._validate_X(X, reset=False)
        network = self._copy_network()  # its layers' scratch buffers are its own
        with self._threads():
            _, state = network.forward(X, lengths, training=True, keep_sequences=True)
            layers = network.trace(state)
        return Trace(layers=layers, lengths=lengths, cell=self.cell)

    def gradient_flow(self, X, y):
        """The norm of dLoss/dh_t at every step t, per layer, measured.

        The gradient of the training loss on (X, y) with respect to each
        hidden state (and the LSTM's cell state), from the real backward
        pass: the vanishing-gradient picture of a plain RNN, or the LSTM's
        cell-state highway, on this model and data.

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like

        Returns
        -------
        GradientFlow
            ``h_norm[l][t]`` (``c_norm`` for the LSTM); see
            :class:`GradientFlow`.
        """
        from ._inspect import GradientFlow, step_norms

        check_is_fitted(self)
        self._refuse_reduced("gradient_flow", _ON_THE_FLOAT_MODEL.format("gradient_flow"))
        X, lengths, target, mask, _ = self._validate_data(X, y, reset=False)
        network = self._copy_network()  # backward writes its gradient buffer
        with self._threads():
            out, state = network.forward(X, lengths, training=True)
            loss, d_out = self._loss_function()(out, target, mask)
            flows = network.backward(state, d_out, state_gradients=True)
        directions = 2 if self.bidirectional else 1
        h_norm = [step_norms(f["h_seq"], directions) for f in flows]
        c_norm = [step_norms(f["c_seq"], directions) for f in flows] \
            if "c_seq" in flows[0] else None
        return GradientFlow(h_norm=h_norm, c_norm=c_norm, loss=float(loss))

    def explain_html(self, x, path, *, y=None, compare=None, task=None, marks=None,
                     feature_names=None):
        """Write an interactive page that steps through one sequence.

        At the top, a sentence says what the page shows and what to look
        for; then a chart of the prediction after every step (regressors)
        with the true target, the inputs under it, each model's cell state
        (LSTM) or hidden state over the steps, and, at the step chosen with
        the slider or the arrow keys, every layer's gates and states (from
        :meth:`inspect`). With `compare`, a second model (an RNN beside an
        LSTM, say) is shown beside this one on the same sequence. One
        self-contained HTML file: inline SVG and JavaScript, nothing fetched
        from the network.

        Parameters
        ----------
        x : array-like of shape (n_timesteps, n_features) or (n_timesteps,)
            One sequence (trailing NaN steps are padding).
        path : str
            Where to write the page.
        y : float or array-like of shape (n_timesteps,), default=None
            The sequence's true target, drawn in the chart (one per step for
            ``output="sequence"``; for several outputs, the first one).
        compare : fitted LSTMRegressor or LSTMClassifier, default=None
            A second model fitted on the same features, shown beside this one.
        task : str, default=None
            The sentence at the top: what the task is and what to look for.
            By default a generic one.
        marks : sequence of int, default=None
            Steps to highlight (for example the steps a target depends on).
        feature_names : sequence of str, default=None
            Names of the input features (default ``x[0]``, ``x[1]``...).

        Returns
        -------
        str
            `path`.

        Raises
        ------
        ValueError
            If `compare` was fitted on other features, or `y`, `marks` or
            `feature_names` do not fit the sequence.
        """
        from ._explain import explain_html

        for model in (self, compare):
            if isinstance(model, _BaseRecurrent):
                model._refuse_reduced("explain_html", _ON_THE_FLOAT_MODEL.format("explain_html"))
        return explain_html(self, x, path, y=y, compare=compare, task=task, marks=marks,
                            feature_names=feature_names)

    # ------------------------------------------------------------ streaming

    def stream(self, n_streams=1):
        """A stateful object that predicts one observation at a time.

        Parameters
        ----------
        n_streams : int, default=1
            Number of independent sequences stepped in parallel.

        Returns
        -------
        Stream
            ``s.step(x_t)`` takes (n_features,) or (n_streams, n_features)
            and returns the prediction for that step, as ``predict`` with
            ``output="sequence"`` would give for it; ``s.reset()``,
            ``s.state``.

        A quantized estimator (:meth:`quantize`) streams its reduced
        weights: after each step the layers' states are, bit for bit,
        those of ``predict`` on the whole sequence, and the prediction is
        ``predict``'s up to the float32 rounding of the head, as for a
        float32 model.

        Raises
        ------
        ValueError
            For a bidirectional model (it needs the whole sequence).
        MemoryError
            If `n_streams` streams need more memory than is available.
        """
        check_is_fitted(self)
        from ._streaming import Stream

        return Stream(self, n_streams)

    # ---------------------------------------------------------- persistence

    def __setstate__(self, state):
        # Pickled by an lstm-fast before the learning-rate schedules: its
        # rate was constant, which of its epochs ran at which rate is unknown.
        state.setdefault("learning_rate", "constant")
        state.setdefault("power_t", 0.5)
        if "loss_curve_" in state and "learning_rates_" not in state:
            state["learning_rates_"] = [np.nan] * len(state["loss_curve_"])
        super().__setstate__(state)

    def save(self, path):
        """Save the fitted estimator without pickle: arrays + JSON metadata.

        Parameters
        ----------
        path : str, path-like or file-like
            Destination, written with :func:`numpy.savez`: like it, ``.npz``
            is appended to a name that does not end with it.

        Returns
        -------
        path : str or file-like
            What was written: the name with ``.npz`` as a str, or the given
            file-like object. :meth:`load` given the same `path` finds it.

        Notes
        -----
        A quantized estimator (:meth:`quantize`) writes its reduced arrays
        (int8 or bfloat16 weights, their row scales, float32 biases and
        head) and its precision, not float copies: a smaller file, which
        :meth:`load` gives back bit for bit (format version 2.0; lstm-fast
        versions before it refuse it, naming the version).
        """
        return _persistence.save(self, path)

    @classmethod
    def load(cls, path):
        """Load an estimator written by :meth:`save` (never runs stored code).

        Every entry is checked before it is used: the arrays' headers (no
        object arrays, the dtypes and shapes the metadata implies, no more
        bytes than the file holds) and the metadata (known keys, types and
        values), so a damaged or crafted file is refused before anything of
        the size it declares is allocated. The zip format's CRC-32 check
        catches bytes changed in the arrays or the metadata.

        Parameters
        ----------
        path : str, path-like or file-like
            The file, or the `path` given to :meth:`save`: a name that is
            not a file is tried with ``.npz`` appended, as numpy.savez (and
            so :meth:`save`) wrote it.

        Returns
        -------
        estimator : instance of this class

        Raises
        ------
        ValueError
            If the file is damaged, not an lstm-fast estimator, of another
            class, or of an incompatible (major) format version.
        OSError
            If the file cannot be opened (FileNotFoundError if neither
            `path` nor `path` + ".npz" exists).
        """
        return _persistence.load(cls, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------ ONNX

    def to_onnx(self, path=None, *, opset=None):
        """The fitted model as an ONNX graph, for ONNX Runtime (or any runtime).

        Built from standard ONNX operators: the recurrent layers as ``LSTM``
        / ``GRU`` / ``RNN`` nodes, the head and the output activation as
        plain operators. The graph takes what :meth:`predict` takes, as one
        array: X of shape (n_samples, n_timesteps, n_features) in the
        model's dtype, shorter sequences padded at the end with all-NaN
        steps (a 2-D batch of univariate series as ``X[..., None]``, a list
        as a NaN-padded array). It computes each sequence's length and feeds
        it to the recurrent nodes; any batch size and length work. The graph
        does not check X as predict does (NaN inside a sequence, infinity).

        Outputs, in the model's dtype (predict's are float64):

        - LSTMRegressor: ``"variable"``, predict's result (the predicted
          mean for ``loss="poisson"``, the non-crossing levels for
          ``loss="quantile"``; NaN at padded steps for ``output="sequence"``).
        - LSTMClassifier: ``"label"`` (predict) and ``"probabilities"``
          (predict_proba), skl2onnx's names.

        Parameters
        ----------
        path : str or path-like, optional
            Also write the model there (``onnx.save``). A model beyond the
            2 GiB one protobuf holds is written with its weights beside it,
            in ``path + ".data"`` (ONNX external data).
        opset : int, optional
            ONNX opset of the graph, from 14 to the installed onnx's newest;
            None: 14, which onnxruntime has run since version 1.8.

        Returns
        -------
        onnx.ModelProto

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        ImportError
            If onnx is not installed (``pip install onnx``).
        ValueError
            For an unsupported opset, classifier labels ONNX cannot hold
            (text that is not valid UTF-8), or a model beyond 2 GiB without
            a path to write its weights to.

        Notes
        -----
        onnxruntime runs LSTM, GRU and RNN nodes in float32 only: a float64
        model exports (with a warning) as a valid double graph that
        onnxruntime refuses. See docs/deploying.md.

        A quantized estimator (:meth:`quantize`) is refused (ValueError): a
        graph of standard nodes would compute in float32, so it would give
        neither this model's predictions (its kernels also round every
        step's inputs and states) nor a smaller file. Export the float32
        estimator instead, and quantize the graph with ONNX Runtime's
        ``quantize_dynamic`` for int8 weights (docs/deploying.md, "Int8").
        """
        from ._onnx import estimator_model

        return estimator_model(self, path, opset)


class LSTMRegressor(RegressorMixin, _BaseRecurrent):
    """LSTM regressor: stacked recurrent layers + a linear head.

    Trained by the C kernels of lstm-fast with Adam or SGD on minibatches.
    Parameters follow :class:`sklearn.neural_network.MLPRegressor` where the
    meaning is the same.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Hidden size of each stacked recurrent layer, bottom first.
    cell : {"lstm", "gru", "rnn"}, default="lstm"
        Recurrent cell: LSTM, GRU (as ``torch.nn.GRU``) or plain tanh RNN.
    bidirectional : bool, default=False
        Run every layer in both directions (the reverse one from each
        sequence's own last step) and concatenate them, as torch does.
        With output="last", the head sees the forward direction's final state
        beside the reverse direction's state after the first step.
    output : {"last", "sequence"}, default="last"
        "last": one target per sequence, predicted from the hidden state
        after its last (non-padded) step. "sequence": one target per step.
    solver : {"adam", "sgd"}, default="adam"
    alpha : float, default=1e-4
        L2 penalty on the weights (not the biases), as in MLP:
        ``loss += alpha * ||W||^2 / (2 * batch_size)``.
    dropout : float in [0, 1), default=0.0
        Fraction of each recurrent layer's input features dropped while
        training, the same ones at every step of a sequence (variational
        dropout, as Keras's LSTM and GRU ``dropout``; a new mask per
        sequence and minibatch, drawn from `random_state`). Kept features
        are scaled by ``1 / (1 - dropout)``, so predictions use the whole
        network unscaled. Applied inside the kernels.
    recurrent_dropout : float in [0, 1), default=0.0
        Likewise for the units of ``h_{t-1}`` where each layer's recurrent
        weights read them (Keras's ``recurrent_dropout``). PyTorch's
        ``dropout`` is different: between stacked layers, a new mask at
        every step.
    batch_size : int or "auto", default="auto"
        Sequences per minibatch; "auto" is ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Schedule of the learning rate, set between epochs, as in MLP:

        - "constant": `learning_rate_init` for every epoch.
        - "invscaling": the epoch that starts after t training samples
          (``t_``) runs at ``learning_rate_init / (t + 1) ** power_t``.
        - "adaptive": `learning_rate_init` as long as training improves;
          each time `n_iter_no_change` consecutive epochs fail to decrease
          the training loss by at least `tol` (or, with early_stopping, to
          increase the validation score by at least `tol`), the rate is
          divided by 5; training stops only when the rate is already at or
          below 1e-6.

        Unlike MLP, which applies the schedule to "sgd" only, both solvers
        follow it: MLP's Adam recomputes its rate from learning_rate_init at
        every step, this Adam scales the scheduled rate by its bias
        correction, and a decaying rate helps Adam settle as it helps SGD.
        partial_fit continues the current rate; a new fit (also with
        warm_start, as in MLP) restarts "adaptive" at learning_rate_init,
        while "invscaling" continues from ``t_`` (MLP runs the first epoch
        after warm_start at learning_rate_init). :meth:`load` keeps no
        optimizer state, so a partial_fit after it restarts "adaptive" too.
    power_t : float, default=0.5
        Exponent of "invscaling".
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Shuffle the sequences at every epoch.
    random_state : int, RandomState instance or None, default=None
        Initial weights, shuffling and the validation split. With the same
        value and thread count, two fits give bit-identical results.
    tol : float, default=1e-4
    verbose : bool or int, default=False
        Print a progress line (epoch, loss, validation score, time, ETA).
    warm_start : bool, default=False
        Continue from the previous fit's parameters.
    momentum : float, default=0.9
        Momentum of "sgd".
    early_stopping : bool, default=False
        Hold out `validation_fraction` of the data (or use fit's `X_val`,
        `y_val`) and stop when its R^2 stops improving; the best parameters
        are kept.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters.
    n_iter_no_change : int, default=10
        Epochs without improvement of more than `tol` before stopping (with
        learning_rate="adaptive": before dividing the learning rate).
    clip_norm : float or None, default=None
        Clip the global norm of the gradient to this value.
    n_jobs : int or None, default=None
        Threads of the kernels during fit and predict; None leaves the
        current OpenMP setting (all cores by default), -1 means all cores.
    dtype : {np.float32, np.float64}, default=np.float32
        Floating-point type of the parameters and computations.
    loss : {"squared_error", "absolute_error", "huber", "poisson", \
"quantile"}, default="squared_error"
        The training loss (scikit-learn's names), averaged over the targets
        (and the real steps of ``output="sequence"``):

        - "squared_error": half the squared error, as MLPRegressor;
        - "absolute_error": the absolute error (a median regression);
        - "huber": quadratic within `huber_delta` of the target, linear
          beyond (robust to outliers in y);
        - "poisson": half the Poisson deviance with a log link, as
          MLPRegressor's: the head gives the log of the mean and predict
          returns ``exp`` of it, so predictions are positive. y must be
          non-negative with a positive sum (per output);
        - "quantile": the pinball loss of the level(s) in `quantile`.
    huber_delta : float, default=1.35
        Threshold of "huber" (ignored by the other losses), in units of y.
        1.35 is :class:`~sklearn.linear_model.HuberRegressor`'s epsilon: on
        Gaussian noise of unit scale it keeps 95% of the squared error's
        statistical efficiency while bounding each residual's gradient.
        Unlike HuberRegressor, no scale of the residuals is estimated here:
        scale y (its noise near 1) for the default to have that meaning.
        (Keras' default 1.0 has no such reason.)
    quantile : float, sequence of float or None, default=None
        The quantile level(s) of ``loss="quantile"``, each in (0, 1); it
        must be given with that loss, and is unused (with a warning) by
        the others. A float fits that one quantile, and predict returns
        y's shape. A sequence of increasing, distinct levels fits them all
        in one network and predict returns them on a last axis, shape
        (..., n_levels) after y's (``stream().step`` too). The levels never
        cross, by construction: per output, the head's first column is the
        lowest level and each next level adds a softplus (non-negative)
        increment to the one below.

    Attributes
    ----------
    loss_curve_ : list of float
        Mean training loss of each epoch.
    learning_rates_ : list of float
        The learning rate of each epoch (Adam's before its bias
        correction), one per entry of `loss_curve_`; NaN for the epochs of
        a fit saved or pickled by an lstm-fast that did not record them.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        R^2 on the validation set after each epoch (with early stopping, or
        fit's X_val), weighted by its sample weights.
    best_validation_score_ : float or None
    n_iter_ : int
        Epochs run.
    t_ : int
        Training samples seen.
    n_features_in_ : int
        Features per time step.
    precision_ : str
        The recurrent layers' weights: "float32" or "float64" (the dtype)
        for a fitted estimator, "int8" or "bfloat16" for an inference copy
        made by :meth:`quantize`.
    n_outputs_ : int
        Targets per sequence (or per step); the head has ``n_outputs_ *
        n_levels`` columns for a sequence of quantile levels.
    network_ : RecurrentNetwork
        The trained network; all parameters in ``network_.params``.

    Notes
    -----
    :meth:`score` (and early stopping's validation score) is always R^2 of
    a point prediction: for "poisson" of the predicted mean, for
    "quantile" of the level nearest 0.5 (the median when it is among the
    levels; the lower of two equally near).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast import LSTMRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 10, 2))
    >>> y = X.sum(axis=(1, 2))
    >>> est = LSTMRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    >>> est.fit(X, y).predict(X[:3]).shape
    (3,)

    Three quantiles in one network, predicted on a last axis:

    >>> est = LSTMRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0,
    ...                     loss="quantile", quantile=[0.05, 0.5, 0.95])
    >>> est.fit(X, y).predict(X[:3]).shape
    (3, 3)
    """

    _parameter_constraints: dict = {
        **_BaseRecurrent._parameter_constraints,
        "loss": [StrOptions({"squared_error", "absolute_error", "huber", "poisson",
                             "quantile"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [None, Interval(Real, 0, 1, closed="neither"), "array-like"],
    }

    def __init__(self, hidden_layer_sizes=(64,), *, loss="squared_error", huber_delta=1.35,
                 quantile=None, **base_params):
        super().__init__(hidden_layer_sizes, **base_params)
        self.loss = loss
        self.huber_delta = huber_delta
        self.quantile = quantile

    __init__.__signature__ = _base_and_own_signature(__init__)

    _is_classifier = False
    # What the fitted network's head means: the loss it was fitted with and
    # its quantile level(s) (a float, or a tuple: levels on a last axis).
    # Class defaults: an estimator loaded from a file written before these
    # parameters existed is a squared-error one.
    _fitted_loss = "squared_error"
    _fitted_quantile = None

    def _fitted_head(self):
        """(loss, quantile) of the network: during fit, the one being fitted
        (early stopping scores it before fit assigns the fitted attributes)."""
        return self.__dict__.get("_head_in_fit") or (self._fitted_loss, self._fitted_quantile)

    def _fit(self, X, y, incremental=False, classes=None, **fit_params):
        self._head_in_fit = self._head(warn=False)
        try:
            return super()._fit(X, y, incremental, classes, **fit_params)
        finally:
            del self._head_in_fit

    def _head(self, warn=True):
        """(loss, quantile) of the parameters, checked: quantile is None, a
        float, or a tuple of increasing floats. ValueError naming the
        parameter otherwise; a warning (if `warn`) when quantile is given
        but unused, as LogisticRegression's for an unused l1_ratio."""
        loss, quantile = self.loss, self.quantile
        if quantile is not None and not isinstance(quantile, Real):
            levels = np.asarray(quantile, dtype=float) if np.ndim(quantile) == 1 else None
            if levels is None or levels.size == 0:
                raise ValueError(f"quantile must be a float or a 1-D sequence of levels, "
                                 f"got {quantile!r}")
            if not np.all((levels > 0) & (levels < 1)):
                raise ValueError(f"quantile levels must each be in (0, 1), got "
                                 f"{levels.tolist()}")
            if len(np.unique(levels)) != len(levels):
                raise ValueError(f"quantile levels must be distinct, got repeated levels "
                                 f"in {levels.tolist()}")
            if np.any(np.diff(levels) < 0):
                raise ValueError(f"quantile levels must be in increasing order (the "
                                 f"predictions are), got {levels.tolist()}; pass "
                                 f"{sorted(levels.tolist())}")
            quantile = tuple(float(v) for v in levels)
        elif quantile is not None:
            quantile = float(quantile)
        if loss == "quantile" and quantile is None:
            raise ValueError("loss='quantile' needs the level(s) to fit: set quantile "
                             "(e.g. quantile=0.5, or quantile=[0.05, 0.5, 0.95])")
        if loss != "quantile" and quantile is not None:
            if warn:
                warnings.warn(f"quantile is only used when loss='quantile'; got "
                              f"loss={loss!r}: it is ignored", UserWarning)
            quantile = None
        return loss, quantile

    def _loss_function(self):
        loss, quantile = self._head(warn=False)  # fit's _validate_y has warned
        if loss == "huber":
            return functools.partial(LOSSES["huber"], delta=float(self.huber_delta))
        if loss == "quantile":
            levels = quantile if isinstance(quantile, tuple) else (quantile,)
            return functools.partial(LOSSES["quantile"], levels=levels)
        return LOSSES[loss]

    def _n_levels(self):
        """Head columns per output of the fitted network."""
        q = self._fitted_head()[1]
        return len(q) if isinstance(q, tuple) else 1

    def _metric(self, y_true, y_pred, sample_weight=None):
        return r2_score(y_true, self._point(y_pred), sample_weight=sample_weight)

    def _validate_y(self, y, mask, T, reset, classes=None):
        loss, quantile = self._head()  # before anything: bad parameters change nothing
        if not reset and (
                (loss == "poisson") != (self._fitted_loss == "poisson")
                or quantile != self._fitted_quantile):
            raise ValueError(
                f"warm_start/partial_fit cannot change what the head predicts: fitted with "
                f"loss={self._fitted_loss!r}, quantile={self._fitted_quantile!r}, now "
                f"loss={loss!r}, quantile={quantile!r}; fit a new estimator instead")
        y = check_array(y, ensure_2d=False, allow_nd=True, dtype=self._dtype(),
                        ensure_all_finite=mask is None, input_name="y")
        y_ndim = y.ndim
        if mask is None:
            if y.ndim > 2:
                raise ValueError(f"y must be 1-D or 2-D for output='last', got shape {y.shape}")
            y = y.reshape(len(y), -1)
        else:
            if y.ndim not in (2, 3) or y.shape[1] != T:
                raise ValueError(f"y must have shape (n_samples, {T}[, n_outputs]) for "
                                 f"output='sequence', got {y.shape}")
            y = y.reshape(y.shape[0], T, -1)
            bad = ~np.isfinite(y) & mask[..., None]
            if bad.any():
                i, t, _ = np.argwhere(bad)[0]
                raise ValueError(f"y contains NaN or infinity at sample {i}, step {t}, "
                                 f"which is not a padded step")
            y = np.where(mask[..., None], y, 0).astype(self._dtype())
        if not reset and y.shape[-1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[-1]} outputs, but {type(self).__name__} was "
                             f"fitted with {self.n_outputs_}")
        if loss == "poisson":
            real = y if mask is None else y[mask]
            if np.any(real < 0) or np.any(real.reshape(-1, y.shape[-1]).sum(axis=0) <= 0):
                raise ValueError("loss='poisson' requires y to be non-negative with a "
                                 "positive sum (for each output)")
        # predict returns y's shape: 1-D y (or 2-D for sequences) squeezes the outputs.
        squeeze = y_ndim == (1 if mask is None else 2)
        return np.ascontiguousarray(y), {"_y_squeeze": squeeze, "n_outputs_": y.shape[-1],
                                         "_fitted_loss": loss, "_fitted_quantile": quantile}

    def _n_outputs_from(self, target, attrs):
        q = attrs["_fitted_quantile"]
        return target.shape[-1] * (len(q) if isinstance(q, tuple) else 1)

    def _output_activation(self, out):
        loss, quantile = self._fitted_head()
        if loss == "poisson":
            return np.exp(out)
        if isinstance(quantile, tuple):
            return monotone_quantiles(out, len(quantile))
        return out

    def _point(self, pred):
        """The point prediction score() rates: the level nearest 0.5 of a
        sequence of quantiles (the lower of two equally near), else `pred`."""
        q = self._fitted_head()[1]
        if not isinstance(q, tuple):
            return pred
        return pred[..., int(np.argmin(np.abs(np.asarray(q) - 0.5)))]

    @property
    def _scalar_head(self):
        """Whether a stream's step is the head's one column as it is."""
        return self._y_squeeze and self._n_levels() == 1 and \
            self._fitted_head()[0] != "poisson"

    def _score_output(self, out, target, sample_weight=None):
        return r2_score(target.reshape(len(target), -1),
                        self._point(out).reshape(len(out), -1), sample_weight=sample_weight)

    def _stream_prediction(self, out):
        out = self._output_activation(out.astype(np.float64))
        return out[:, 0] if self._y_squeeze else out

    def predict(self, X):
        """Predict targets of sequences.

        Parameters
        ----------
        X : array-like or list of arrays
            As in :meth:`fit`.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            For ``output="sequence"``: shape (n_samples, n_timesteps[, n_outputs])
            with NaN at padded steps, or a list of per-sequence arrays when X
            is a list. With ``loss="quantile"`` and a sequence of levels, a
            last axis of n_levels follows (the levels in increasing order,
            never crossing); with ``loss="poisson"``, the predicted mean.
        """
        out, lengths, is_list = self._predict_output(X)
        if self.output == "sequence":
            if lengths is not None:
                out[~step_mask(lengths, *out.shape[:2])] = np.nan
            if self._y_squeeze:
                out = out[:, :, 0]
            if is_list:
                return unpad(out, lengths) if lengths is not None else list(out)
            return out
        return out[:, 0] if self._y_squeeze else out

    def score(self, X, y, sample_weight=None):
        """R^2 of the predictions (of the point prediction, for some losses).

        For ``output="sequence"``, over the real steps only. For
        ``loss="poisson"``, R^2 of the predicted mean; for
        ``loss="quantile"``, of the level nearest 0.5 (the median when it
        is among the levels; the lower of two equally near).

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like
        sample_weight : array-like of shape (n_samples,), optional
            Only for ``output="last"``.

        Returns
        -------
        score : float
        """
        # Not RegressorMixin.score (first in the MRO): the shared one, with
        # _metric and _score_steps taking the point prediction.
        return _BaseRecurrent.score(self, X, y, sample_weight=sample_weight)

    def _score_steps(self, out, y, sample_weight=None):
        return r2_score(np.asarray(y, dtype=float).reshape(out.shape[0], -1),
                        self._point(out).reshape(out.shape[0], -1), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class LSTMClassifier(ClassifierMixin, _BaseRecurrent):
    """LSTM classifier: stacked recurrent layers + a softmax head, log loss.

    Trained by the C kernels of lstm-fast with Adam or SGD on minibatches.
    Binary and multiclass, with any label type; the head has one output per
    class (softmax) also for two classes.

    Parameters
    ----------
    hidden_layer_sizes, cell, output, solver, alpha, dropout, recurrent_dropout, batch_size, \
learning_rate_init, learning_rate, power_t, max_iter, shuffle, random_state, tol, verbose, \
warm_start, momentum, early_stopping, validation_fraction, beta_1, beta_2, \
epsilon, n_iter_no_change, clip_norm, n_jobs, dtype
        As for :class:`LSTMRegressor`; the validation score of early
        stopping is the accuracy, and the validation split is stratified.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, as in scikit-learn's classifiers: a dict
        ``{label: weight}`` (classes it leaves out weigh 1; as in
        scikit-learn, a label that is no class of y is an error unless the
        dict weighs every class, e.g. for a fold that lacks one), or "balanced":
        ``n / (n_classes * weighted count of the class)`` over the labels of
        the fit (for ``output="sequence"``, over the labels of the real
        steps), the counts weighted by sample_weight. It multiplies into
        sample_weight: for ``output="sequence"``, per step, by the class of
        the step's label. The validation score of early stopping (and of
        fit's X_val) uses the same class weights. "balanced" is not
        supported by :meth:`partial_fit` (a batch's counts are not the data
        set's): compute the weights once with
        :func:`sklearn.utils.class_weight.compute_class_weight` and pass
        them as a dict.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    loss_curve_, learning_rates_, best_loss_, validation_scores_, \
best_validation_score_, n_iter_, t_, n_features_in_, precision_, network_
        As for :class:`LSTMRegressor`.
    n_outputs_ : int
        Number of classes (width of the softmax head).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_fast import LSTMClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 10, 1))
    >>> y = np.where(X[:, :5].sum(axis=(1, 2)) > X[:, 5:].sum(axis=(1, 2)), "a", "b")
    >>> clf = LSTMClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    >>> clf.fit(X, y).predict(X[:3]).shape
    (3,)
    """

    _loss = "log_loss"
    _is_classifier = True
    _metric = staticmethod(accuracy_score)

    _parameter_constraints: dict = {
        **_BaseRecurrent._parameter_constraints,
        "class_weight": [None, dict, StrOptions({"balanced"})],
    }

    def __init__(self, hidden_layer_sizes=(64,), *, class_weight=None, **base_params):
        super().__init__(hidden_layer_sizes, **base_params)
        self.class_weight = class_weight

    __init__.__signature__ = _base_and_own_signature(__init__)

    def _class_weight_vector(self, target, mask, sample_weight, target_attrs):
        """class_weight as one weight per class of ``classes_`` (None: none)."""
        if self.class_weight is None:
            return None
        classes = target_attrs["classes_"]
        if isinstance(self.class_weight, str):  # "balanced"
            codes = target if mask is None else target[mask]
            w = sample_weight
            if w is not None and mask is not None:
                w = np.broadcast_to(w[:, None], mask.shape)[mask]
            counts = np.bincount(codes, weights=w, minlength=len(classes)).astype(float)
            # compute_class_weight("balanced"): the classes present in y count
            # (a class of zero weight is absent, as its samples removed).
            present = counts > 0
            return np.where(present, counts.sum() / (present.sum() * np.where(
                present, counts, 1)), 0.0)
        weights = np.ones(len(classes))
        matched = set()
        for i, label in enumerate(classes):
            key = label.item() if isinstance(label, np.generic) else label
            if key in self.class_weight:
                value = self.class_weight[key]
                if (not isinstance(value, Real) or isinstance(value, bool)
                        or not np.isfinite(value) or value < 0):
                    raise ValueError(f"class_weight[{key!r}] must be a non-negative finite "
                                     f"number, got {value!r}")
                weights[i] = value
                matched.add(key)
        unknown = [k for k in self.class_weight if k not in matched]
        if unknown and len(matched) < len(classes):
            # scikit-learn's rule (compute_class_weight): labels the classes
            # lack are a mistake when some class is left unweighted; a dict
            # that weighs every class may name more (a fold without a class).
            raise ValueError(
                f"class_weight has labels that are not classes of y: {unknown[:5]}; "
                f"the classes are {classes[:10].tolist()}")
        return weights

    def _validate_y(self, y, mask, T, reset, classes=None):
        y = np.asarray(y)
        if y.dtype.kind not in "biufUSO" or y.size == 0:
            raise ValueError(f"y must hold class labels, got dtype {y.dtype}")
        if mask is None:
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
            if y.ndim != 1:
                raise ValueError(f"y must be 1-D (one label per sequence) for "
                                 f"output='last', got shape {y.shape}")
            labels = y
        else:
            if y.shape[:2] != mask.shape or y.ndim != 2:
                raise ValueError(f"y must have shape {mask.shape} (one label per step) for "
                                 f"output='sequence', got {y.shape}")
            labels = y[mask]
        if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
            raise ValueError("y contains NaN or infinity")
        if labels.dtype.kind == "O" and any(v is None for v in labels):
            raise ValueError("y contains None")
        kind = type_of_target(labels, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"Unknown label type: {kind}. {type(self).__name__} needs class labels "
                f"(binary or multiclass); for a continuous target use LSTMRegressor"
            )
        if reset:
            if classes is not None:
                classes = np.unique(np.asarray(classes))
            else:
                classes = np.unique(labels)
            if len(classes) < 2:
                raise ValueError(f"Classifier can't train when only one class is present: "
                                 f"y has only {classes[0]!r}")
        else:
            classes = self.classes_
        unknown = np.setdiff1d(np.unique(labels), classes)
        if len(unknown):
            raise ValueError(f"y contains labels not seen in classes: {unknown[:5]}")
        codes = np.searchsorted(classes, labels)
        if mask is None:
            return codes.astype(np.int64), {"classes_": classes}
        out = np.full(mask.shape, -1, dtype=np.int64)
        out[mask] = codes
        return out, {"classes_": classes}

    def _n_outputs_from(self, target, attrs):
        return len(attrs["classes_"])

    def _output_activation(self, out):
        return softmax(out)

    def _score_output(self, proba, codes, sample_weight=None):
        return accuracy_score(codes, proba.argmax(axis=-1), sample_weight=sample_weight)

    def _stream_prediction(self, out):
        return self.classes_[out.argmax(axis=-1)]

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current parameters.

        Parameters
        ----------
        X : array-like or list of arrays
        y : array-like
        classes : array-like of shape (n_classes,), optional
            All classes; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the sequences, as in :meth:`fit`.

        Returns
        -------
        self : object
        """
        if not hasattr(self, "classes_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if isinstance(self.class_weight, str):
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: one batch's "
                "class counts are not the data set's. Compute the weights with "
                "sklearn.utils.class_weight.compute_class_weight('balanced', classes=..., "
                "y=...) on (a large sample of) the whole training targets and pass "
                "them as class_weight={label: weight}")
        return self._fit(X, y, incremental=True, classes=classes,
                         sample_weight=sample_weight)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Or (n_samples, n_timesteps, n_classes) for ``output="sequence"``.
        """
        out, _, _ = self._predict_output(X)
        return out

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        log_proba : ndarray, shape of predict_proba's
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like or list of arrays

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Or (n_samples, n_timesteps) for ``output="sequence"`` (the labels
            at padded steps are meaningless), or a list of per-sequence arrays
            when X is a list.
        """
        out, lengths, is_list = self._predict_output(X)
        labels = self.classes_[out.argmax(axis=-1)]
        if self.output == "sequence" and is_list and lengths is not None:
            return unpad(labels, lengths)
        return labels

    score = _BaseRecurrent.score  # as in LSTMRegressor

    def _score_steps(self, out, y, sample_weight=None):
        return accuracy_score(y, self.classes_[out.argmax(axis=-1)],
                              sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags

