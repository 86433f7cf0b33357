"""Kernel benchmarks: lstm_fast against the NumPy reference, side by side.

Both implementations run in the same process on the same data, alternately,
so the ratios hold even on a noisy machine; times are medians.
"""

import time
from dataclasses import asdict, dataclass, field

import numpy as np

# The bench shapes (docs/benchmark.md): (batch B, steps T, inputs D, hidden H).
SHAPES = {
    "small": (32, 50, 8, 64),
    "medium": (64, 100, 32, 128),
    "large": (128, 100, 128, 512),
    "stream": (1, 1000, 4, 64),
}


def forward_flops(B, T, D, H, gates=4):
    """FLOPs of one forward pass: the two GEMMs per step, 2*B*T*G*H*(D+H)."""
    return 2 * B * T * gates * H * (D + H)


def mode_flops(mode, B, T, D, H, gates=4):
    """FLOPs of one call of a benchmark mode. "train" adds to the forward
    the backward's products: dZ_t W_hh for dh_{t-1} (2*B*T*G*H*H) and the
    weight gradients dZ^T [x, h] (2*B*T*G*H*(D+H)); no input gradient."""
    flops = forward_flops(B, T, D, H, gates)
    if mode == "train":
        flops += 2 * B * T * gates * H * H + forward_flops(B, T, D, H, gates)
    return flops


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
    """Forward in training mode, then backward with weight gradients. X is
    data, as in a first layer: no gradient with respect to it (torch and
    Keras, given an input that needs none, do not compute one either)."""
    cache = layer.forward(X, training=True)[-1]
    layer.backward(cache, dY=dY, input_gradient=False)


MODES = {"forward": forward, "train": train_step}

# Cell name -> layer class name in lstm_fast.layers and lstm_fast.reference.
CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


@dataclass
class Row:
    """One measurement: a cell, shape and mode, lstm_fast against the NumPy
    reference and, in ``others``, against each compared library (ms, or None
    where the library cannot run that mode)."""
    cell: str
    shape: str
    mode: str
    fast_ms: float
    reference_ms: float
    gflops: float
    others: dict = field(default_factory=dict)

    @property
    def speedup(self):
        return self.reference_ms / self.fast_ms

    def ratio(self, library):
        """How many times faster lstm_fast is than ``library`` (None if not run)."""
        ms = self.others.get(library)
        return None if ms is None else ms / self.fast_ms


