"""learning_rate="constant" | "invscaling" | "adaptive" and power_t, as
scikit-learn's MLP names them, for both solvers.

The rates an estimator records (``learning_rates_``) are checked against the
schedule computed by hand, and the parameters a fit reaches against a replay
of the same minibatches through scikit-learn's own SGDOptimizer (its
``iteration_ends`` and ``trigger_stopping``) or a NumPy Adam: the gradients
come from the same network, so only the learning rates can differ.
"""

import copy
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network._stochastic_optimizers import SGDOptimizer as MLPSGDOptimizer

from lstm_fast import LSTMClassifier, LSTMRegressor
from lstm_fast._network import RecurrentNetwork
from lstm_fast._optimizers import AdamOptimizer, SGDOptimizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N, T, D = 30, 5, 2
SMALL = dict(hidden_layer_sizes=(4,), random_state=0, alpha=0.0, shuffle=False,
             dtype=np.float64)


def task(n=N, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, D))
    return X, X.sum(axis=(1, 2)) / np.sqrt(T * D)


def invscaling(lr0, power_t, n_per_epoch, epochs, first_t=0):
    """The rate of each epoch: lr0 / (t + 1) ** power_t, t = samples seen before it."""
    return [lr0 / (first_t + k * n_per_epoch + 1) ** power_t for k in range(epochs)]


# ------------------------------------------------------------ the rates


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_constant_records_learning_rate_init_for_every_epoch(solver):
    X, y = task()
    est = LSTMRegressor(solver=solver, learning_rate_init=0.01, max_iter=4, **SMALL).fit(X, y)
    assert est.learning_rates_ == [0.01] * 4
    assert len(est.learning_rates_) == len(est.loss_curve_) == est.n_iter_


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("power_t", [0.5, 0.25, 0.0])
def test_invscaling_rates_follow_samples_seen(solver, power_t):
    X, y = task()
    est = LSTMRegressor(solver=solver, learning_rate="invscaling", power_t=power_t,
                        learning_rate_init=0.05, max_iter=5, batch_size=7, **SMALL).fit(X, y)
    assert est.t_ == 5 * N
    expected = invscaling(0.05, power_t, N, 5)
    np.testing.assert_allclose(est.learning_rates_, expected, rtol=1e-15)
    assert est.learning_rates_[0] == 0.05  # MLP's (t + 1): the first epoch at the initial rate


