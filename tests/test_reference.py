"""Tests that the NumPy reference LSTM (the oracle of every other test) is right.

Its backward pass is checked against float64 central finite differences of its
own forward pass, and forward and backward are checked against torch.nn.LSTM
(skipped when torch is not installed).
"""

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from lstm_fast.reference import LSTM

GRAD_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "X", "h0", "c0")
PARAM_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def rel_error(a, b):
    """Largest elementwise |a - b| / max(|a| + |b|, tiny), over the whole array."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    tiny = 1e-8
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), tiny)))


def make_problem(B=3, T=4, D=2, H=3, seed=0, lengths=(4, 1, 3), dtype=np.float64):
    """A layer, inputs, initial states, lengths and random upstream gradients."""
    rng = np.random.default_rng(seed)
    layer = LSTM(D, H, dtype=dtype, random_state=seed)
    # Larger weights than the default init, so the gates leave the linear regime.
    for name in PARAM_KEYS:
        value = getattr(layer, name)
        setattr(layer, name, rng.uniform(-1.0, 1.0, size=value.shape).astype(dtype))
    data = {
        "X": rng.standard_normal((B, T, D)).astype(dtype),
        "h0": rng.uniform(-0.8, 0.8, size=(B, H)).astype(dtype),
        "c0": rng.standard_normal((B, H)).astype(dtype),
        "lengths": None if lengths is None else np.array(lengths),
    }
    upstream = {
        "dY": rng.standard_normal((B, T, H)).astype(dtype),
        "dh_n": rng.standard_normal((B, H)).astype(dtype),
        "dc_n": rng.standard_normal((B, H)).astype(dtype),
    }
    return layer, data, upstream


def loss(layer, data, upstream):
    """Scalar loss whose gradients w.r.t. Y, h_n, c_n are the upstream arrays."""
    Y, (h_n, c_n) = layer.forward(data["X"], data["h0"], data["c0"], data["lengths"])
    return (
        np.sum(Y * upstream["dY"])
        + np.sum(h_n * upstream["dh_n"])
        + np.sum(c_n * upstream["dc_n"])
    )


def numerical_gradients(layer, data, upstream, eps=1e-5):
    """Central finite differences of `loss` w.r.t. every parameter and input.

    eps=1e-5 balances truncation (~eps**2) and rounding (~1e-16 / eps) error
    best for these shapes: the worst relative error is then ~3e-8.
    """
    targets = {name: getattr(layer, name) for name in PARAM_KEYS}
    targets.update({name: data[name] for name in ("X", "h0", "c0")})
    grads = {}
    for name, array in targets.items():
        grad = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            saved = array[idx]
            array[idx] = saved + eps
            plus = loss(layer, data, upstream)
            array[idx] = saved - eps
            minus = loss(layer, data, upstream)
            array[idx] = saved
            grad[idx] = (plus - minus) / (2 * eps)
        grads[name] = grad
    return grads


def analytic_gradients(layer, data, upstream):
    _, _, cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    return layer.backward(cache, **upstream)


# ---------------------------------------------------------------- finite differences


@pytest.mark.parametrize("lengths", [None, (4, 1, 3)], ids=["full", "varlen"])
def test_backward_matches_finite_differences(lengths):
    layer, data, upstream = make_problem(lengths=lengths)
    analytic = analytic_gradients(layer, data, upstream)
    numeric = numerical_gradients(layer, data, upstream)
    assert set(analytic) == set(GRAD_KEYS)
    for name in GRAD_KEYS:
        assert analytic[name].shape == numeric[name].shape, name
        assert analytic[name].dtype == np.float64, name
        err = rel_error(analytic[name], numeric[name])
        assert err <= 1e-6, f"{name}: max relative error {err:.2e}"


@pytest.mark.parametrize("which", ["dY", "dh_n", "dc_n"])
def test_backward_each_upstream_alone(which):
    # Only one upstream gradient given, the others None (= zeros).
    layer, data, upstream = make_problem(B=2, T=3, D=2, H=2, seed=1, lengths=(3, 2))
    upstream = {k: (v if k == which else np.zeros_like(v)) for k, v in upstream.items()}
    numeric = numerical_gradients(layer, data, upstream)
    _, _, cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    analytic = layer.backward(cache, **{which: upstream[which]})
    for name in GRAD_KEYS:
        err = rel_error(analytic[name], numeric[name])
        assert err <= 1e-6, f"{name}: max relative error {err:.2e}"


def test_backward_ignores_dY_at_padded_steps():
    layer, data, upstream = make_problem()
    grads = analytic_gradients(layer, data, upstream)
    mask = np.arange(4) < data["lengths"][:, None]
    upstream["dY"] = np.where(mask[:, :, None], upstream["dY"], 1e6)
    grads_noisy = analytic_gradients(layer, data, upstream)
    for name in GRAD_KEYS:
        np.testing.assert_array_equal(grads[name], grads_noisy[name])
    # Padded steps do not touch the input.
    assert np.all(grads["X"][~mask] == 0)


def test_backward_all_none_gives_zeros_and_cache_is_reusable():
    layer, data, upstream = make_problem()
    _, _, cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    zeros = layer.backward(cache)
    for name in GRAD_KEYS:
        assert not np.any(zeros[name]), name
    first = layer.backward(cache, **upstream)
    second = layer.backward(cache, **upstream)
    for name in GRAD_KEYS:
        np.testing.assert_array_equal(first[name], second[name])


# ------------------------------------------------------------------------- forward


def test_forward_shapes_dtypes_and_training_flag():
    layer = LSTM(5, 7, random_state=0)
    X = np.random.default_rng(0).standard_normal((4, 6, 5))  # float64 input
    Y, (h_n, c_n) = layer.forward(X)
    assert Y.shape == (4, 6, 7) and h_n.shape == (4, 7) and c_n.shape == (4, 7)
    assert Y.dtype == h_n.dtype == c_n.dtype == np.float32
    out = layer.forward(X, training=True)
    assert len(out) == 3
    np.testing.assert_array_equal(out[0], Y)
    np.testing.assert_array_equal(out[1][0], h_n)
    np.testing.assert_array_equal(out[1][1], c_n)
    grads = layer.backward(out[2], dY=np.ones_like(Y))
    for name in GRAD_KEYS:
        assert grads[name].dtype == np.float32, name
    assert grads["X"].shape == X.shape
    assert grads["h0"].shape == grads["c0"].shape == (4, 7)
    for name in PARAM_KEYS:
        assert grads[name].shape == getattr(layer, name).shape


def test_forward_single_step_by_hand():
    # One step from given states, written out with the formulas of the docs.
    layer, data, _ = make_problem(B=2, T=1, D=3, H=4, lengths=None)
    x, h, c = data["X"][:, 0], data["h0"], data["c0"]
    z = x @ layer.weight_ih.T + layer.bias_ih + h @ layer.weight_hh.T + layer.bias_hh
    zi, zf, zg, zo = np.split(z, 4, axis=1)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c1 = sig(zf) * c + sig(zi) * np.tanh(zg)
    h1 = sig(zo) * np.tanh(c1)
    Y, (h_n, c_n) = layer.forward(data["X"], h, c)
    np.testing.assert_allclose(c_n, c1, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(h_n, h1, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(Y[:, 0], h1, rtol=1e-13, atol=1e-14)


def test_defaults_are_zero_states_and_full_lengths():
    layer, data, _ = make_problem(lengths=None)
    X = data["X"]
    B, T, _ = X.shape
    H = layer.hidden_size
    Y, (h, c) = layer.forward(X)
    zeros = np.zeros((B, H))
    Y2, (h2, c2) = layer.forward(X, zeros, zeros, np.full(B, T))
    np.testing.assert_array_equal(Y, Y2)
    np.testing.assert_array_equal(h, h2)
    np.testing.assert_array_equal(c, c2)
    np.testing.assert_array_equal(Y[:, -1], h)


def test_variable_lengths_equal_separate_truncated_runs():
    layer, data, _ = make_problem(B=3, T=5, D=2, H=3, lengths=(5, 1, 3))
    Y, (h_n, c_n) = layer.forward(data["X"], data["h0"], data["c0"], data["lengths"])
    for b, L in enumerate(data["lengths"]):
        Yb, (hb, cb) = layer.forward(
            data["X"][b:b + 1, :L], data["h0"][b:b + 1], data["c0"][b:b + 1]
        )
        np.testing.assert_allclose(Y[b, :L], Yb[0], rtol=1e-14, atol=1e-15)
        assert np.all(Y[b, L:] == 0)
        np.testing.assert_allclose(h_n[b], hb[0], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(c_n[b], cb[0], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_safe_for_huge_preactivations(dtype):
    layer = LSTM(2, 3, dtype=dtype, random_state=0)
    X = np.array([[[1e4, -1e4], [-1e4, 1e4], [3e3, 5e3]]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            Y, (h, c), cache = layer.forward(X, training=True)
            grads = layer.backward(cache, dY=np.ones_like(Y), dh_n=h, dc_n=c)
    assert np.all(np.isfinite(Y)) and np.all(np.abs(Y) <= 1)
    for name in GRAD_KEYS:
        assert np.all(np.isfinite(grads[name])), name


# ---------------------------------------------------------------------- init & API


def test_init_like_torch():
    H, D = 16, 5
    layer = LSTM(D, H, random_state=0)
    bound = 1 / np.sqrt(H)
    assert layer.input_size == D and layer.hidden_size == H
    assert layer.dtype == np.float32
    shapes = {
        "weight_ih": (4 * H, D), "weight_hh": (4 * H, H),
        "bias_ih": (4 * H,), "bias_hh": (4 * H,),
    }
    for name, shape in shapes.items():
        value = getattr(layer, name)
        assert value.shape == shape and value.dtype == np.float32, name
        assert np.all(np.abs(value) <= bound), name
    assert np.abs(layer.weight_hh).max() > 0.9 * bound  # uses the whole range


def test_random_state_kinds():
    a = LSTM(3, 4, random_state=42)
    b = LSTM(3, 4, random_state=np.int64(42))
    c = LSTM(3, 4, random_state=np.random.default_rng(42))
    for name in PARAM_KEYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(getattr(a, name), getattr(c, name))
    d = LSTM(3, 4, random_state=np.random.RandomState(0))
    assert np.all(np.abs(d.weight_ih) <= 0.5)
    e = LSTM(3, 4, random_state=43)
    assert not np.array_equal(a.weight_ih, e.weight_ih)
    LSTM(3, 4)  # None


def test_dtype_float64_computes_in_float64():
    layer = LSTM(3, 4, dtype=np.float64, random_state=0)
    assert layer.weight_ih.dtype == np.float64
    Y, (h, c) = layer.forward(np.ones((2, 3, 3), dtype=np.float32))
    assert Y.dtype == h.dtype == c.dtype == np.float64


@pytest.mark.parametrize(
    "kwargs",
    [
        {"X": np.zeros((2, 3))},                      # not 3-D
        {"X": np.zeros((2, 3, 4))},                   # wrong D
        {"h0": np.zeros((2, 5))},                     # wrong H
        {"h0": np.zeros((3, 4))},                     # wrong B
        {"c0": np.zeros((4,))},
        {"lengths": np.array([3])},                   # wrong B
        {"lengths": np.array([0, 3])},                # < 1
        {"lengths": np.array([4, 3])},                # > T
        {"lengths": np.array([1.5, 3.0])},            # not integers
    ],
)
def test_bad_forward_inputs_raise(kwargs):
    layer = LSTM(3, 4, random_state=0)
    args = {"X": np.zeros((2, 3, 3))}
    args.update(kwargs)
    with pytest.raises(ValueError):
        layer.forward(**args)


@pytest.mark.parametrize(
    "kwargs",
    [{"dY": np.zeros((2, 3, 5))}, {"dY": np.zeros((2, 4))}, {"dh_n": np.zeros((2, 5))},
     {"dc_n": np.zeros((1, 4))}],
)
def test_bad_backward_inputs_raise(kwargs):
    layer = LSTM(3, 4, random_state=0)
    _, _, cache = layer.forward(np.zeros((2, 3, 3)), training=True)
    with pytest.raises(ValueError):
        layer.backward(cache, **kwargs)


@pytest.mark.parametrize(
    "args", [(0, 4), (3, 0), (3.0, 4), (-1, 4), (3, 4, np.int32)]
)
def test_bad_constructor_arguments_raise(args):
    with pytest.raises(ValueError):
        LSTM(*args)


def test_from_state_dict_of_arrays_without_torch():
    src = LSTM(3, 4, dtype=np.float64, random_state=0)
    state = {
        "weight_ih_l0": src.weight_ih.tolist(),
        "weight_hh_l0": src.weight_hh,
        "bias_ih_l0": src.bias_ih,
        "bias_hh_l0": src.bias_hh,
    }
    layer = LSTM.from_torch(state)
    assert (layer.input_size, layer.hidden_size, layer.dtype) == (3, 4, np.float64)
    for name in PARAM_KEYS:
        np.testing.assert_array_equal(getattr(layer, name), getattr(src, name))
    assert layer.weight_hh is not src.weight_hh  # a copy
    with pytest.raises(ValueError):
        LSTM.from_torch({"weight_ih_l0": src.weight_ih})
    with pytest.raises(ValueError):
        LSTM.from_torch(dict(state, weight_hh_l0=src.weight_hh[:, :3]))
    with pytest.raises(ValueError):
        LSTM.from_torch(dict(state, weight_ih_l1=src.weight_ih))


def test_torch_is_not_imported_eagerly():
    import lstm_fast.reference

    root = Path(lstm_fast.reference.__file__).resolve().parents[1]
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from lstm_fast.reference import LSTM\n"
        "layer = LSTM.from_torch({'weight_ih_l0': np.zeros((8, 3)),"
        " 'weight_hh_l0': np.zeros((8, 2))})\n"
        "layer.forward(np.zeros((1, 2, 3)))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


# --------------------------------------------------------------------- torch parity


def torch_lstm(D, H, seed=0):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    return torch.nn.LSTM(D, H, batch_first=True).double()


def torch_run(module, data, upstream):
    """Forward + backward through torch; returns outputs and gradients as numpy."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    dtype = next(module.parameters()).dtype
    X = torch.tensor(data["X"], dtype=dtype, requires_grad=True)
    h0 = torch.tensor(data["h0"], dtype=dtype, requires_grad=True)
    c0 = torch.tensor(data["c0"], dtype=dtype, requires_grad=True)
    module.zero_grad()
    T = X.shape[1]
    if data["lengths"] is None:
        Y, (h_n, c_n) = module(X, (h0[None], c0[None]))
    else:
        packed = pack_padded_sequence(
            X, torch.as_tensor(data["lengths"]), batch_first=True, enforce_sorted=False
        )
        out, (h_n, c_n) = module(packed, (h0[None], c0[None]))
        Y, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    h_n, c_n = h_n[0], c_n[0]
    loss = (
        (Y * torch.tensor(upstream["dY"], dtype=dtype)).sum()
        + (h_n * torch.tensor(upstream["dh_n"], dtype=dtype)).sum()
        + (c_n * torch.tensor(upstream["dc_n"], dtype=dtype)).sum()
    )
    loss.backward()
    grads = {name: getattr(module, name + "_l0").grad.numpy() for name in PARAM_KEYS}
    grads.update(X=X.grad.numpy(), h0=h0.grad.numpy(), c0=c0.grad.numpy())
    outputs = (Y.detach().numpy(), h_n.detach().numpy(), c_n.detach().numpy())
    return outputs, grads


