"""Property-based tests (hypothesis) of the kernel layers: any shape, length,
dtype, memory layout, initial state and value gives either the NumPy
reference's result or a clear ValueError / TypeError, never a crash, a
silent NaN or a write outside the outputs.

Budget: the ``ci`` / ``long`` hypothesis profiles of conftest.py.
"""

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

from lstm_fast import layers, reference

#: cell -> (layer class name, constructor keywords, bounded output |h| <= 1)
CELLS = {
    "lstm": ("LSTM", {}, True),
    "gru": ("GRU", {}, True),
    "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}, True),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}, False),
}
DTYPES = (np.float32, np.float64)
LAYOUTS = ("C", "F", "strided", "negative", "time-major view", "int", "list")
HIDDEN = (1, 2, 3, 5, 8, 9, 16, 17, 33)  # SIMD widths and their tails


def make_layers(cell, D, H, dtype, bidirectional, seed):
    """The kernel layer and the float64 reference layer with the same
    parameters (cast exactly)."""
    name, kwargs, _ = CELLS[cell]
    fast = getattr(layers, name)(D, H, dtype=dtype, random_state=seed,
                                 bidirectional=bidirectional, **kwargs)
    ref = getattr(reference, name)(D, H, dtype=np.float64, random_state=seed,
                                   bidirectional=bidirectional, **kwargs)
    for suffix in fast._suffixes():
        for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            setattr(ref, p + suffix, getattr(fast, p + suffix).astype(np.float64))
    return fast, ref


def in_layout(a, layout, rng):
    """The same values as `a` (float64), laid out in memory another way."""
    if layout == "C" or a is None:
        return a
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":  # every other element of a bigger buffer, along every axis
        big = np.full(tuple(2 * n for n in a.shape), np.nan)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "negative":  # a reversed view of reversed values
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "time-major view" and a.ndim == 3:
        return np.ascontiguousarray(a.transpose(1, 0, 2)).transpose(1, 0, 2)
    if layout == "int":
        return a  # the caller draws integer values for this layout
    if layout == "list":
        return a.tolist()
    return a


@st.composite
def problems(draw):
    cell = draw(st.sampled_from(sorted(CELLS)))
    dtype = draw(st.sampled_from(DTYPES))
    bidirectional = draw(st.booleans())
    B = draw(st.integers(1, 5))
    T = draw(st.integers(1, 7))
    D = draw(st.integers(1, 4))
    H = draw(st.sampled_from(HIDDEN))
    seed = draw(st.integers(0, 2**16))
    lengths = draw(st.one_of(st.none(), st.lists(st.integers(1, T), min_size=B, max_size=B)))
    lengths_type = draw(st.sampled_from(["list", "int8", "int32", "int64", "uint16"]))
    x_layout = draw(st.sampled_from(LAYOUTS))
    state_layout = draw(st.sampled_from(("none", "C", "F", "strided", "negative", "list")))
    scale = draw(st.sampled_from([0.0, 1e-3, 1.0, 10.0, 1e3]))
    return dict(cell=cell, dtype=dtype, bidirectional=bidirectional, B=B, T=T, D=D, H=H,
                seed=seed, lengths=lengths, lengths_type=lengths_type, x_layout=x_layout,
                state_layout=state_layout, scale=scale)


def tiny_scale(dtype):
    """A subnormal of `dtype`: inputs of that size must not slow down or
    break the kernels (flush-to-zero would change nothing visible)."""
    return float(np.finfo(dtype).smallest_normal) / 64


def build_inputs(case, rng, scale):
    B, T, D, H = case["B"], case["T"], case["D"], case["H"]
    directions = 2 if case["bidirectional"] else 1
    state_shape = (directions, B, H) if case["bidirectional"] else (B, H)
    if case["x_layout"] == "int":
        X = rng.integers(-3, 4, size=(B, T, D)).astype(np.float64)
    else:
        X = rng.standard_normal((B, T, D)) * scale
    h0 = c0 = None
    if case["state_layout"] != "none":
        h0 = rng.uniform(-0.9, 0.9, state_shape)
        c0 = rng.standard_normal(state_shape) * max(scale, 1.0)
    lengths = case["lengths"]
    if lengths is not None and case["lengths_type"] != "list":
        lengths = np.array(lengths, dtype=case["lengths_type"])
    upstream = {"dY": rng.standard_normal((B, T, directions * H)),
                "dh_n": rng.standard_normal(state_shape),
                "dc_n": rng.standard_normal(state_shape)}
    return X, h0, c0, lengths, upstream


def run(layer, cell, X, h0, c0, lengths, upstream):
    """Forward (training) and backward; every array in one dict."""
    if cell == "lstm":
        Y, (h_n, c_n), cache = layer.forward(X, h0, c0, lengths=lengths, training=True)
        grads = layer.backward(cache, **upstream)
        out = {"Y": Y, "h_n": h_n, "c_n": c_n}
    else:
        Y, h_n, cache = layer.forward(X, h0, lengths=lengths, training=True)
        grads = layer.backward(cache, dY=upstream["dY"], dh_n=upstream["dh_n"])
        out = {"Y": Y, "h_n": h_n}
    out.update({"grad_" + k: v for k, v in grads.items()})
    return out