def test_invscaling_with_early_stopping_counts_training_samples_only():
    X, y = task(40)
    est = LSTMRegressor(learning_rate="invscaling", early_stopping=True,
                        validation_fraction=0.25, max_iter=4, **SMALL).fit(X, y)
    assert est.t_ == 4 * 30
    np.testing.assert_allclose(est.learning_rates_, invscaling(1e-3, 0.5, 30, 4), rtol=1e-15)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_adaptive_divides_by_five_at_each_stall_and_stops_below_1e_6(solver):
    # tol far above any loss change: every epoch after the first is a
    # "no improvement"; with n_iter_no_change=1 a stall (count 2 > 1) comes
    # every second epoch after the first, divides the rate and resets the count.
    X, y = task()
    est = LSTMRegressor(solver=solver, learning_rate="adaptive", learning_rate_init=1e-3,
                        tol=1e3, n_iter_no_change=1, max_iter=100, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # it converged: no warning
        est.fit(X, y)
    # 1e-3 for 3 epochs, then 2e-4, 4e-5, 8e-6, 1.6e-6 and 3.2e-7 for 2 each;
    # the stall after the last finds the rate <= 1e-6 and stops.
    expected = [1e-3] * 3
    rate = 1e-3
    for _ in range(5):
        rate /= 5.0
        expected += [rate] * 2
    assert est.learning_rates_ == expected
    assert est.n_iter_ == 13
    assert est._optimizer.learning_rate == rate  # not divided again when stopping


def test_adaptive_keeps_the_rate_while_the_loss_decreases():
    X, y = task()
    est = LSTMRegressor(solver="sgd", learning_rate="adaptive", learning_rate_init=1e-3,
                        tol=0.0, n_iter_no_change=3, max_iter=6, **SMALL).fit(X, y)
    assert np.all(np.diff(est.loss_curve_) < 0)
    assert est.learning_rates_ == [1e-3] * 6


def test_adaptive_with_early_stopping_follows_the_validation_score():
    X, y = task(40)
    est = LSTMRegressor(learning_rate="adaptive", early_stopping=True, tol=1e3,
                        n_iter_no_change=1, max_iter=5, **SMALL).fit(X, y)
    # The first epoch improves on -inf; every later one falls short by tol.
    assert len(est.validation_scores_) == 5
    assert est.learning_rates_ == [1e-3] * 3 + [2e-4] * 2


def test_verbose_says_what_adaptive_does(capsys):
    X, y = task()
    LSTMRegressor(learning_rate="adaptive", learning_rate_init=4e-6, tol=1e3,
                  n_iter_no_change=1, max_iter=20, verbose=1, **SMALL).fit(X, y)
    err = capsys.readouterr().err
    assert ("Training loss did not improve more than tol=1000.0 for 1 consecutive epochs. "
            "Setting learning rate to 0.000001") in err
    assert "Learning rate too small. Stopping." in err


# ------------------------------------- the updates, against scikit-learn


def replay(est, X, y, make_optimizer):
    """Train est's initial network (a copy) on est's minibatches, in order
    (shuffle=False), for est.max_iter epochs, as MLP's _fit_stochastic drives
    an optimizer of its interface: update_params after each minibatch,
    iteration_ends(t_) after each epoch, trigger_stopping when the training
    loss did not improve by tol for more than n_iter_no_change epochs.

    Returns the final parameters and the rate of each epoch."""
    network = RecurrentNetwork(est.cell, D, est.hidden_layer_sizes, 1, est.output,
                               np.dtype(est.dtype), est.bidirectional)
    network.initialize(np.random.RandomState(est.random_state))
    target = y.reshape(-1, 1).astype(est.dtype)
    optimizer = make_optimizer([network.params])
    best, count, samples, rates = np.inf, 0, 0, []
    for _ in range(est.max_iter):
        rates.append(optimizer.learning_rate)
        total = 0.0
        for start in range(0, len(X), est.batch_size):
            stop = start + est.batch_size
            loss = est._backprop(network, np.ascontiguousarray(X[start:stop]), None,
                                 target[start:stop], None)
            optimizer.update_params([network.params], [network.grad.copy()])
            total += loss * len(X[start:stop])
        samples += len(X)
        loss = total / len(X)
        count = count + 1 if loss > best - est.tol else 0
        best = min(best, loss)
        optimizer.iteration_ends(samples)
        if count > est.n_iter_no_change:
            if optimizer.trigger_stopping("", False):
                break
            count = 0
    return network.params, rates


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_sgd_reaches_the_parameters_of_scikit_learns_sgd_optimizer(schedule):
    X, y = task()
    kwargs = dict(solver="sgd", learning_rate=schedule, power_t=0.4, learning_rate_init=0.02,
                  momentum=0.9, batch_size=10, max_iter=9, **SMALL)
    if schedule == "adaptive":
        kwargs.update(tol=1e3, n_iter_no_change=1)
    est = LSTMRegressor(**kwargs).fit(X, y)
    # scikit-learn's optimizer with heavy-ball momentum (ours has no Nesterov).
    params, rates = replay(est, X, y, lambda p: MLPSGDOptimizer(
        p, 0.02, schedule, momentum=0.9, nesterov=False, power_t=0.4))
    assert len(rates) == 9
    np.testing.assert_allclose(est.learning_rates_, rates, rtol=1e-15)
    np.testing.assert_allclose(est.network_.params, params, rtol=1e-12, atol=1e-14)
    assert len(set(rates)) > 1  # the schedule did change the rate


class NumpyAdam:
    """Adam as scikit-learn writes it, in NumPy, with an invscaling base rate."""

    def __init__(self, params, lr0, power_t, b1=0.9, b2=0.999, eps=1e-8):
        self.lr0, self.power_t, self.b1, self.b2, self.eps = lr0, power_t, b1, b2, eps
        self.learning_rate = lr0
        self.t, self.m, self.v = 0, 0.0, 0.0

    def update_params(self, params, grads):
        (p,), (g,) = params, grads
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        lr_t = self.learning_rate * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        p -= lr_t * self.m / (np.sqrt(self.v) + self.eps)

    def iteration_ends(self, samples):
        self.learning_rate = self.lr0 / (samples + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        return True


def test_adam_invscaling_scales_the_step_of_each_epoch():
    X, y = task()
    est = LSTMRegressor(solver="adam", learning_rate="invscaling", power_t=0.5,
                        learning_rate_init=0.01, batch_size=10, max_iter=4, **SMALL).fit(X, y)
    params, rates = replay(est, X, y, lambda p: NumpyAdam(p, 0.01, 0.5))
    np.testing.assert_allclose(est.learning_rates_, rates, rtol=1e-15)
    np.testing.assert_allclose(est.network_.params, params, rtol=1e-12, atol=1e-14)
    # And not what the constant rate reaches.
    constant = LSTMRegressor(**dict(est.get_params(), learning_rate="constant")).fit(X, y)
    assert np.abs(constant.network_.params - params).max() > 1e-6


def test_constant_is_the_default_and_gives_the_same_bits():
    X, y = task()
    for solver in ("sgd", "adam"):
        default = LSTMRegressor(solver=solver, max_iter=3, **SMALL).fit(X, y)
        explicit = LSTMRegressor(solver=solver, max_iter=3, learning_rate="constant",
                                 power_t=0.9, **SMALL).fit(X, y)
        np.testing.assert_array_equal(default.network_.params, explicit.network_.params)
    assert LSTMRegressor().learning_rate == "constant" and LSTMRegressor().power_t == 0.5


# ------------------------------------------ partial_fit, warm_start, copies


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_continues_the_schedule_as_one_fit(schedule, solver):
    X, y = task()
    # "adaptive": a stall every second epoch, the rate divided across calls.
    stalls = dict(tol=1e3, n_iter_no_change=1) if schedule == "adaptive" else {}
    kwargs = dict(solver=solver, learning_rate=schedule, max_iter=7, **stalls, **SMALL)
    whole = LSTMRegressor(**kwargs).fit(X, y)
    assert whole.n_iter_ == 7
    pieces = LSTMRegressor(**kwargs)
    for _ in range(7):
        pieces.partial_fit(X, y)
    assert pieces.learning_rates_ == whole.learning_rates_
    np.testing.assert_array_equal(pieces.network_.params, whole.network_.params)
    if schedule == "adaptive":
        assert whole.learning_rates_[-1] < whole.learning_rates_[0]


def test_classifier_partial_fit_records_invscaling_rates():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, T, 1))
    y = np.where(X.sum(axis=(1, 2)) > 0, "a", "b")
    clf = LSTMClassifier(hidden_layer_sizes=(4,), learning_rate="invscaling", power_t=1.0,
                         random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=["a", "b"])
    np.testing.assert_allclose(clf.learning_rates_, invscaling(1e-3, 1.0, 20, 3), rtol=1e-15)


