"""A sample's results do not depend on the batch it is in, bit for bit, on
every ISA path.

In a batch a sample's row goes through the micro-kernel with up to MR - 1
other rows; alone (B = 1: streaming) it goes through the single-row kernel,
which takes several column panels per pass (gemm_micro_row). Both must sum
every element in the same order, so a sequence predicts the same alone or
in a batch, and so do its state and input gradients. The hidden sizes span
several micro-panels per tile on every ISA and, past KC = 512
(csrc/gemm/blocksizes.h), several slices of K: the backward's G*H for the
LSTM of H = 150 and the GRU, the forward's H too for the RNN.
"""

import numpy as np
import pytest

import lstm_fast._core as core
from _helpers import run_on_isa

CHILD = r"""
import sys
import numpy as np
from lstm_fast.layers import GRU, LSTM, RNN

out = {}
rng = np.random.default_rng(7)
B, T = 5, 9
for cls, D, H in ((LSTM, 4, 150), (LSTM, 70, 40), (GRU, 3, 200), (RNN, 6, 520)):
    for dtype in (np.float32, np.float64):
        layer = cls(D, H, dtype=dtype, random_state=3)
        X = rng.standard_normal((B, T, D)).astype(dtype)
        lengths = np.array([T, 4, 1, 7, T])
        dY = np.cos(np.arange(B * T * H).reshape(B, T, H)).astype(dtype)
        runs = {"batch": (X, lengths, dY)}
        runs.update({f"alone{b}": (X[b:b + 1, :lengths[b]], None, dY[b:b + 1, :lengths[b]])
                     for b in range(B)})
        for name, (x, lens, dy) in runs.items():
            key = f"{cls.__name__}/{D}/{H}/{np.dtype(dtype).name}/{name}"
            Y, state = layer.forward(x, lengths=lens)[:2]
            out[key + "/Y"] = Y
            for i, s in enumerate(state if isinstance(state, tuple) else (state,)):
                out[f"{key}/state{i}"] = s
            Y, *_, cache = layer.forward(x, lengths=lens, training=True)
            out[key + "/Y_training"] = Y
            grads = layer.backward(cache, dY=dy, state_gradients=True)
            for name_ in ("X", "h0", "c0", "h_seq", "c_seq"):
                if name_ in grads:
                    out[f"{key}/grad_{name_}"] = grads[name_]
np.savez(sys.argv[1], **out)
"""


@pytest.mark.parametrize("isa", core.isas_supported())
def test_each_sample_alone_gives_the_bits_it_gets_in_a_batch(isa, tmp_path):
    out = run_on_isa(CHILD, tmp_path / "out.npz", isa)
    lengths = [9, 4, 1, 7, 9]
    checked = 0
    for key in out:
        run, run_name, array = key.rsplit("/", 2)
        if run_name != "batch":
            continue
        batch = out[key]
        for b, length in enumerate(lengths):
            alone = out[f"{run}/alone{b}/{array}"]
            # Batch-first arrays (B, T, ...) hold the sample's steps in row b;
            # states and initial-state gradients (B, H) its row.
            mine = batch[b:b + 1, :length] if batch.ndim == 3 else batch[b:b + 1]
            np.testing.assert_array_equal(alone, mine, err_msg=f"{isa}: {key}, sample {b}")
            checked += 1
    assert checked >= 4 * 2 * 5 * 5
