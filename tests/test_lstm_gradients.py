"""The kernel backward (lstm_fast.layers.LSTM) is the exact gradient of its forward.

Checked in float64 against (fourth-order) central finite differences of the kernel's own
forward pass, for every parameter, the input sequence and both initial
states, with per-sample lengths, random initial states and random upstream
gradients (loss = sum(dY*Y) + sum(dh_n*h_n) + sum(dc_n*c_n)).

Metric: :func:`_helpers.max_rel_error`, the largest elementwise
``|analytic - numeric| / (|analytic| + |numeric|)`` (floor 1e-8), must be at
most 1e-6 for every array.

The kernel's training cache serves one backward only, so every backward
below comes from its own ``forward(..., training=True)``.
"""

import numpy as np
import pytest

from _helpers import GRAD_KEYS, PARAM_KEYS, loss, make_problem, max_rel_error

TOL = 1e-6

# (B, T, D, H): tiny; H one past a multiple of the SIMD widths (17); H = D = 1;
# H an exact multiple of the float64 vector widths (24).
SHAPES = [(3, 4, 2, 3), (2, 5, 7, 17), (4, 3, 1, 1), (2, 4, 3, 24)]
SHAPE_IDS = ["B{}-T{}-D{}-H{}".format(*s) for s in SHAPES]


def numerical_gradients(layer, data, upstream, eps=1e-3):
    """Finite differences of `loss` w.r.t. every parameter and input.

    Fourth-order central differences,
    ``(8 (f(x+e) - f(x-e)) - (f(x+2e) - f(x-2e))) / (12 e)`` with e = 1e-3:
    truncation ~e**4 and rounding ~1e-16 / e are both ~1e-12, so the
    numerical gradient is good to ~1e-11 absolute. (The two-point formula
    with e = 1e-5 is only good to ~3e-10 absolute here, which is more than
    1e-6 relative for entries of size ~1e-5: the reference fails it too.)

    Parameters are perturbed in place (the layer passes C-contiguous arrays of
    its own dtype to the kernels without copying). None initial states are
    replaced by explicit zeros, whose forward is the same.
    """
    B, _, _ = data["X"].shape
    H = layer.hidden_size
    data = dict(data)
    for name in ("h0", "c0"):
        if data[name] is None:
            data[name] = np.zeros((B, H), dtype=layer.dtype)
    targets = {name: getattr(layer, name) for name in PARAM_KEYS}
    targets.update({name: data[name] for name in ("X", "h0", "c0")})
    grads = {}
    for name, array in targets.items():
        grad = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            saved = array[idx]
            values = {}
            for k in (-2, -1, 1, 2):
                array[idx] = saved + k * eps
                values[k] = loss(layer, data, upstream)
            array[idx] = saved
            grad[idx] = (8 * (values[1] - values[-1]) - (values[2] - values[-2])) / (12 * eps)
        grads[name] = grad
    return grads


def analytic_gradients(layer, data, upstream):
    """A fresh training forward, then its (single) backward."""
    _, _, cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    return layer.backward(cache, **upstream)


def assert_gradients_close(analytic, numeric):
    assert set(analytic) == set(GRAD_KEYS)
    for name in GRAD_KEYS:
        assert analytic[name].shape == numeric[name].shape, name
        assert analytic[name].dtype == np.float64, name
        err = max_rel_error(analytic[name], numeric[name])
        assert err <= TOL, f"{name}: max relative error {err:.2e}"


@pytest.mark.parametrize("lengths", ["random", None], ids=["varlen", "full"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_backward_matches_finite_differences(shape, lengths):
    B, T, D, H = shape
    layer, data, upstream = make_problem(B, T, D, H, seed=sum(shape), lengths=lengths)
    assert_gradients_close(
        analytic_gradients(layer, data, upstream), numerical_gradients(layer, data, upstream)
    )


def test_backward_matches_finite_differences_with_default_zero_states():
    # h0 = c0 = None: the gradients w.r.t. those (zero) states are still returned.
    layer, data, upstream = make_problem(3, 5, 2, 4, seed=7, states=False)
    assert data["h0"] is None and data["c0"] is None
    assert_gradients_close(
        analytic_gradients(layer, data, upstream), numerical_gradients(layer, data, upstream)
    )


@pytest.mark.parametrize("which", ["dY", "dh_n", "dc_n"])
def test_backward_with_one_upstream_gradient_and_the_others_none(which):
    layer, data, upstream = make_problem(3, 4, 2, 5, seed=11, lengths=(4, 2, 1))
    upstream = {k: (v if k == which else np.zeros_like(v)) for k, v in upstream.items()}
    numeric = numerical_gradients(layer, data, upstream)
    _, _, cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    analytic = layer.backward(cache, **{which: upstream[which]})
    assert_gradients_close(analytic, numeric)


def test_backward_without_upstream_gradients_is_zero():
    layer, data, _ = make_problem(3, 4, 2, 5, seed=3)
    _, _, cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    grads = layer.backward(cache)
    for name in GRAD_KEYS:
        assert not np.any(grads[name]), name


def test_backward_ignores_dY_at_padded_steps():
    layer, data, upstream = make_problem(4, 6, 3, 5, seed=5, lengths=(6, 1, 3, 4))
    expected = analytic_gradients(layer, data, upstream)
    padded = np.arange(6)[None, :] >= data["lengths"][:, None]
    garbage = dict(upstream, dY=np.where(padded[:, :, None], 1e6, upstream["dY"]))
    got = analytic_gradients(layer, data, garbage)
    for name in GRAD_KEYS:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_input_gradient_is_zero_at_padded_steps():
    layer, data, upstream = make_problem(4, 6, 3, 5, seed=6, lengths=(6, 1, 3, 4))
    dX = analytic_gradients(layer, data, upstream)["X"]
    padded = np.arange(6)[None, :] >= data["lengths"][:, None]
    assert not np.any(dX[padded])
    assert np.all(np.any(dX[~padded] != 0, axis=-1))