def test_warm_start_continues_invscaling_from_t_and_restarts_adaptive():
    X, y = task()
    est = LSTMRegressor(learning_rate="invscaling", max_iter=3, warm_start=True, **SMALL)
    est.fit(X, y).fit(X, y)
    np.testing.assert_allclose(est.learning_rates_, invscaling(1e-3, 0.5, N, 6), rtol=1e-15)

    est = LSTMRegressor(learning_rate="adaptive", tol=1e3, n_iter_no_change=1, max_iter=4,
                        warm_start=True, **SMALL)
    est.fit(X, y)
    assert est.learning_rates_ == [1e-3] * 3 + [2e-4]
    est.fit(X, y)  # a new optimizer, as in MLP: the rate starts again
    assert est.learning_rates_[4] == 1e-3


def test_pickle_and_deepcopy_keep_the_rates_and_the_current_rate():
    X, y = task()
    est = LSTMRegressor(learning_rate="adaptive", tol=1e3, n_iter_no_change=1, max_iter=4,
                        **SMALL).fit(X, y)
    for twin in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        assert twin.learning_rates_ == est.learning_rates_
        assert twin._optimizer.learning_rate == 2e-4
        twin.partial_fit(X, y)
        assert twin.learning_rates_[-1] == 2e-4


def test_an_estimator_pickled_before_the_schedules_still_loads_and_trains():
    X, y = task()
    est = LSTMRegressor(solver="sgd", max_iter=2, **SMALL).fit(X, y)
    old = pickle.loads(pickle.dumps(est))
    for name in ("learning_rate", "power_t", "learning_rates_"):
        del old.__dict__[name]
    for name in ("learning_rate_init", "lr_schedule", "power_t"):
        del old._optimizer.__dict__[name]
    twin = pickle.loads(pickle.dumps(old))
    assert twin.get_params()["learning_rate"] == "constant"
    assert len(twin.learning_rates_) == 2 and np.isnan(twin.learning_rates_).all()
    assert twin._optimizer.learning_rate_init == twin._optimizer.learning_rate
    twin.partial_fit(X, y)
    assert twin.learning_rates_[-1] == 1e-3
    est.partial_fit(X, y)
    np.testing.assert_array_equal(twin.network_.params, est.network_.params)

    adam = LSTMRegressor(max_iter=1, **SMALL).fit(X, y)
    state = adam._optimizer.__dict__
    for name in ("learning_rate", "lr_schedule", "power_t"):
        del state[name]
    restored = pickle.loads(pickle.dumps(adam._optimizer))
    assert restored.learning_rate == restored.learning_rate_init == 1e-3
    assert restored.lr_schedule == "constant"


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_an_interrupted_adaptive_fit_keeps_the_rate_its_last_epoch_left(monkeypatch, solver):
    X, y = task()
    kwargs = dict(solver=solver, learning_rate="adaptive", tol=1e3, n_iter_no_change=1,
                  batch_size=10, **SMALL)
    # Epoch 3 ends in a stall: the rate of epoch 4 is divided.
    expected = LSTMRegressor(max_iter=3, **kwargs).fit(X, y)
    assert expected._optimizer.learning_rate == 2e-4
    est = LSTMRegressor(max_iter=50, **kwargs)
    original, calls = LSTMRegressor._backprop, {"n": 0}

    def interrupt_in_epoch_four(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3 * 3 + 2:  # 3 minibatches per epoch
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LSTMRegressor, "_backprop", interrupt_in_epoch_four)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    monkeypatch.undo()
    assert est.learning_rates_ == expected.learning_rates_ == [1e-3] * 3
    assert est._optimizer.learning_rate == 2e-4
    assert est._no_improvement_count == expected._no_improvement_count == 0
    np.testing.assert_array_equal(est.network_.params, expected.network_.params)
    est.partial_fit(X, y)
    expected.partial_fit(X, y)
    assert est.learning_rates_ == expected.learning_rates_ == [1e-3] * 3 + [2e-4]
    np.testing.assert_array_equal(est.network_.params, expected.network_.params)