def scaled_error(value, oracle):
    """max|value - oracle| / max(1, max|oracle|)."""
    value = np.asarray(value, dtype=np.float64)
    oracle = np.asarray(oracle, dtype=np.float64)
    assert value.shape == oracle.shape
    return float(np.max(np.abs(value - oracle)) / max(1.0, float(np.max(np.abs(oracle)))))


@given(case=problems(), tiny=st.booleans())
def test_any_shape_layout_and_state_matches_the_reference(case, tiny):
    """Forward and backward of every cell, direction, dtype and layout agree
    with the float64 NumPy reference; inputs are not modified."""
    note(case)
    rng = np.random.default_rng(case["seed"])
    fast, ref = make_layers(case["cell"], case["D"], case["H"], case["dtype"],
                            case["bidirectional"], case["seed"])
    scale = tiny_scale(case["dtype"]) if tiny else case["scale"]
    X, h0, c0, lengths, upstream = build_inputs(case, rng, scale)
    # Inputs in the layer's dtype first, so that both layers see the same values.
    X, h0, c0 = (None if a is None else a.astype(case["dtype"]).astype(np.float64)
                 for a in (X, h0, c0))
    upstream = {k: v.astype(case["dtype"]).astype(np.float64) for k, v in upstream.items()}
    given_arrays = {
        "X": in_layout(X, case["x_layout"], rng),
        "h0": in_layout(h0, case["state_layout"], rng),
        "c0": in_layout(c0, case["state_layout"], rng),
    }
    snapshot = {k: (None if v is None else np.array(v)) for k, v in given_arrays.items()}
    got = run(fast, case["cell"], given_arrays["X"], given_arrays["h0"],
              given_arrays["c0"] if case["cell"] == "lstm" else None, lengths, upstream)
    oracle = run(ref, case["cell"], X, h0, c0 if case["cell"] == "lstm" else None,
                 lengths, upstream)
    for k, v in given_arrays.items():  # nothing written into the inputs
        if v is not None:
            np.testing.assert_array_equal(np.array(v), snapshot[k], err_msg=k)
    assert set(got) == set(oracle)
    if case["dtype"] == np.float64:
        tol = 1e-10
    else:
        # Float32 rounds pre-activations of size ~scale by ~6e-8 * scale.
        tol = 1e-4 if case["scale"] <= 1 or tiny else 2e-3 if case["scale"] <= 10 else 2e-2
    for k in oracle:
        assert got[k].dtype == case["dtype"], k
        assert got[k].shape == oracle[k].shape, k
        assert np.all(np.isfinite(got[k])), k
        assert scaled_error(got[k], oracle[k]) <= tol, (k, scaled_error(got[k], oracle[k]))


SPECIALS = (np.nan, np.inf, -np.inf, "huge", "-huge")


@st.composite
def dirty_problems(draw):
    case = draw(problems())
    n = draw(st.integers(1, 4))
    # (sample, step, feature, value) of X, and (sample, unit, value) of the states.
    spots = draw(st.lists(st.tuples(st.integers(0, case["B"] - 1),
                                    st.integers(0, case["T"] - 1),
                                    st.integers(0, case["D"] - 1),
                                    st.sampled_from(SPECIALS)), min_size=n, max_size=n))
    state_spots = draw(st.lists(st.tuples(st.integers(0, case["B"] - 1),
                                          st.integers(0, case["H"] - 1),
                                          st.sampled_from(SPECIALS)), max_size=2))
    return case, spots, state_spots


def special_value(v, dtype):
    if v == "huge":
        return 1e30 if dtype == np.float32 else 1e300
    if v == "-huge":
        return -1e30 if dtype == np.float32 else -1e300
    return v