def _interleaved_medians(fns, repeat, budget_s, settle=True, settle_s=0.3):
    """Median ms of each function, timed in alternating rounds so that a
    slow spell of a shared machine hits all of them alike.

    With ``settle`` (several functions), each timed call follows untimed
    calls of the same function for ``settle_s`` seconds, so that every
    library is timed in the steady state of a loop that calls only it.
    One untimed call was not enough: the libraries' thread pools keep
    spinning after their work (OpenMP's, onnxruntime's, TensorFlow's), and
    onnxruntime's spin long: on 2 cores, a medium LSTM forward right after
    an onnxruntime call took 2x its time even after an untimed call in
    between. Nor was a pause: after a torch call and a 10 ms sleep, a small
    LSTM forward took 4.5 ms instead of 0.7 (the woken OpenMP threads shared
    one core until the scheduler moved them). 100 ms of settling was
    enough on 2 cores but not on 16: there, for about 100 ms after a
    stretch of onnxruntime calls with 16 threads, each small LSTM forward
    with 16 threads took 8 ms instead of 0.22 (its threads and ours shared
    the cores), and the table showed 8.0 ms against onnxruntime's 0.29;
    a run settled for 300 ms gave 0.26 against 0.27. Without
    ``settle`` (one slow function alone), a single warm-up call comes first.
    """
    if not settle:
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeat or (time.perf_counter() - start < budget_s and rounds < 10 * repeat):
        for name, fn in fns.items():
            if settle:
                warm_until = time.perf_counter() + (settle_s if len(fns) > 1 else 0.0)
                fn()
                while time.perf_counter() < warm_until:
                    fn()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        rounds += 1
        if rounds >= repeat and time.perf_counter() - start > budget_s:
            break
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def run(shapes=None, modes=("forward", "train"), dtype=np.float32, repeat=7, budget_s=2.0,
        cells=("lstm",), compare=(), reference=True):
    """Time lstm_fast and the NumPy reference on each cell, shape and mode.

    Parameters
    ----------
    shapes : list of str, optional
        Names from :data:`SHAPES`; all by default.
    modes : tuple of str
        ``"forward"`` (inference) and/or ``"train"`` (forward + backward).
    dtype : numpy dtype
    repeat : int
        Minimum number of timed rounds (after a warm-up).
    budget_s : float
        Rough time budget per measurement.
    cells : tuple of str
        Names from :data:`CELLS` (the RNN with tanh).
    compare : tuple of str
        Also time the same layer (same weights, same threads) in these of
        ``"torch"``, ``"onnxruntime"`` (inference only) and ``"keras"``.
    reference : bool
        Time the NumPy reference too (the slowest part of a run).

    Returns
    -------
    list of Row
    """
    from . import _compare, get_num_threads, layers
    from . import reference as numpy_reference

    threads = get_num_threads()
    rows = []
    for cell in cells:
        for name in shapes or SHAPES:
            B, T, D, H = SHAPES[name]
            X, dY = make_problem(name, dtype)
            fast = getattr(layers, CELLS[cell])(D, H, dtype=dtype, random_state=0)
            ref = getattr(numpy_reference, CELLS[cell])(D, H, dtype=dtype, random_state=0)
            for mode in modes:
                fn = MODES[mode]
                fns = {"lstm_fast": lambda: fn(fast, X, dY)}
                for library in compare:
                    step = _compare.STEPPERS[library](fast, mode, X, dY, threads)
                    if step is not None:
                        fns[library] = step
                ms = _interleaved_medians(fns, repeat, budget_s)
                ref_ms = float("nan")
                if reference:
                    ref_ms = _interleaved_medians({"reference": lambda: fn(ref, X, dY)},
                                                  max(2, repeat // 3), budget_s,
                                                  settle=False)["reference"]
                flops = mode_flops(mode, B, T, D, H, fast.gates)
                rows.append(Row(cell, name, mode, ms["lstm_fast"], ref_ms,
                                flops / ms["lstm_fast"] / 1e6,
                                {library: ms.get(library) for library in compare}))
    return rows


def run_dtypes(shapes=None, modes=("forward", "train"), cells=("lstm",), repeat=7, budget_s=2.0):
    """float64 against float32 time of lstm_fast, side by side.

    Returns
    -------
    list of dict
        ``cell``, ``shape``, ``mode``, ``float32_ms``, ``float64_ms``, ``ratio``.
    """
    from . import layers

    out = []
    for cell in cells:
        for name in shapes or SHAPES:
            B, T, D, H = SHAPES[name]
            made = {dt: (getattr(layers, CELLS[cell])(D, H, dtype=dt, random_state=0),
                         make_problem(name, dt)) for dt in (np.float32, np.float64)}
            for mode in modes:
                fn = MODES[mode]
                ms = _interleaved_medians(
                    {np.dtype(dt).name: (lambda l=layer, p=problem: fn(l, *p))
                     for dt, (layer, problem) in made.items()}, repeat, budget_s)
                out.append({"cell": cell, "shape": name, "mode": mode,
                            "float32_ms": ms["float32"], "float64_ms": ms["float64"],
                            "ratio": ms["float64"] / ms["float32"]})
    return out


def run_threads(shapes=("medium", "large"), modes=("forward", "train"), cells=("lstm",),
                threads=None, repeat=7, budget_s=2.0):
    """lstm_fast on one thread against each count in ``threads``.

    Parameters
    ----------
    threads : int or sequence of int, optional
        Thread counts to time against one thread (default: all threads).
        All counts of one cell, shape and mode are timed in the same
        alternating rounds as the one-thread run.

    Returns
    -------
    list of dict
        One per cell, shape, mode and count: ``cell``, ``shape``, ``mode``,
        ``threads``, ``one_thread_ms``, ``threads_ms``, ``speedup``.
    """
    from . import get_num_threads, layers, set_num_threads

    saved = get_num_threads()
    counts = [saved] if threads is None else [threads] if isinstance(threads, int) else threads
    if not counts or any(int(n) < 1 for n in counts):
        raise ValueError(f"thread counts must be positive integers, got {threads!r}")
    counts = list(dict.fromkeys(int(n) for n in counts))
    out = []
    try:
        for cell in cells:
            for name in shapes:
                B, T, D, H = SHAPES[name]
                layer = getattr(layers, CELLS[cell])(D, H, random_state=0)
                X, dY = make_problem(name)
                for mode in modes:
                    fn = MODES[mode]

                    def on(n):
                        def call():
                            set_num_threads(n)
                            fn(layer, X, dY)
                        return call

                    ms = _interleaved_medians({n: on(n) for n in dict.fromkeys([1, *counts])},
                                              repeat, budget_s)
                    out.extend({"cell": cell, "shape": name, "mode": mode, "threads": n,
                                "one_thread_ms": ms[1], "threads_ms": ms[n],
                                "speedup": ms[1] / ms[n]} for n in counts)
    finally:
        set_num_threads(saved)
    return out


_SGEMM_SCRIPT = """
import sys, time
import numpy as np
n, repeat = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n)).astype(np.float32)
b = rng.standard_normal((n, n)).astype(np.float32)
a @ b
times = []
for _ in range(repeat):
    t0 = time.perf_counter(); a @ b; times.append(time.perf_counter() - t0)
print(2 * n**3 / float(np.median(times)) / 1e9)
"""


def numpy_sgemm_gflops(n=2048, repeat=15, threads=None):
    """GFLOP/s of numpy's float32 matmul on n x n matrices with ``threads``
    BLAS threads: the machine's practical GEMM ceiling.

    It runs in a child process without OPENBLAS_CORETYPE and
    OPENBLAS_L2_SIZE: OpenBLAS reads them once, when it loads, and with them
    set it may run a slower kernel than this CPU allows, which would flatter
    the ratio against this ceiling.
    """
    import os
    import subprocess
    import sys

    from . import get_num_threads

    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads or get_num_threads())
    out = subprocess.run([sys.executable, "-c", _SGEMM_SCRIPT, str(n), str(repeat)], env=env,
                         capture_output=True, text=True, check=True)
    return float(out.stdout)