def test_a_fit_that_diverges_at_once_records_the_rate_beside_its_nan_loss():
    X, y = task()
    est = LSTMRegressor(solver="sgd", learning_rate="invscaling", learning_rate_init=1e12,
                        momentum=0.0, max_iter=3, **dict(SMALL, dtype=np.float32))
    with pytest.warns(ConvergenceWarning, match="became NaN or infinite"):
        est.fit(X, y * 1e30)  # the loss of the first minibatch overflows float32
    assert est.n_iter_ == 0
    assert np.isnan(est.loss_curve_).all() and est.learning_rates_ == [1e12]


# ---------------------------------------------------------- save and load


def _rewrite_metadata(src, dst, change):
    with zipfile.ZipFile(src) as archive:
        meta = json.loads(str(np.load(archive.open("metadata.npy"))))
        params = np.load(archive.open("params.npy"))
    change(meta)
    np.savez(dst, metadata=np.array(json.dumps(meta)), params=params)


def test_save_and_load_keep_the_rates_and_the_schedule(tmp_path):
    X, y = task()
    est = LSTMRegressor(learning_rate="invscaling", power_t=0.3, max_iter=3, **SMALL).fit(X, y)
    est.save(tmp_path / "m.npz")
    twin = LSTMRegressor.load(tmp_path / "m.npz")
    assert twin.learning_rates_ == est.learning_rates_
    assert twin.learning_rate == "invscaling" and twin.power_t == 0.3
    twin.partial_fit(X, y)  # continues from t_ (a new optimizer: load keeps none)
    np.testing.assert_allclose(twin.learning_rates_, invscaling(1e-3, 0.3, N, 4), rtol=1e-15)


