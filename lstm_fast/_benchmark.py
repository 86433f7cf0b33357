"""Kernel benchmarks: lstm_fast against the NumPy reference, side by side.

Both implementations run in the same process on the same data, alternately,
so the ratios hold even on a noisy machine; times are medians.
"""

import time
from dataclasses import dataclass

import numpy as np

# The DESIGN.md shapes: (batch B, steps T, inputs D, hidden H).
SHAPES = {
    "small": (32, 50, 8, 64),
    "medium": (64, 100, 32, 128),
    "large": (128, 100, 128, 512),
    "stream": (1, 1000, 4, 64),
}


def forward_flops(B, T, D, H, gates=4):
    """FLOPs of one forward pass: the two GEMMs per step, 2*B*T*G*H*(D+H)."""
    return 2 * B * T * gates * H * (D + H)


def make_problem(shape, dtype=np.float32, seed=0):
    """Random inputs and output gradients for a shape name or (B, T, D, H)."""
    B, T, D, H = SHAPES[shape] if isinstance(shape, str) else shape
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, T, D)).astype(dtype)
    dY = rng.standard_normal((B, T, H)).astype(dtype)
    return X, dY


def forward(layer, X, dY):
    """Inference: outputs only."""
    layer.forward(X)


def train_step(layer, X, dY):
    """Forward in training mode, then backward with weight gradients."""
    cache = layer.forward(X, training=True)[-1]
    layer.backward(cache, dY=dY)


MODES = {"forward": forward, "train": train_step}

# Cell name -> layer class name in lstm_fast.layers and lstm_fast.reference.
CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


@dataclass
class Row:
    cell: str
    shape: str
    mode: str
    fast_ms: float
    reference_ms: float
    gflops: float
    torch_ms: float = None  # when compared with torch

    @property
    def speedup(self):
        return self.reference_ms / self.fast_ms


def _median_ms(fn, repeat, budget_s):
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < budget_s and len(times) < 10 * repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= repeat and time.perf_counter() - start > budget_s:
            break
    return 1e3 * float(np.median(times))


def torch_steppers(layer, mode):
    """The same layer in torch (its weights through to_torch_state_dict),
    as a function of (X, dY) for a mode; torch only runs in benchmarks."""
    import torch

    module = getattr(torch.nn, type(layer).__name__)(
        layer.input_size, layer.hidden_size, batch_first=True,
        **({"nonlinearity": layer.nonlinearity} if hasattr(layer, "nonlinearity") else {}))
    module.load_state_dict(layer.to_torch_state_dict())
    module = module.to(torch.float32 if layer.dtype == np.float32 else torch.float64)

    def forward(X, dY):
        with torch.no_grad():
            module(X)

    def train(X, dY):
        module.zero_grad(set_to_none=True)
        Y, _ = module(X)
        Y.backward(dY)

    return {"forward": forward, "train": train}[mode]


def run(shapes=None, modes=("forward", "train"), dtype=np.float32, repeat=7, budget_s=2.0,
        cells=("lstm",), compare=()):
    """Time lstm_fast and the NumPy reference on each cell, shape and mode.

    Parameters
    ----------
    shapes : list of str, optional
        Names from :data:`SHAPES`; all by default.
    modes : tuple of str
        ``"forward"`` (inference) and/or ``"train"`` (forward + backward).
    dtype : numpy dtype
    repeat : int
        Minimum number of timed calls per implementation (after a warm-up).
    budget_s : float
        Rough time budget per measurement.
    cells : tuple of str
        Names from :data:`CELLS` (the RNN with tanh).
    compare : tuple of str
        ``("torch",)`` also times the same layer in PyTorch (same weights,
        same threads).

    Returns
    -------
    list of Row
    """
    from . import layers, reference

    rows = []
    for cell in cells:
        for name in shapes or SHAPES:
            B, T, D, H = SHAPES[name]
            X, dY = make_problem(name, dtype)
            fast = getattr(layers, CELLS[cell])(D, H, dtype=dtype, random_state=0)
            ref = getattr(reference, CELLS[cell])(D, H, dtype=dtype, random_state=0)
            for mode in modes:
                fn = MODES[mode]
                fn(fast, X, dY)
                fn(ref, X, dY)
                ref_ms = _median_ms(lambda: fn(ref, X, dY), max(2, repeat // 3), budget_s)
                fast_ms = _median_ms(lambda: fn(fast, X, dY), repeat, budget_s)
                torch_ms = None
                if "torch" in compare:
                    import torch

                    step = torch_steppers(fast, mode)
                    Xt, dYt = torch.from_numpy(X), torch.from_numpy(dY)
                    step(Xt, dYt)
                    torch_ms = _median_ms(lambda: step(Xt, dYt), repeat, budget_s)
                flops = forward_flops(B, T, D, H, fast.gates) * (3 if mode == "train" else 1)
                rows.append(Row(cell, name, mode, fast_ms, ref_ms, flops / fast_ms / 1e6,
                                torch_ms))
    return rows


def numpy_sgemm_gflops(n=1024, repeat=10):
    """GFLOP/s of numpy's float32 matmul on n x n matrices: the machine's
    practical GEMM ceiling, measured in this process.

    OpenBLAS reads OPENBLAS_CORETYPE when it loads: when it is set, numpy's
    matmul runs a slower kernel than this CPU allows (see the README).
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b
    return 2 * n**3 / _median_ms(lambda: a @ b, repeat, 1.0) / 1e6


def format_table(rows):
    """Markdown table of :func:`run`'s rows."""
    torch = any(r.torch_ms is not None for r in rows)
    lines = [
        "| cell | shape (B,T,D,H) | mode | lstm_fast ms | GFLOP/s | reference ms | speed-up |"
        + (" torch ms | vs torch |" if torch else ""),
        "|---|---|---|---:|---:|---:|---:|" + ("---:|---:|" if torch else ""),
    ]
    for r in rows:
        dims = ",".join(str(v) for v in SHAPES[r.shape])
        line = (f"| {r.cell} | {r.shape} ({dims}) | {r.mode} | {r.fast_ms:.3f} | {r.gflops:.1f} | "
                f"{r.reference_ms:.2f} | {r.speedup:.1f}x |")
        if torch:
            line += f" {r.torch_ms:.3f} | {r.torch_ms / r.fast_ms:.2f}x |"
        lines.append(line)
    return "\n".join(lines)
