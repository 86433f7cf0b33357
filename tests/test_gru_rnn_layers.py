"""The GRU and plain RNN (tanh and relu) layers on the C kernels: exact
gradients, agreement with the NumPy reference and with torch.nn.GRU /
torch.nn.RNN, every ISA path, any thread count.

Metric for arrays: :func:`_helpers.normwise_error`, ``max|a - b| / max|b|``.
"""

import numpy as np
import pytest

import lstm_fast
import lstm_fast._core as core
from _helpers import normwise_error, run_on_isa
from lstm_fast import layers, reference

NONLINEARITIES = ("tanh", "relu")
# (layer name, constructor keywords): every cell with h as its only state.
KINDS = {"gru": ("GRU", {}), "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
         "rnn_relu": ("RNN", {"nonlinearity": "relu"})}
GRAD_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "X", "h0")


def make_layer(module, kind, D, H, **kwargs):
    name, extra = KINDS[kind]
    return getattr(module, name)(D, H, **extra, **kwargs)


def problem(B, T, D, H, kind, dtype=np.float64, seed=0):
    """A layer, inputs with random lengths and initial state, and upstream
    gradients."""
    rng = np.random.default_rng(seed)
    layer = make_layer(layers, kind, D, H, dtype=dtype, random_state=seed)
    data = {
        "X": rng.standard_normal((B, T, D)).astype(dtype),
        "h0": rng.standard_normal((B, H)).astype(dtype),
        "lengths": rng.integers(1, T + 1, B),
    }
    upstream = {"dY": rng.standard_normal((B, T, H)), "dh_n": rng.standard_normal((B, H))}
    return layer, data, upstream


def run(layer, data, upstream):
    Y, h_n, cache = layer.forward(**data, training=True)
    grads = layer.backward(cache, **upstream)
    return {"Y": Y, "h_n": h_n, **{"grad_" + k: v for k, v in grads.items()}}


def loss(layer, data, upstream):
    Y, h_n = layer.forward(**data)
    return float(np.sum(upstream["dY"] * Y) + np.sum(upstream["dh_n"] * h_n))


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_central_finite_differences(kind):
    layer, data, upstream = problem(3, 5, 2, 4, kind)
    got = run(layer, data, upstream)
    eps = 1e-6
    for name in GRAD_KEYS:
        target = data[name] if name in data else getattr(layer, name)
        numeric = np.zeros_like(target)
        for idx in np.ndindex(target.shape):
            saved = target[idx]
            target[idx] = saved + eps
            up = loss(layer, data, upstream)
            target[idx] = saved - eps
            down = loss(layer, data, upstream)
            target[idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        err = np.abs(got["grad_" + name] - numeric).max() / max(np.abs(numeric).max(), 1e-12)
        assert err < 1e-6, f"{name}: {err:.2e}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("B, T, D, H", [(1, 1, 1, 1), (3, 2, 7, 3), (33, 50, 7, 17),
                                        (3, 50, 1, 65), (33, 2, 1, 130), (1, 50, 7, 64)])
def test_matches_the_numpy_reference(kind, dtype, tol, B, T, D, H):
    layer, data, upstream = problem(B, T, D, H, kind, dtype)
    ref = make_layer(reference, kind, D, H, dtype=np.float64, random_state=0)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        setattr(ref, name, getattr(layer, name).astype(np.float64))
    got = run(layer, data, upstream)
    expected = run(ref, {k: np.asarray(v, np.float64) if k != "lengths" else v
                         for k, v in data.items()}, upstream)
    for key, value in expected.items():
        assert got[key].dtype == np.dtype(dtype)
        assert normwise_error(got[key], value) < tol, key


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [2, 3])
def test_one_and_several_threads_give_identical_results(kind, dtype, n_threads):
    # H = 70: the weight gradients' G*H columns split between the threads
    # in whole vectors (the GRU's into full and narrow panels), or their
    # rows where the columns are too few (the float32 RNN).
    layer, data, upstream = problem(33, 20, 5, 70, kind, dtype)
    before = lstm_fast.get_num_threads()
    try:
        lstm_fast.set_num_threads(1)
        one = run(layer, data, upstream)
        lstm_fast.set_num_threads(n_threads)
        several = run(layer, data, upstream)
    finally:
        lstm_fast.set_num_threads(before)
    for key in one:
        np.testing.assert_array_equal(one[key], several[key], err_msg=key)