@pytest.mark.parametrize("lengths", [None, (7, 2, 5, 1)], ids=["full", "packed"])
def test_parity_with_torch_float64(lengths):
    B, T, D, H = 4, 7, 3, 5
    module = torch_lstm(D, H)
    layer = LSTM.from_torch(module)
    assert layer.dtype == np.float64
    _, data, upstream = make_problem(B, T, D, H, seed=3, lengths=lengths)

    (Y_t, h_t, c_t), grads_t = torch_run(module, data, upstream)
    Y, (h_n, c_n), cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    grads = layer.backward(cache, **upstream)

    np.testing.assert_allclose(Y, Y_t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_n, h_t, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_n, c_t, rtol=1e-12, atol=1e-13)
    for name in GRAD_KEYS:
        np.testing.assert_allclose(grads[name], grads_t[name], rtol=1e-11, atol=1e-12,
                                   err_msg=name)


def test_parity_with_torch_float32():
    torch = pytest.importorskip("torch")
    B, T, D, H = 8, 20, 6, 16
    torch.manual_seed(1)
    module = torch.nn.LSTM(D, H, batch_first=True)
    layer = LSTM.from_torch(module)
    assert layer.dtype == np.float32
    _, data, upstream = make_problem(B, T, D, H, seed=4, lengths=None, dtype=np.float32)
    data["lengths"] = np.random.default_rng(4).integers(1, T + 1, size=B)

    (Y_t, h_t, c_t), grads_t = torch_run(module, data, upstream)
    Y, (h_n, c_n), cache = layer.forward(
        data["X"], data["h0"], data["c0"], data["lengths"], training=True
    )
    grads = layer.backward(cache, **upstream)
    assert Y.dtype == np.float32
    np.testing.assert_allclose(Y, Y_t, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h_n, h_t, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c_n, c_t, rtol=1e-4, atol=1e-5)
    for name in GRAD_KEYS:
        assert grads[name].dtype == np.float32, name
        scale = np.abs(grads_t[name]).max()
        np.testing.assert_allclose(grads[name], grads_t[name], rtol=1e-3,
                                   atol=1e-4 * scale, err_msg=name)


