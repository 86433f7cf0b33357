"""Bidirectional layers: the reverse direction runs each sequence from its
own last real step (as torch's packed sequences do), outputs are
concatenated and states stacked direction first, as in torch.

Metric: :func:`_helpers.normwise_error`, ``max|a - b| / max|b|``.
"""

import numpy as np
import pytest

from _helpers import normwise_error
from lstm_fast import layers, reference

KINDS = {"lstm": ("LSTM", {}), "gru": ("GRU", {}), "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
         "rnn_relu": ("RNN", {"nonlinearity": "relu"})}
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def make(module, kind, D, H, **kwargs):
    name, extra = KINDS[kind]
    return getattr(module, name)(D, H, bidirectional=True, **extra, **kwargs)


def states_of(kind):
    return ("h0", "c0") if kind == "lstm" else ("h0",)


def run(layer, kind, X, init, lengths, dY, d_final):
    """forward + backward; results flattened into one dict."""
    out = layer.forward(X, *init, lengths=lengths, training=True)
    Y, final, cache = out
    final = final if isinstance(final, tuple) else (final,)
    grads = layer.backward(cache, dY, *d_final)
    return {"Y": Y, **{f"final{i}": f for i, f in enumerate(final)},
            **{"grad_" + k: v for k, v in grads.items()}}


def problem(kind, B, T, D, H, dtype, seed=0):
    rng = np.random.default_rng(seed)
    n = len(states_of(kind))
    return {
        "X": rng.standard_normal((B, T, D)).astype(dtype),
        "init": [rng.standard_normal((2, B, H)).astype(dtype) for _ in range(n)],
        "lengths": rng.integers(1, T + 1, B),
        "dY": rng.standard_normal((B, T, 2 * H)),
        "d_final": [rng.standard_normal((2, B, H)) for _ in range(n)],
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("B, T, D, H", [(1, 1, 1, 1), (3, 7, 2, 5), (17, 30, 7, 33)])
def test_kernel_matches_the_numpy_reference(kind, dtype, tol, B, T, D, H):
    layer = make(layers, kind, D, H, dtype=dtype, random_state=0)
    ref = make(reference, kind, D, H, dtype=np.float64, random_state=0)
    for name in PARAMS:
        for suffix in ("", "_reverse"):
            setattr(ref, name + suffix, getattr(layer, name + suffix).astype(np.float64))
    p = problem(kind, B, T, D, H, dtype)
    got = run(layer, kind, p["X"], p["init"], p["lengths"], p["dY"], p["d_final"])
    expected = run(ref, kind, p["X"].astype(np.float64), [s.astype(np.float64) for s in p["init"]],
                   p["lengths"], p["dY"], p["d_final"])
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key].shape == expected[key].shape, key
        assert normwise_error(got[key], expected[key]) < tol, key


def test_shapes_follow_torch():
    layer = layers.LSTM(3, 4, bidirectional=True, random_state=0)
    Y, (h_n, c_n) = layer.forward(np.zeros((2, 5, 3)))
    assert Y.shape == (2, 5, 8) and h_n.shape == c_n.shape == (2, 2, 4)
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 2, 4\)"):
        layer.forward(np.zeros((2, 5, 3)), h0=np.zeros((2, 4)))