CHILD = r"""
import sys, numpy as np
import lstm_fast._core as core
from lstm_fast.layers import GRU, RNN
out = {"isa": np.array(core.isa_active())}
makers = {"gru": lambda dtype: GRU(7, 17, dtype=dtype, random_state=0),
          "tanh": lambda dtype: RNN(7, 17, "tanh", dtype=dtype, random_state=0),
          "relu": lambda dtype: RNN(7, 17, "relu", dtype=dtype, random_state=0)}
for nl, make in makers.items():
    for dtype in (np.float32, np.float64):
        layer = make(dtype)
        rng = np.random.default_rng(1)
        X = rng.standard_normal((5, 9, 7))
        Y, h_n, cache = layer.forward(X, lengths=[9, 1, 4, 9, 2], training=True)
        g = layer.backward(cache, dY=np.ones_like(Y))
        for k, v in {"Y": Y, "h_n": h_n, **g}.items():
            out[f"{nl}/{np.dtype(dtype).name}/{k}"] = v
np.savez(sys.argv[1], **out)
"""


def test_every_isa_path_computes_the_same_gru_and_rnn(tmp_path):
    supported = core.isas_supported()
    results = {isa: run_on_isa(CHILD, tmp_path / f"{isa}.npz", isa) for isa in supported}
    base = results["generic"]
    for isa, res in results.items():
        assert str(res["isa"]) == isa
        for key in base:
            if key == "isa":
                continue
            tol = 1e-5 if "float32" in key else 1e-12
            assert normwise_error(res[key], base[key]) < tol, (isa, key)


def test_nonlinearity_must_be_tanh_or_relu():
    with pytest.raises(ValueError, match="nonlinearity"):
        layers.RNN(3, 4, nonlinearity="sigmoid")


def test_low_level_forward_refuses_a_cell_state_for_an_rnn():
    layer = layers.RNN(3, 4, random_state=0)
    X = np.zeros((2, 5, 3), np.float32)
    out = [np.empty((2, 5, 4), np.float32), np.empty((2, 4), np.float32)]
    with pytest.raises(ValueError, match="no cell state"):
        core.forward("rnn_tanh", X, *layer._weights(), None, None, None, *out,
                     np.empty((2, 4), np.float32))


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_state_dict_round_trip_keeps_the_nonlinearity_given(nonlinearity):
    layer = layers.RNN(3, 4, nonlinearity, random_state=0)
    state = {k: v for k, v in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                                  layer._weights())}
    copy = layers.RNN.from_torch(state, nonlinearity=nonlinearity)
    X = np.random.default_rng(0).standard_normal((2, 5, 3))
    np.testing.assert_array_equal(copy.forward(X)[0], layer.forward(X)[0])
    assert copy.nonlinearity == nonlinearity


class TestTorchParity:
    torch = pytest.importorskip("torch")

    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_outputs_and_gradients_match_torch_on_packed_sequences(self, kind, dtype):
        torch = self.torch
        tdtype = torch.float32 if dtype == np.float32 else torch.float64
        torch.manual_seed(0)
        B, T, D, H = 5, 8, 3, 6
        name, extra = KINDS[kind]
        net = getattr(torch.nn, name)(D, H, batch_first=True, **extra).to(tdtype)
        layer = getattr(layers, name).from_torch(net)
        assert type(layer).__name__ == name and layer.dtype == np.dtype(dtype)
        assert getattr(layer, "nonlinearity", None) == extra.get("nonlinearity")
        rng = np.random.default_rng(0)
        X = rng.standard_normal((B, T, D)).astype(dtype)
        h0 = rng.standard_normal((B, H)).astype(dtype)
        lengths = np.array([8, 3, 5, 1, 8])
        dY = rng.standard_normal((B, T, H)).astype(dtype)
        dh_n = rng.standard_normal((B, H)).astype(dtype)

        Xt = torch.tensor(X, requires_grad=True)
        h0t = torch.tensor(h0[None], requires_grad=True)
        packed = torch.nn.utils.rnn.pack_padded_sequence(Xt, torch.tensor(lengths),
                                                         batch_first=True, enforce_sorted=False)
        out, hn = net(packed, h0t)
        Yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        ((Yt * torch.tensor(dY)).sum() + (hn[0] * torch.tensor(dh_n)).sum()).backward()

        Y, h_n, cache = layer.forward(X, h0, lengths, training=True)
        grads = layer.backward(cache, dY, dh_n)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        assert normwise_error(Y, Yt.detach().numpy()) < tol
        assert normwise_error(h_n, hn[0].detach().numpy()) < tol
        assert normwise_error(grads["X"], Xt.grad.numpy()) < tol
        assert normwise_error(grads["h0"], h0t.grad[0].numpy()) < tol
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            expected = getattr(net, name + "_l0").grad.numpy()
            assert normwise_error(grads[name], expected) < tol, name

    @pytest.mark.parametrize("layer_cls, module", [(layers.GRU, "LSTM"), (layers.RNN, "GRU"),
                                                   (layers.LSTM, "RNN")])
    def test_a_module_of_another_kind_is_refused(self, layer_cls, module):
        net = getattr(self.torch.nn, module)(3, 4)
        with pytest.raises(ValueError, match="expected"):
            layer_cls.from_torch(net)
