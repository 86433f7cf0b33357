"""The kernels' tanh and sigmoid (csrc/simd/activations.h), every ISA path,
against long-double references, in units in the last place (ulp).

The activations are inlined into the cells' epilogues, so they are measured
through layers wired to compute nothing else: an RNN whose input weights are
the identity and whose other weights and biases are zero outputs tanh(x);
an LSTM whose input gate sees x and whose cell candidate is saturated at 1
(bias 100) ends with c = sigmoid(x). A pre-activation x * 1 + 0 + ... is x
exactly, so the outputs are the activations of the grid itself.

Each ISA runs in its own subprocess (it is chosen once, at import).
"""

import numpy as np
import pytest

import lstm_fast._core as core
from _helpers import run_on_isa

ISAS = ("generic", "avx2", "avx512")
MAX_ULP = 4.0
# Below this x, exp(-x) is clamped (it would overflow), so sigmoid returns
# about 1/exp(EXP_HI) instead of a subnormal or 0: its error is then only
# bounded absolutely, by twice the smallest normal number.
CLAMPED_BELOW = {"float32": -87.0, "float64": -708.0}

CHILD = r"""
import sys
import numpy as np
import lstm_fast._core as core
from lstm_fast.layers import LSTM, RNN

K = 64  # units: whole vectors of every width, so no tail lanes

def grid(dtype):
    tiny = np.logspace(np.log10(np.finfo(dtype).tiny), 0, 20000)
    x = np.concatenate([np.linspace(-25, 25, 200001), tiny, -tiny,
                        np.linspace(-1, 1, 50001), np.linspace(-800, 800, 4001),
                        [0.0, -0.0, 1e4, -1e4]]).astype(dtype)
    return np.concatenate([x, np.zeros(-len(x) % K, dtype)]).reshape(-1, 1, K)

out = {"isa": np.array(core.isa_active())}
for dtype in (np.float32, np.float64):
    name, X, eye = np.dtype(dtype).name, grid(dtype), np.eye(K, dtype=dtype)
    zeros = lambda *shape: np.zeros(shape, dtype)
    rnn = RNN(K, K, dtype=dtype)
    rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh = eye, zeros(K, K), zeros(K), zeros(K)
    lstm = LSTM(K, K, dtype=dtype)
    lstm.weight_ih = np.concatenate([eye, zeros(3 * K, K)])   # gates i, f, g, o
    lstm.weight_hh, lstm.bias_hh = zeros(4 * K, K), zeros(4 * K)
    lstm.bias_ih = np.concatenate([zeros(2 * K), np.full(K, 100, dtype), zeros(K)])
    out[name + "/x"] = X.ravel()
    out[name + "/tanh"] = rnn.forward(X)[0].ravel()
    out[name + "/sigmoid"] = lstm.forward(X)[1][1].ravel()   # c_n = sigmoid(x) * 1
np.savez(sys.argv[1], **out)
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """ISA -> the child's arrays, for every ISA this CPU supports."""
    directory = tmp_path_factory.mktemp("activations")
    out = {isa: run_on_isa(CHILD, directory / f"{isa}.npz", isa)
           for isa in core.isas_supported()}
    for isa, arrays in out.items():
        assert str(arrays["isa"]) == isa
    return out


def ulp_error(got, reference, dtype):
    """|got - reference| in ulps of the reference rounded to ``dtype``."""
    ulp = np.spacing(np.abs(reference.astype(dtype))).astype(np.longdouble)
    return np.abs(got.astype(np.longdouble) - reference) / ulp


def references(x):
    x = x.astype(np.longdouble)
    return {"tanh": np.tanh(x), "sigmoid": 1 / (1 + np.exp(-x))}


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 60,
                    reason="needs an extended-precision long double for the reference")
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("function", ["tanh", "sigmoid"])
def test_activation_within_a_few_ulp(results, isa, dtype, function):
    if isa not in results:
        pytest.skip(f"ISA {isa!r} is not supported here")
    x = results[isa][dtype + "/x"]
    got = results[isa][f"{dtype}/{function}"]
    reference = references(x)[function]
    exact = x > CLAMPED_BELOW[dtype] if function == "sigmoid" else np.ones(x.shape, bool)
    err = ulp_error(got[exact], reference[exact], dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, f"{err[worst]:.2f} ulp at x = {x[exact][worst]!r}"
    tiny = np.finfo(dtype).tiny
    assert np.all((got[~exact] >= 0) & (got[~exact] <= 2 * tiny))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tanh_is_odd_and_bounded(results, isa, dtype):
    if isa not in results:
        pytest.skip(f"ISA {isa!r} is not supported here")
    x, t = results[isa][dtype + "/x"], results[isa][dtype + "/tanh"]
    assert np.all(np.abs(t) <= 1)
    # (Not at x = -0: the pre-activation -0 * 1 + 0 is +0.)
    nonzero = x != 0
    assert np.all(np.signbit(t[nonzero]) == np.signbit(x[nonzero]))
    # The grid holds -v for each of its tiny values: their tanh are negatives.
    order = np.argsort(x)
    xs, ts = x[order], t[order]
    mirror = np.searchsorted(xs, -xs)
    paired = (mirror < len(xs)) & (xs[np.minimum(mirror, len(xs) - 1)] == -xs)
    np.testing.assert_array_equal(ts[mirror[paired]], -ts[paired])