def test_reverse_direction_starts_at_each_sequences_last_real_step():
    """With lengths, the reverse half equals running a reverse-only layer on
    each sample alone, truncated to its own length."""
    layer = layers.GRU(2, 3, bidirectional=True, random_state=0)
    X = np.random.default_rng(1).standard_normal((3, 6, 2))
    lengths = np.array([6, 2, 4])
    Y, h_n = layer.forward(X, lengths=lengths)
    backward_only = layers.GRU(2, 3, random_state=0)
    for name in PARAMS:
        setattr(backward_only, name, getattr(layer, name + "_reverse"))
    for b, L in enumerate(lengths):
        Yb, hb = backward_only.forward(X[b:b + 1, :L][:, ::-1])
        np.testing.assert_allclose(Y[b, :L, 3:], Yb[0, ::-1], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(Y[b, L:], 0)
        np.testing.assert_allclose(h_n[1, b], hb[0], rtol=1e-6, atol=1e-7)


def test_gradients_match_central_finite_differences():
    layer = layers.LSTM(2, 3, bidirectional=True, dtype=np.float64, random_state=0)
    p = problem("lstm", 3, 4, 2, 3, np.float64)

    def loss():
        Y, (h_n, c_n) = layer.forward(p["X"], *p["init"], lengths=p["lengths"])
        return float(np.sum(p["dY"] * Y) + np.sum(p["d_final"][0] * h_n)
                     + np.sum(p["d_final"][1] * c_n))

    got = run(layer, "lstm", p["X"], p["init"], p["lengths"], p["dY"], p["d_final"])
    targets = {name + s: getattr(layer, name + s) for name in PARAMS for s in ("", "_reverse")}
    targets.update(X=p["X"], h0=p["init"][0], c0=p["init"][1])
    eps = 1e-6
    for name, target in targets.items():
        numeric = np.zeros_like(target)
        for idx in np.ndindex(target.shape):
            saved = target[idx]
            target[idx] = saved + eps
            up = loss()
            target[idx] = saved - eps
            down = loss()
            target[idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        assert normwise_error(got["grad_" + name], numeric) < 1e-6, name


class TestTorchParity:
    torch = pytest.importorskip("torch")

    @pytest.mark.parametrize("kind", KINDS)
    def test_matches_torch_bidirectional_on_packed_sequences(self, kind):
        torch = self.torch
        torch.manual_seed(0)
        name, extra = KINDS[kind]
        B, T, D, H = 4, 7, 3, 5
        net = getattr(torch.nn, name)(D, H, batch_first=True, bidirectional=True,
                                      **extra).double()
        layer = getattr(layers, name).from_torch(net)
        assert layer.bidirectional
        p = problem(kind, B, T, D, H, np.float64)
        Xt = torch.tensor(p["X"], requires_grad=True)
        init = [torch.tensor(s, requires_grad=True) for s in p["init"]]
        packed = torch.nn.utils.rnn.pack_padded_sequence(Xt, torch.tensor(p["lengths"]),
                                                         batch_first=True, enforce_sorted=False)
        out, final = net(packed, tuple(init) if kind == "lstm" else init[0])
        Yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        final = final if isinstance(final, tuple) else (final,)
        loss = (Yt * torch.tensor(p["dY"])).sum()
        for f, df in zip(final, p["d_final"]):
            loss = loss + (f * torch.tensor(df)).sum()
        loss.backward()

        got = run(layer, kind, p["X"], p["init"], p["lengths"], p["dY"], p["d_final"])
        assert normwise_error(got["Y"], Yt.detach().numpy()) < 1e-12
        for i, f in enumerate(final):
            assert normwise_error(got[f"final{i}"], f.detach().numpy()) < 1e-12
        assert normwise_error(got["grad_X"], Xt.grad.numpy()) < 1e-12
        for state, tensor in zip(states_of(kind), init):
            assert normwise_error(got["grad_" + state], tensor.grad.numpy()) < 1e-12
        for pname in PARAMS:
            for suffix in ("", "_reverse"):
                expected = getattr(net, pname + "_l0" + suffix).grad.numpy()
                assert normwise_error(got["grad_" + pname + suffix], expected) < 1e-12

    def test_state_dict_round_trip(self):
        layer = layers.GRU(3, 4, bidirectional=True, random_state=0)
        net = self.torch.nn.GRU(3, 4, bidirectional=True)
        net.load_state_dict(layer.to_torch_state_dict())
        back = layers.GRU.from_torch(net.state_dict())
        for name in PARAMS:
            for suffix in ("", "_reverse"):
                np.testing.assert_array_equal(getattr(back, name + suffix),
                                              getattr(layer, name + suffix))

    @pytest.mark.parametrize("kind", ["lstm", "gru"])
    def test_two_stacked_bidirectional_layers_match_torch_num_layers_2(self, kind):
        """torch's num_layers=2, bidirectional=True on a packed batch equals
        our two layers taken with from_torch(module, layer=i) and stacked."""
        torch = self.torch
        torch.manual_seed(0)
        name, _ = KINDS[kind]
        B, T, D, H = 4, 6, 3, 5
        net = getattr(torch.nn, name)(D, H, num_layers=2, batch_first=True,
                                      bidirectional=True).double()
        stack = [getattr(layers, name).from_torch(net, layer=i) for i in range(2)]
        assert stack[1].input_size == 2 * H
        rng = np.random.default_rng(0)
        X = rng.standard_normal((B, T, D))
        lengths = np.array([6, 2, 4, 1])
        dY = rng.standard_normal((B, T, 2 * H))
        d_final = rng.standard_normal((4, B, H))  # torch's (layer, direction) order

        Xt = torch.tensor(X, requires_grad=True)
        packed = torch.nn.utils.rnn.pack_padded_sequence(Xt, torch.tensor(lengths),
                                                         batch_first=True, enforce_sorted=False)
        out, final = net(packed)
        h_t = final[0] if kind == "lstm" else final
        Yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        ((Yt * torch.tensor(dY)).sum() + (h_t * torch.tensor(d_final)).sum()).backward()

        Y0, s0, c0 = stack[0].forward(X, lengths=lengths, training=True)
        Y1, s1, c1 = stack[1].forward(Y0, lengths=lengths, training=True)
        h0_n = s0[0] if kind == "lstm" else s0
        h1_n = s1[0] if kind == "lstm" else s1
        assert normwise_error(Y1, Yt.detach().numpy()) < 1e-12
        assert normwise_error(np.concatenate([h0_n, h1_n]), h_t.detach().numpy()) < 1e-12
        g1 = stack[1].backward(c1, dY, d_final[2:])
        g0 = stack[0].backward(c0, g1["X"], d_final[:2])
        assert normwise_error(g0["X"], Xt.grad.numpy()) < 1e-12
        for i, g in enumerate((g0, g1)):
            for pname in PARAMS:
                for suffix in ("", "_reverse"):
                    expected = getattr(net, f"{pname}_l{i}{suffix}").grad.numpy()
                    assert normwise_error(g[pname + suffix], expected) < 1e-12, (i, pname)

    def test_a_stacked_module_needs_the_layer_index(self):
        net = self.torch.nn.GRU(3, 4, num_layers=2)
        with pytest.raises(ValueError, match="layer=0..1"):
            layers.GRU.from_torch(net)
        with pytest.raises(ValueError, match="layer must be"):
            layers.GRU.from_torch(net, layer=2)
