"""The bench under load: each shape's forward and training step, on the
default thread count and on one thread, with k competing busy processes
(the browser of a laptop, another job of a CI runner), for lstm_fast and
the libraries it is compared with.

Each configuration runs its calls back to back for a slice of time, in
rounds that alternate the configurations, so that they share the
machine's slow spells alike; every call is timed, and the table reports
the median, the mean, the 90th percentile and the calls made. A busy
process is a Python loop that never sleeps, as a process competing for a
core does.
"""

import multiprocessing
import os
import time

import numpy as np

from . import _compare
from ._benchmark import CELLS, MODES, SHAPES, make_problem


def _spin():
    while True:
        pass


class busy_processes:
    """Context: k processes that each keep one core busy."""

    def __init__(self, k):
        self.k = k
        self.procs = []

    def __enter__(self):
        ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        self.procs = [ctx.Process(target=_spin, daemon=True) for _ in range(self.k)]
        for p in self.procs:
            p.start()
        time.sleep(0.2 if self.k else 0)  # let them reach their loops
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.join()


def _lstm_fast_stepper(layer, mode, X, dY, threads):
    from ._config import set_num_threads

    step = MODES[mode]

    def call():
        set_num_threads(threads)
        step(layer, X, dY)
    return call


def _steppers(layer, mode, X, dY, library, threads):
    if library == "lstm_fast":
        return _lstm_fast_stepper(layer, mode, X, dY, threads)
    if library == "torch":
        import torch

        step = _compare.torch_stepper(layer, mode, X, dY, threads)

        def call():
            torch.set_num_threads(threads)  # its configurations alternate
            step()
        return call
    if library == "onnxruntime":
        return None if mode != "forward" else _compare.onnxruntime_stepper(
            layer, mode, X, dY, threads)
    raise ValueError(f"unknown library {library!r}")


def _time_calls(fn, seconds, times):
    """Calls fn back to back for `seconds`, appending each call's time."""
    fn()  # the slice's first call wakes the library's threads: untimed
    end = time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if t1 >= end:
            return


def _stats(times):
    t = 1e3 * np.asarray(times)
    return {"median_ms": float(np.median(t)), "mean_ms": float(np.mean(t)),
            "p90_ms": float(np.percentile(t, 90)), "calls": int(t.size)}


def run(shapes=("small", "medium", "large", "stream"), modes=("forward", "train"),
        loads=(0, 1, None), libraries=("lstm_fast",), threads=None, seconds=3.0, rounds=3,
        cell="lstm"):
    """Time each configuration idle and under load.

    Parameters
    ----------
    shapes, modes : sequence of str
        Keys of ``_benchmark.SHAPES`` and ``_benchmark.MODES``.
    loads : sequence of int or None
        Competing busy processes; None means one per CPU core.
    libraries : sequence of str
        ``"lstm_fast"``, ``"torch"``, ``"onnxruntime"`` (forward only).
    threads : int, optional
        The thread count compared with one thread; the default is
        lstm_fast's default (its CPU affinity or cgroup quota).
    seconds : float
        Time of each configuration's calls, split over `rounds`.

    Returns
    -------
    list of dict
        One per (shape, mode, load, library, threads): the call time
        statistics (ms) and, in ``median_vs_1``, ``mean_vs_1`` and
        ``p90_vs_1``, their ratio to the same library on one thread under
        the same load.
    """
    from ._config import get_num_threads
    from . import layers

    n = threads or get_num_threads()
    cores = os.cpu_count() or 1
    counts = [1] if n == 1 else [1, n]
    rows = []
    for load in loads:
        k = cores if load is None else int(load)
        with busy_processes(k):
            for shape in shapes:
                B, T, D, H = SHAPES[shape]
                X, dY = make_problem(shape)
                layer = getattr(layers, CELLS[cell])(D, H, random_state=0)
                for mode in modes:
                    fns = {}
                    for lib in libraries:
                        for c in counts:
                            fn = _steppers(layer, mode, X, dY, lib, c)
                            if fn is not None:
                                fns[(lib, c)] = fn
                    times = {key: [] for key in fns}
                    for _ in range(rounds):
                        for key, fn in fns.items():
                            _time_calls(fn, seconds / rounds, times[key])
                    stats = {key: _stats(t) for key, t in times.items()}
                    for (lib, c), s in stats.items():
                        one = stats[(lib, 1)]
                        rows.append({"shape": shape, "mode": mode, "load": k, "library": lib,
                                     "threads": c, **s,
                                     "median_vs_1": s["median_ms"] / one["median_ms"],
                                     "mean_vs_1": s["mean_ms"] / one["mean_ms"],
                                     "p90_vs_1": s["p90_ms"] / one["p90_ms"]})
    return rows


COLUMNS = ["shape", "mode", "load", "library", "threads", "median_ms", "mean_ms", "p90_ms",
           "calls", "median_vs_1", "mean_vs_1", "p90_vs_1"]


def machine_load(times=None):
    """A warning when the machine is not idle, or None: the load average
    (1 min) against the CPUs, and the spread of repeated timings if given
    (p90 over median above 1.5)."""
    reasons = []
    try:
        load1 = os.getloadavg()[0]
        cores = os.cpu_count() or 1
        if load1 > 0.5 * cores:
            reasons.append(f"the load average is {load1:.1f} on {cores} CPUs")
    except OSError:
        pass
    if times:
        spread = float(np.percentile(times, 90) / np.median(times))
        if spread > 1.5:
            reasons.append(f"repeated timings spread widely (90th percentile "
                           f"{spread:.1f}x the median)")
    if not reasons:
        return None
    return ("WARNING: this machine is busy (" + "; ".join(reasons) + "): other programs share "
            "its cores, so these times and ratios are not those of an idle machine. "
            "Close them, or compare only ratios measured together.")
