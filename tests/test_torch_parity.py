"""The kernel layer loaded with ``LSTM.from_torch`` computes what torch.nn.LSTM does.

Outputs, final states and every gradient (torch's through autograd, of the
loss sum(dY*Y) + sum(dh_n*h_n) + sum(dc_n*c_n)) are compared, with and without
variable lengths (torch: ``pack_padded_sequence(enforce_sorted=False)`` then
``pad_packed_sequence(total_length=T)``) and with and without initial states.

Tolerances (``np.testing.assert_allclose``): float32 ``rtol=1e-4`` with
``atol=1e-5`` times the largest torch value of the array; float64
``rtol=1e-10``, ``atol=1e-12`` times that scale.
"""

import numpy as np
import pytest

from _helpers import GRAD_KEYS, PARAM_KEYS, FastLSTM, make_problem

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

TOL = {np.float32: (1e-4, 1e-5), np.float64: (1e-10, 1e-12)}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]
SHAPES = [(8, 20, 6, 16), (5, 13, 7, 65), (1, 1, 1, 1), (33, 50, 3, 130)]


def shape_id(shape):
    return "B{}-T{}-D{}-H{}".format(*shape)


def torch_module(D, H, dtype, seed=0, batch_first=True):
    torch.manual_seed(seed)
    return torch.nn.LSTM(D, H, batch_first=batch_first).to(TORCH_DTYPE[dtype])


def torch_inputs(shape, dtype, lengths, states, seed=0):
    """Inputs and upstream gradients (the layer make_problem builds is unused)."""
    B, T, D, H = shape
    _, data, upstream = make_problem(B, T, D, H, dtype=dtype, seed=seed,
                                     lengths="random" if lengths else None, states=states)
    return data, upstream


def run_torch(module, data, upstream):
    """Forward + backward through torch (batch-first module); results as numpy."""
    dtype = next(module.parameters()).dtype
    X = torch.tensor(data["X"], dtype=dtype, requires_grad=True)
    T = X.shape[1]
    hx = None
    if data["h0"] is not None:
        h0 = torch.tensor(data["h0"], dtype=dtype, requires_grad=True)
        c0 = torch.tensor(data["c0"], dtype=dtype, requires_grad=True)
        hx = (h0[None], c0[None])
    module.zero_grad()
    if data["lengths"] is None:
        Y, (h_n, c_n) = module(X, hx)
    else:
        packed = pack_padded_sequence(X, torch.as_tensor(data["lengths"]), batch_first=True,
                                      enforce_sorted=False)
        out, (h_n, c_n) = module(packed, hx)
        Y, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    h_n, c_n = h_n[0], c_n[0]
    loss = (
        (Y * torch.tensor(upstream["dY"], dtype=dtype)).sum()
        + (h_n * torch.tensor(upstream["dh_n"], dtype=dtype)).sum()
        + (c_n * torch.tensor(upstream["dc_n"], dtype=dtype)).sum()
    )
    loss.backward()
    result = {"Y": Y.detach().numpy(), "h_n": h_n.detach().numpy(),
              "c_n": c_n.detach().numpy(), "grad_X": X.grad.numpy()}
    result.update({"grad_" + name: getattr(module, name + "_l0").grad.numpy()
                   for name in PARAM_KEYS})
    if hx is not None:
        result.update(grad_h0=h0.grad.numpy(), grad_c0=c0.grad.numpy())
    return result


def run_fast(layer, data, upstream):
    Y, (h_n, c_n), cache = layer.forward(data["X"], data["h0"], data["c0"], data["lengths"],
                                         training=True)
    grads = layer.backward(cache, **upstream)
    result = {"Y": Y, "h_n": h_n, "c_n": c_n}
    result.update({"grad_" + k: v for k, v in grads.items()})
    return result


def assert_matches_torch(got, expected, dtype):
    rtol, atol = TOL[dtype]
    for key, value in expected.items():
        assert got[key].dtype == dtype, key
        scale = max(float(np.abs(value).max()), 1e-30)
        np.testing.assert_allclose(got[key], value, rtol=rtol, atol=atol * scale, err_msg=key)


@pytest.mark.parametrize("states", [False, True], ids=["zero-states", "states"])
@pytest.mark.parametrize("lengths", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_outputs_states_and_gradients_match_torch(dtype, shape, lengths, states):
    B, T, D, H = shape
    module = torch_module(D, H, dtype, seed=sum(shape))
    layer = FastLSTM.from_torch(module)
    assert isinstance(layer, FastLSTM) and layer.dtype == dtype
    data, upstream = torch_inputs(shape, dtype, lengths, states, seed=sum(shape))
    expected = run_torch(module, data, upstream)
    got = run_fast(layer, data, upstream)
    assert set(expected) <= set(got)
    if states:
        assert {"grad_" + k for k in GRAD_KEYS} <= set(expected)
    assert_matches_torch(got, expected, dtype)


def test_time_major_module_loads_the_same():
    # batch_first does not change the weights; the layer is always batch first.
    shape = (4, 9, 3, 17)
    module = torch_module(3, 17, np.float64, seed=1, batch_first=False)
    layer = FastLSTM.from_torch(module)
    data, upstream = torch_inputs(shape, np.float64, lengths=False, states=True, seed=1)
    with torch.no_grad():
        Y_t, (h_t, c_t) = module(torch.from_numpy(data["X"]).transpose(0, 1),
                                 (torch.from_numpy(data["h0"])[None],
                                  torch.from_numpy(data["c0"])[None]))
    Y, (h_n, c_n) = layer.forward(data["X"], data["h0"], data["c0"])
    np.testing.assert_allclose(Y, Y_t.transpose(0, 1).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_n, h_t[0].numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c_n, c_t[0].numpy(), rtol=1e-10, atol=1e-12)


def test_float32_module_loaded_as_float64_matches_the_module_in_float64():
    shape = (6, 15, 5, 33)
    module = torch_module(5, 33, np.float32, seed=2)
    layer = FastLSTM.from_torch(module, dtype=np.float64)
    assert layer.dtype == np.float64
    module64 = module.double()  # float32 -> float64 is exact: same weights
    data, upstream = torch_inputs(shape, np.float64, lengths=True, states=True, seed=2)
    assert_matches_torch(run_fast(layer, data, upstream), run_torch(module64, data, upstream),
                         np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_state_dict_of_the_layer_loads_into_torch_and_computes_the_same(dtype):
    shape = (3, 8, 4, 19)
    layer = FastLSTM(4, 19, dtype=dtype, random_state=3)
    module = torch.nn.LSTM(4, 19, batch_first=True).to(TORCH_DTYPE[dtype])
    module.load_state_dict(layer.to_torch_state_dict())
    data, upstream = torch_inputs(shape, dtype, lengths=True, states=True, seed=3)
    assert_matches_torch(run_fast(layer, data, upstream), run_torch(module, data, upstream),
                         dtype)