def test_a_file_saved_before_the_schedules_still_loads(tmp_path):
    X, y = task()
    est = LSTMRegressor(max_iter=2, **SMALL).fit(X, y)
    est.save(tmp_path / "new.npz")

    def as_old(meta):
        del meta["fitted"]["learning_rates_"]
        del meta["params"]["learning_rate"]
        del meta["params"]["power_t"]

    _rewrite_metadata(tmp_path / "new.npz", tmp_path / "old.npz", as_old)
    twin = LSTMRegressor.load(tmp_path / "old.npz")
    assert twin.learning_rate == "constant" and twin.power_t == 0.5
    assert len(twin.learning_rates_) == 2 and np.isnan(twin.learning_rates_).all()
    np.testing.assert_array_equal(twin.predict(X), est.predict(X))
    twin.partial_fit(X, y)
    assert twin.learning_rates_[-1] == 1e-3


@pytest.mark.parametrize("rates", [[1e-3], [1e-3, "a"], "1e-3", [1e-3, True]])
def test_load_refuses_learning_rates_that_do_not_fit(tmp_path, rates):
    X, y = task()
    LSTMRegressor(max_iter=2, **SMALL).fit(X, y).save(tmp_path / "m.npz")
    _rewrite_metadata(tmp_path / "m.npz", tmp_path / "bad.npz",
                      lambda meta: meta["fitted"].update(learning_rates_=rates))
    with pytest.raises(ValueError, match="cannot load.*learning_rates_"):
        LSTMRegressor.load(tmp_path / "bad.npz")


# -------------------------------------------------------------- bad input


@pytest.mark.parametrize("name, value", [
    ("learning_rate", "cosine"), ("learning_rate", None), ("learning_rate", 0.1),
    ("power_t", -0.5), ("power_t", float("nan")), ("power_t", "0.5"), ("power_t", None),
])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_schedule_parameters_are_refused_before_training(name, value, method):
    X, y = task()
    est = LSTMRegressor(max_iter=2, **SMALL).fit(X, y)
    before = (est.network_.params.copy(), list(est.learning_rates_), est.n_iter_,
              est._optimizer)
    est.set_params(**{name: value})
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        getattr(est, method)(X, y)
    np.testing.assert_array_equal(est.network_.params, before[0])
    assert (est.learning_rates_, est.n_iter_, est._optimizer) == before[1:]


def test_the_optimizers_refuse_an_unknown_schedule():
    params = np.zeros(3)
    for Optimizer in (SGDOptimizer, AdamOptimizer):
        with pytest.raises(ValueError, match="lr_schedule"):
            Optimizer(params, lr_schedule="cosine")
