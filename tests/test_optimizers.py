"""The optimizers' update kernels against the NumPy arithmetic they replace."""

import copy
import pickle

import numpy as np
import pytest

from lstm_fast import _core
from lstm_fast._optimizers import AdamOptimizer


def numpy_adam(params, grad, ms, vs, t, lr_init, b1, b2, eps):
    """scikit-learn's Adam step as in-place NumPy ufuncs, rounded in params' dtype."""
    dtype = params.dtype.type
    lr = lr_init * np.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
    tmp = np.empty_like(params)
    ms *= dtype(b1)
    np.multiply(grad, dtype(1.0 - b1), out=tmp)
    ms += tmp
    vs *= dtype(b2)
    np.multiply(grad, grad, out=tmp)
    tmp *= dtype(1.0 - b2)
    vs += tmp
    np.sqrt(vs, out=tmp)
    tmp += dtype(eps)
    np.divide(ms, tmp, out=tmp)
    tmp *= dtype(lr)
    params -= tmp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_update_is_bit_identical_to_numpy_in_place_ufuncs(dtype):
    rng = np.random.default_rng(0)
    n = 1003  # not a multiple of any vector width
    params = rng.standard_normal(n).astype(dtype)
    expected = params.copy()
    ms, vs = np.zeros(n, dtype), np.zeros(n, dtype)
    opt = AdamOptimizer(params, learning_rate_init=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7)
    for t in range(1, 6):
        grad = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 4, n)).astype(dtype)
        grad[:3] = [0, -0.0, 1e-30]
        opt.update(params, grad)
        numpy_adam(expected, grad, ms, vs, t, 0.01, 0.8, 0.99, 1e-7)
        np.testing.assert_array_equal(params, expected)
        np.testing.assert_array_equal(opt.ms, ms)
        np.testing.assert_array_equal(opt.vs, vs)


def test_adam_update_propagates_nan_and_inf_gradients():
    params = np.zeros(4, np.float32)
    opt = AdamOptimizer(params)
    opt.update(params, np.array([np.nan, np.inf, -np.inf, 1.0], np.float32))
    assert np.isnan(params[:3]).all() and np.isfinite(params[3])


def test_adam_survives_pickling_and_deep_copies():
    params = np.ones(5, np.float32)
    opt = AdamOptimizer(params)
    opt.update(params, np.full(5, 0.5, np.float32))
    for clone in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        p1, p2 = params.copy(), params.copy()
        clone.update(p1, np.full(5, 0.25, np.float32))
        copy.deepcopy(opt).update(p2, np.full(5, 0.25, np.float32))
        np.testing.assert_array_equal(p1, p2)


def test_adam_loads_a_pickle_with_the_old_scratch_buffer():
    params = np.ones(3, np.float64)
    opt = AdamOptimizer(params)
    state = dict(opt.__dict__, _scratch=None)
    old = AdamOptimizer.__new__(AdamOptimizer)
    old.__setstate__(state)
    assert "_scratch" not in old.__dict__
    old.update(params, np.ones(3))
    assert old.t == 1


@pytest.mark.parametrize("bad, match", [
    (dict(grad=np.zeros(4, np.float64)), "grad must have dtype float32"),
    (dict(grad=np.zeros(5, np.float32)), r"grad must have shape \(4,\)"),
    (dict(m=np.zeros(8, np.float32)[::2]), "m must be C-contiguous"),
    (dict(params=np.zeros((2, 2), np.float32)), "params must be 1-D"),
    (dict(params=np.zeros(4, np.int32)), "params must be float32 or float64"),
])
def test_adam_step_rejects_mismatched_arrays(bad, match):
    arrays = {name: np.zeros(4, np.float32) for name in ("params", "grad", "m", "v")}
    arrays.update(bad)
    with pytest.raises((TypeError, ValueError), match=match):
        _core.adam_step(arrays["params"], arrays["grad"], arrays["m"], arrays["v"],
                        0.9, 0.999, 1e-8, 1e-3)


def test_adam_step_refuses_read_only_state():
    arrays = [np.zeros(4, np.float32) for _ in range(4)]
    arrays[3].flags.writeable = False
    with pytest.raises(ValueError, match="v is read-only"):
        _core.adam_step(*arrays, 0.9, 0.999, 1e-8, 1e-3)
