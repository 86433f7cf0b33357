"""The reduced-precision benchmark: lstm_fast's runners and its peers'
(:mod:`._precision_peers`) on one layer with the same weights, their
times and their largest error against lstm_fast's float32 output.

All runners of a cell and shape run in one process, in rounds that
alternate them, so that a slow spell of a shared machine hits all of them
alike.
"""

import time

import numpy as np

from ._benchmark import SHAPES, make_problem
from ._precision_peers import PEERS, layer_weights, make_layer, peer_runners


def _float32_forward(layer, X, dY):
    return lambda: layer.forward(X)[0]


def _float32_train(layer, X, dY):
    def step():
        Y, _, cache = layer.forward(X, training=True)
        layer.backward(cache, dY=dY, input_gradient=False)
        return Y
    return step


def _reduced_forward(precision):
    def build(layer, X, dY):
        reduced = layer.quantize(precision)
        return lambda: reduced.forward(X)[0]
    return build


#: lstm_fast's float32 runners.
FLOAT32_OURS = {"lstm_fast float32": _float32_forward,
                "lstm_fast float32 train": _float32_train}

#: What :func:`run_precision_benchmark` times of lstm_fast when given no
#: others: float32, then ``layer.quantize("int8" | "bfloat16")``'s forward.
OURS = {"lstm_fast float32": _float32_forward,
        "lstm_fast int8": _reduced_forward("int8"),
        "lstm_fast bfloat16": _reduced_forward("bfloat16"),
        "lstm_fast float32 train": _float32_train}


def _timed_rounds(runners, rounds, settle_s):
    """Each runner's output (from an untimed warm-up round) and the times
    (s) of its `rounds` timed calls, one per round.

    Each timed call follows untimed calls of the same runner for
    `settle_s` seconds (at least one): the libraries' thread pools keep
    spinning after a call (onnxruntime's longest), and would slow the next
    runner's call (``_benchmark._interleaved_medians`` measured it).
    """
    outputs = {name: run() for name, run in runners.items()}
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            settled = time.perf_counter() + settle_s
            run()
            while time.perf_counter() < settled:
                run()
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return outputs, times


def _torch_threads():
    """torch's thread count, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def run_precision_benchmark(shapes=None, cells=("lstm",), threads=None, rounds=7, ours=None,
                            settle_s=0.3):
    """Time lstm_fast's runners and the peers' on each cell and shape.

    Parameters
    ----------
    shapes : sequence of str or (B, T, D, H), optional
        Names from ``_benchmark.SHAPES`` (all by default) or shapes.
    cells : sequence of {"lstm", "gru", "rnn_tanh", "rnn_relu"}
    threads : int, optional
        Threads of lstm_fast and of each peer; lstm_fast's default if None.
        Both libraries' thread counts are restored afterwards.
    rounds : int
        Timed calls of each runner, one per round, after a warm-up round.
    ours : dict, optional
        Name -> ``builder(layer, X, dY)`` returning a function of no
        arguments that returns Y (B, T, H) (a name ending in " train": a
        training step, returning its forward's Y). ``layer`` is a seeded
        float32 ``lstm_fast.layers`` layer, X the unit-variance input, dY
        the output gradient of a training step. Default: :data:`OURS`.
    settle_s : float
        Untimed calls of a runner before each timed one (seconds).

    Returns
    -------
    list of dict
        One per cell, shape and runner (lstm_fast's first): ``cell``,
        ``shape`` (name or ``"B,T,D,H"``), ``dims`` (B, T, D, H),
        ``runner``, ``mode`` ("forward" or "train"), ``threads``,
        ``median_ms``, ``p90_ms``, ``max_abs_error`` (max |Y - Y_ref| over
        the whole output, Y_ref lstm_fast's float32 forward) and
        ``skipped`` (why the runner could not run, else None; the numbers
        are None then).
    """
    from ._config import get_num_threads, set_num_threads

    ours = OURS if ours is None else ours
    saved, torch_saved = get_num_threads(), _torch_threads()
    threads = saved if threads is None else int(threads)
    rows = []
    try:
        set_num_threads(threads)
        for cell in cells:
            for shape in shapes or SHAPES:
                dims = SHAPES[shape] if isinstance(shape, str) else tuple(shape)
                B, T, D, H = dims
                X, dY = make_problem(dims)
                layer = make_layer(cell, D, H, random_state=0)
                reference = layer.forward(X)[0]
                runners = {name: build(layer, X, dY) for name, build in ours.items()}
                peers, skipped = peer_runners(cell, layer_weights(layer), X, threads, dY)
                runners.update(peers)
                outputs, times = _timed_rounds(runners, rounds, settle_s)
                label = shape if isinstance(shape, str) else ",".join(map(str, dims))
                for name in [*ours, *PEERS]:
                    row = {"cell": cell, "shape": label, "dims": dims, "runner": name,
                           "mode": "train" if name.endswith(" train") else "forward",
                           "threads": threads, "median_ms": None, "p90_ms": None,
                           "max_abs_error": None, "skipped": skipped.get(name)}
                    if name in runners:
                        ms = 1e3 * np.asarray(times[name])
                        error = np.abs(np.asarray(outputs[name], np.float64) - reference)
                        row.update(median_ms=float(np.median(ms)),
                                   p90_ms=float(np.percentile(ms, 90)),
                                   max_abs_error=float(error.max()))
                    rows.append(row)
    finally:
        set_num_threads(saved)
        if torch_saved is not None:
            import torch

            torch.set_num_threads(torch_saved)
    return rows


def format_table(rows):
    """Markdown table of :func:`run_precision_benchmark`'s rows; a skipped
    runner shows its reason."""
    def number(value, spec):
        return "-" if value is None else format(value, spec)

    lines = ["| cell | shape (B,T,D,H) | runner | median ms | p90 ms | "
             "max abs error vs lstm_fast float32 | note |",
             "|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        dims = ",".join(map(str, r["dims"]))
        shape = r["shape"] if r["shape"] == dims else f"{r['shape']} ({dims})"
        lines.append(f"| {r['cell']} | {shape} | {r['runner']} | "
                     f"{number(r['median_ms'], '.3f')} | {number(r['p90_ms'], '.3f')} | "
                     f"{number(r['max_abs_error'], '.1e')} | {r['skipped'] or ''} |")
    return "\n".join(lines)