def format_table(rows):
    """Markdown table of :func:`run`'s rows: times, GFLOP/s and ratios
    ("vs X" is how many times faster lstm_fast is than X)."""
    libraries = [lib for lib in (rows[0].others if rows else {})]
    reference = any(np.isfinite(r.reference_ms) for r in rows)
    head = "| cell | shape (B,T,D,H) | mode | lstm_fast ms | GFLOP/s |"
    rule = "|---|---|---|---:|---:|"
    if reference:
        head += " reference ms | vs reference |"
        rule += "---:|---:|"
    for lib in libraries:
        head += f" {lib} ms | vs {lib} |"
        rule += "---:|---:|"
    lines = [head, rule]
    for r in rows:
        dims = ",".join(str(v) for v in SHAPES[r.shape])
        line = f"| {r.cell} | {r.shape} ({dims}) | {r.mode} | {r.fast_ms:.3f} | {r.gflops:.1f} |"
        if reference:
            line += f" {r.reference_ms:.2f} | {r.speedup:.1f}x |"
        for lib in libraries:
            ms = r.others.get(lib)
            line += " - | - |" if ms is None else f" {ms:.3f} | {r.ratio(lib):.2f}x |"
        lines.append(line)
    return "\n".join(lines)


def format_dicts(records, columns):
    """Markdown table of dicts (the dtype, thread and fit tables)."""
    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(rec[c]) for c in columns) + " |" for rec in records]
    return "\n".join(lines)


def to_json(rows, path, **extra):
    """Write :func:`run`'s rows (and any ``extra`` tables or facts) as JSON."""
    import json

    doc = dict(extra)
    doc["rows"] = [dict(asdict(r), speedup=r.speedup,
                        ratios={lib: r.ratio(lib) for lib in r.others}) for r in rows]
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=float,
                  allow_nan=True)


def bar_chart(rows, path, title=None):
    """Bar chart of :func:`run`'s rows: one panel per cell, and for each
    shape and mode how many times faster lstm_fast is than each compared
    library (log scale; the line at 1 is parity). Needs matplotlib (the
    ``plot`` extra).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import FuncFormatter

    from .plot import _figure

    libraries = [lib for lib in (rows[0].others if rows else {})]
    if any(np.isfinite(r.reference_ms) for r in rows):
        libraries = ["reference"] + libraries
    cells = list(dict.fromkeys(r.cell for r in rows))
    fig = _figure(figsize=(10, 2.6 * len(cells) + 0.6))
    axes = fig.subplots(len(cells), 1, squeeze=False)[:, 0]
    width = 0.8 / max(1, len(libraries))
    for ax, cell in zip(axes, cells):
        mine = [r for r in rows if r.cell == cell]
        x = np.arange(len(mine))
        for k, lib in enumerate(libraries):
            ratios = [r.speedup if lib == "reference" else (r.ratio(lib) or np.nan)
                      for r in mine]
            ax.bar(x + (k - (len(libraries) - 1) / 2) * width, ratios, width,
                   label=f"vs {lib}", color=f"C{k}")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_xticks(x, [f"{r.shape}\n{r.mode}" for r in mine], fontsize=8)
        ax.set_ylabel(f"{cell.upper()}\ntimes faster", fontsize=9)
    axes[0].legend(fontsize=8, ncol=len(libraries), loc="upper left")
    axes[0].set_title(title or "lstm_fast speed-up (higher is better), same machine, "
                      "same threads, same weights")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return fig
