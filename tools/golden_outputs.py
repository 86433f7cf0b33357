"""Fingerprints of the kernels' outputs and gradients, to prove a refactor
changed no bit.

For every ISA this CPU runs (each in its own process, forced with
LSTM_FAST_ISA), every cell and both dtypes, it runs the bench shapes and a
few that reach other code paths (variable lengths, the reverse direction,
initial states, state gradients, a batch of one wide enough for the
column split, streaming, one and two threads, an estimator's fit) and
records a SHA-256 of every output array's bytes.

    python tools/golden_outputs.py --save before.json      # on the old build
    python tools/golden_outputs.py --compare before.json   # on the new build

--quick leaves out the large shape. Run it from outside the repository
root (or with PYTHONSAFEPATH=1) so that it imports the installed build.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys

CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
DTYPES = ("float32", "float64")
SHAPES = {  # (B, T, D, H): the bench shapes, then paths they miss
    "small": (32, 50, 8, 64),
    "medium": (64, 100, 32, 128),
    "stream": (1, 1000, 4, 64),
    "wide1": (1, 40, 16, 512),  # one row, large weights: the column split
    "large": (128, 100, 128, 512),
}


def _digest(arrays):
    return {k: hashlib.sha256(v.tobytes()).hexdigest()[:24] for k, v in arrays.items()
            if v is not None}


def _layer(cell, D, H, dtype, bidirectional=False):
    from lstm_fast.layers import GRU, LSTM, RNN

    kwargs = dict(dtype=dtype, random_state=1, bidirectional=bidirectional)
    if cell == "lstm":
        return LSTM(D, H, **kwargs)
    if cell == "gru":
        return GRU(D, H, **kwargs)
    return RNN(D, H, nonlinearity=cell[4:], **kwargs)


def _run_layer(cell, dtype, shape, variant):
    import numpy as np

    B, T, D, H = shape
    rng = np.random.default_rng(0)
    bidirectional = variant == "bidir"
    layer = _layer(cell, D, H, dtype, bidirectional)
    X = rng.standard_normal((B, T, D)).astype(dtype)
    lengths = None
    states = {}
    if variant in ("ragged", "bidir"):
        lengths = rng.integers(1, T + 1, B)
        lengths[0] = T
    dirs = 2 if bidirectional else 1
    if variant == "states":
        states["h0"] = rng.standard_normal((B, H)).astype(dtype)
        if cell == "lstm":
            states["c0"] = rng.standard_normal((B, H)).astype(dtype)
    out = {}
    result = layer.forward(X, lengths=lengths, **states)
    Y, st = result[0], result[1]
    out["infer_Y"] = Y
    st = st if isinstance(st, tuple) else (st,)
    for i, s in enumerate(st):
        out[f"infer_state{i}"] = s
    Y, st, cache = layer.forward(X, lengths=lengths, training=True, **states)
    dY = rng.standard_normal(Y.shape).astype(dtype)
    kw = {"dh_n": rng.standard_normal((dirs, B, H) if bidirectional else (B, H)).astype(dtype)}
    grads = layer.backward(cache, dY, **kw, state_gradients=variant == "states")
    out["train_Y"] = Y
    for k, v in grads.items():
        out["grad_" + k] = v
    return out


def _run_stream(cell, dtype):
    import numpy as np
    from lstm_fast import LSTMRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 12, 3)).astype(dtype)
    y = X[:, :, 0].sum(axis=1)
    est = LSTMRegressor(hidden_layer_sizes=(16, 8), cell=cell.split("_")[0], max_iter=3,
                        random_state=0, dtype=dtype).fit(X, y)
    out = {"fit_params": est.network_.params, "predict": est.predict(X)}
    stream = est.stream(4)
    steps = [np.array(stream.step(X[:4, t])) for t in range(12)]
    out["stream"] = np.stack(steps)
    return out


def collect(quick, threads):
    import warnings

    import lstm_fast

    warnings.simplefilter("ignore")

    lstm_fast.set_num_threads(threads)
    results = {}
    for name, shape in SHAPES.items():
        if quick and name == "large":
            continue
        variants = ["plain"] if name in ("medium", "large", "stream") else \
            ["plain", "ragged", "states", "bidir"]
        for cell in CELLS:
            for dtype in DTYPES:
                for variant in variants:
                    key = f"{name}/{cell}/{dtype}/{variant}"
                    results[key] = _digest(_run_layer(cell, dtype, shape, variant))
    for cell in ("lstm", "gru", "rnn_tanh"):
        for dtype in DTYPES:
            results[f"estimator/{cell}/{dtype}"] = _digest(_run_stream(cell, dtype))
    return results


def _child(args):
    print(json.dumps(collect(args.quick, args.threads)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--save")
    p.add_argument("--compare")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return _child(args)
    import lstm_fast

    isas = lstm_fast._core.isas_supported()
    all_results = {}
    for isa in isas:
        for threads in (1, 2):
            env = dict(os.environ, LSTM_FAST_ISA=isa)
            cmd = [sys.executable, __file__, "--child", "--threads", str(threads)]
            if args.quick:
                cmd.append("--quick")
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            for key, digest in json.loads(done.stdout).items():
                all_results[f"{isa}/t{threads}/{key}"] = digest
            print(f"{isa}, {threads} thread(s): {len(all_results)} cases so far", file=sys.stderr)
    if args.save:
        with open(args.save, "w") as f:
            json.dump(all_results, f, indent=0, sort_keys=True)
        print(f"saved {len(all_results)} cases to {args.save}")
    if args.compare:
        with open(args.compare) as f:
            before = json.load(f)
        checked = differ = 0
        for key, digest in sorted(all_results.items()):
            if key not in before:
                continue
            for name, h in digest.items():
                checked += 1
                if before[key].get(name) != h:
                    differ += 1
                    print(f"DIFFERS: {key} {name}")
        missing = sorted(set(before) - set(all_results))
        print(f"{checked} arrays compared, {differ} differ; {len(missing)} cases missing")
        sys.exit(1 if differ or not checked else 0)


if __name__ == "__main__":
    main()