def test_torch_state_dict_round_trip():
    torch = pytest.importorskip("torch")
    layer = LSTM(3, 4, random_state=0)
    state = layer.to_torch_state_dict()
    assert set(state) == {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float32
               for v in state.values())
    module = torch.nn.LSTM(3, 4)
    module.load_state_dict(state)
    for source in (module, module.state_dict(), state):
        back = LSTM.from_torch(source)
        assert (back.input_size, back.hidden_size, back.dtype) == (3, 4, np.float32)
        for name in PARAM_KEYS:
            np.testing.assert_array_equal(getattr(back, name), getattr(layer, name))
    # The tensors are copies: changing them does not change the layer.
    state["weight_ih_l0"].zero_()
    assert np.any(layer.weight_ih != 0)


def test_from_torch_rejects_unsupported_modules():
    torch = pytest.importorskip("torch")
    for module in (
        torch.nn.LSTM(3, 4, num_layers=2),
        torch.nn.LSTM(3, 4, proj_size=2),
        torch.nn.GRU(3, 4),
    ):
        with pytest.raises(ValueError):
            LSTM.from_torch(module)
    with pytest.raises(ValueError):
        LSTM.from_torch(torch.nn.LSTM(3, 4, num_layers=2).state_dict())


def test_from_torch_without_bias():
    torch = pytest.importorskip("torch")
    module = torch.nn.LSTM(3, 4, bias=False)
    layer = LSTM.from_torch(module)
    assert not np.any(layer.bias_ih) and not np.any(layer.bias_hh)
    X = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    Y, _ = layer.forward(X)
    with torch.no_grad():
        Y_t, _ = module(torch.from_numpy(X).transpose(0, 1))
    np.testing.assert_allclose(Y, Y_t.transpose(0, 1).numpy(), rtol=1e-5, atol=1e-6)