@given(problem=dirty_problems())
def test_nan_inf_and_huge_values_stay_in_their_own_sample(problem):
    """NaN, infinity and huge values in X or in the initial states: no crash,
    and every other sample's outputs and input gradients are bit for bit
    those of a clean batch; a value at a padded step changes nothing at all;
    huge finite values give finite, bounded outputs (tanh/sigmoid cells);
    NaN in a sample's live input shows in its final state (never hidden)."""
    case, spots, state_spots = problem
    note(case)
    dtype, cell = case["dtype"], case["cell"]
    rng = np.random.default_rng(case["seed"])
    fast, _ = make_layers(cell, case["D"], case["H"], dtype, case["bidirectional"],
                          case["seed"])
    X, h0, c0, lengths, upstream = build_inputs(case, rng, 1.0)
    B, T = case["B"], case["T"]
    live_len = np.full(B, T) if lengths is None else np.asarray(lengths, dtype=np.int64)
    dirty_X = X.copy()
    for b, t, d, v in spots:
        dirty_X[b, t, d] = special_value(v, dtype)
    live = np.arange(T) < live_len[:, None]
    # A special value in a live step (or, below, a state); NaN in a live step.
    touched = ((dirty_X != X) & live[..., None]).any(axis=(1, 2))
    nan_live = (np.isnan(dirty_X) & live[..., None]).any(axis=(1, 2))
    dirty_h0, dirty_c0 = h0, c0
    if h0 is not None and state_spots:
        dirty_h0, dirty_c0 = h0.copy(), c0.copy()
        for b, j, v in state_spots:
            target = dirty_h0 if j % 2 else dirty_c0
            target[..., b, j] = special_value(v, dtype)
            touched[b] = True
    if cell != "lstm":
        c0 = dirty_c0 = None
    with np.errstate(all="ignore"):
        clean = run(fast, cell, X, h0, c0, lengths, upstream)
        dirty = run(fast, cell, in_layout(dirty_X, case["x_layout"], rng),
                    in_layout(dirty_h0, case["state_layout"], rng),
                    in_layout(dirty_c0, case["state_layout"], rng), lengths, upstream)
    for k in clean:
        assert dirty[k].shape == clean[k].shape
    per_sample = ["Y", "grad_X"] + [k for k in ("h_n", "c_n", "grad_h0", "grad_c0")
                                    if k in clean]
    for b in np.flatnonzero(~touched):
        for k in per_sample:
            a, c = (clean[k][b], dirty[k][b]) if k in ("Y", "grad_X") or \
                not case["bidirectional"] else (clean[k][:, b], dirty[k][:, b])
            np.testing.assert_array_equal(c, a, err_msg=f"{k} of untouched sample {b}")
    if not touched.any():  # only padded steps were dirty: nothing may change
        for k in clean:
            np.testing.assert_array_equal(dirty[k], clean[k], err_msg=k)
    bounded = CELLS[cell][2]
    only_huge = all(isinstance(v, str) for *_, v in spots) and \
        all(isinstance(v, str) for *_, v in state_spots)
    if only_huge and bounded:
        # A GRU's h is a convex mix of its last state and tanh: |h| <= max(1, |h0|).
        bound = 1.0 if dirty_h0 is None or cell != "gru" else \
            max(1.0, float(np.abs(dirty_h0.astype(dtype)).max()))
        for k in ("Y", "h_n"):
            assert np.all(np.isfinite(dirty[k])), k
            assert np.all(np.abs(dirty[k]) <= bound), k
    state = dirty["h_n"][0] if case["bidirectional"] else dirty["h_n"]
    for b in np.flatnonzero(nan_live):
        assert np.isnan(state[b]).any(), f"NaN in sample {b}'s input vanished"


@st.composite
def bad_calls(draw):
    case = draw(problems())
    kind = draw(st.sampled_from(["X ndim", "X features", "X empty", "X strings",
                                 "X complex", "lengths range", "lengths shape",
                                 "lengths float", "h0 shape", "dY shape"]))
    return case, kind


@given(problem=bad_calls())
def test_bad_arguments_raise_value_or_type_error_naming_them(problem):
    case, kind = problem
    rng = np.random.default_rng(case["seed"])
    fast, _ = make_layers(case["cell"], case["D"], case["H"], case["dtype"],
                          case["bidirectional"], case["seed"])
    X, h0, c0, lengths, upstream = build_inputs(case, rng, 1.0)
    B, T, D = X.shape
    kwargs = {"lengths": lengths}
    expected, name = ValueError, "X"
    if kind == "X ndim":
        X = X[0]
    elif kind == "X features":
        X = np.zeros((B, T, D + 1))
    elif kind == "X empty":
        X = np.zeros((0, T, D)) if case["seed"] % 2 else np.zeros((B, 0, D))
    elif kind == "X strings":
        X, expected = np.full((B, T, D), "a"), TypeError
    elif kind == "X complex":
        X, expected = X + 1j, TypeError
    elif kind == "lengths range":
        kwargs["lengths"], name = np.full(B, T + 1 if case["seed"] % 2 else 0), "lengths"
    elif kind == "lengths shape":
        kwargs["lengths"], name = np.ones(B + 1, int), "lengths"
    elif kind == "lengths float":
        kwargs["lengths"], name = np.ones(B), "lengths"
    elif kind == "h0 shape":
        kwargs["h0"], name = np.zeros((B + 1, case["H"])), "h0"
    if kind == "dY shape":
        _, _, cache = fast.forward(X, training=True, **kwargs)
        with pytest.raises(ValueError, match="dY"):
            fast.backward(cache, dY=np.zeros((B, T + 1, 1)))
        return
    with pytest.raises(expected, match=name):
        fast.forward(X, **kwargs)
