"""The peers of the reduced-precision benchmark: one recurrent layer's
weights run by torch (float32, bfloat16, dynamic int8, and float32 and
bfloat16 training steps) and by onnxruntime (float32, and the graph that
its dynamic quantizer makes).

Each runner is a function of no arguments that returns the output
sequence Y, (B, T, H), as float32 NumPy, so that its error against
lstm_fast's float32 output can be measured. A runner that cannot be built
here (library missing, op not quantized) is reported with a one-line
reason instead. torch, onnx and onnxruntime are imported only when a
runner is built: they are benchmark tools, never runtime dependencies.
"""

import os
import tempfile
import warnings
from functools import partial

import numpy as np

from ._layer_base import PARAMS

#: The layer class of each cell, in lstm_fast.layers and torch.nn; also the
#: ONNX operator that ``to_onnx`` writes for it.
_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}


class Skip(Exception):
    """A runner that cannot be built here; the message says why, in one line."""


def _require(module):
    """Import `module` or raise Skip saying that it is missing."""
    try:
        return __import__(module)
    except ImportError:
        raise Skip(f"{module} is not installed") from None


def _class_kwargs(cell):
    if cell not in _CLASS:
        raise ValueError(f"cell must be one of {sorted(_CLASS)}, got {cell!r}")
    return {"nonlinearity": cell[len("rnn_"):]} if cell.startswith("rnn_") else {}


def make_layer(cell, input_size, hidden_size, random_state=0):
    """A default-initialised float32 ``lstm_fast.layers`` layer of `cell`.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn_tanh", "rnn_relu"}
    input_size, hidden_size : int
    random_state : int, optional
        Seed of the weights.

    Returns
    -------
    lstm_fast.layers.LSTM, GRU or RNN
    """
    from . import layers

    kwargs = _class_kwargs(cell)
    return getattr(layers, _CLASS[cell])(input_size, hidden_size, random_state=random_state,
                                         **kwargs)


def layer_weights(layer):
    """A unidirectional layer's weights, ``{"weight_ih": ..., "weight_hh":
    ..., "bias_ih": ..., "bias_hh": ...}`` (PyTorch's layout), as
    :func:`peer_runners` takes them."""
    return {name: getattr(layer, name) for name in PARAMS}


def _our_layer(cell, weights):
    """The float32 lstm_fast layer over `weights` (for its ``to_onnx``)."""
    from . import layers

    return getattr(layers, _CLASS[cell]).from_torch(
        {name + "_l0": value for name, value in weights.items()}, dtype=np.float32,
        **_class_kwargs(cell))


def _torch_module(cell, weights):
    """torch and its batch-first module of `cell` holding `weights`, in eval mode."""
    torch = _require("torch")
    D, H = weights["weight_ih"].shape[1], weights["weight_hh"].shape[1]
    module = getattr(torch.nn, _CLASS[cell])(D, H, batch_first=True, **_class_kwargs(cell))
    module.load_state_dict({name + "_l0": torch.from_numpy(np.array(value, dtype=np.float32))
                            for name, value in weights.items()})
    return torch, module.eval()


def _with_torch_threads(torch, threads, fn):
    """`fn`, run on `threads` torch threads: torch's count is process-wide,
    and a caller may change it between calls."""
    def run():
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return fn()
    return run


def _torch_inference(cell, weights, X, threads, dY, precision):
    """Inference of the module in float32, in bfloat16 (module and input
    cast), or dynamically quantized to int8 ("qint8")."""
    torch, module = _torch_module(cell, weights)
    Xt = torch.from_numpy(X)
    if precision == "bfloat16":
        module, Xt = module.to(torch.bfloat16), Xt.to(torch.bfloat16)
    elif precision == "qint8":
        nn = torch.nn
        with warnings.catch_warnings():
            # torch warns that torch.ao.quantization and its quantized
            # tensors are deprecated (for torchao); they are still what torch
            # ships for dynamically quantized LSTM and GRU.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", ".*deprecated", UserWarning)
            # Only a module's children are swapped, never the root: hence
            # the container.
            quantized = torch.ao.quantization.quantize_dynamic(
                nn.Sequential(module), {type(module)}, dtype=torch.qint8)[0]
        if type(quantized) is type(module):
            raise Skip(f"torch {torch.__version__}'s quantize_dynamic has no quantized "
                       f"nn.{type(module).__name__} (it leaves it in float32)")
        module = quantized

    def forward():
        with torch.inference_mode():
            return module(Xt)[0].float().numpy()
    return _with_torch_threads(torch, threads, forward)


def _torch_train(cell, weights, X, threads, dY, bfloat16):
    """One training step, forward and backward of sum(Y * dY) to the
    weights' gradients, as the kernel benchmark's."""
    torch, module = _torch_module(cell, weights)
    module.train()
    Xt = torch.from_numpy(X)
    dYt = torch.ones(X.shape[:2] + (module.hidden_size,)) if dY is None else torch.from_numpy(dY)
    # Y is bfloat16 for some cells under autocast (LSTM), float32 for others (GRU).
    output_grad = {torch.float32: dYt, torch.bfloat16: dYt.to(torch.bfloat16)}

    def step():
        module.zero_grad(set_to_none=True)
        # bfloat16 training as torch's AMP documents it for the CPU: autocast,
        # weights and their gradients kept in float32. module.to(bfloat16)
        # would hold the weights in bfloat16, where small updates vanish.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            Y = module(Xt)[0]
        Y.backward(output_grad[Y.dtype])
        return Y.detach().float().numpy()
    return _with_torch_threads(torch, threads, step)


def _onnxruntime_session(ort, path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _onnxruntime(cell, weights, X, threads, dY, quantize):
    """The graph of ``layer.to_onnx`` (X batch first, NaN-padded; no NaN in
    X gives every sequence its full length), as is or dynamically quantized."""
    onnx, ort = _require("onnx"), _require("onnxruntime")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layer.onnx")
        _our_layer(cell, weights).to_onnx(path)
        if quantize:
            from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

            # onnxruntime's documented first step (shape inference, graph
            # clean-up); quantize_dynamic warns without it.
            pre, out = os.path.join(tmp, "pre.onnx"), os.path.join(tmp, "int8.onnx")
            quant_pre_process(path, pre)
            quantize_dynamic(pre, out, weight_type=QuantType.QInt8)
            op = _CLASS[cell]
            if any(node.op_type == op for node in onnx.load(out).graph.node):
                raise Skip(f"onnxruntime {ort.__version__}'s quantize_dynamic leaves "
                           f"the {op} node in float32 (no dynamically quantized {op})")
            path = out
        session = _onnxruntime_session(ort, path, threads)
    feed = {"X": X}
    return lambda: session.run(["Y"], feed)[0]


#: name -> builder(cell, weights, X, threads, dY) of each peer runner.
_BUILDERS = {
    "torch float32": partial(_torch_inference, precision="float32"),
    "torch bfloat16": partial(_torch_inference, precision="bfloat16"),
    "torch qint8": partial(_torch_inference, precision="qint8"),
    "onnxruntime float32": partial(_onnxruntime, quantize=False),
    "onnxruntime int8": partial(_onnxruntime, quantize=True),
    "torch float32 train": partial(_torch_train, bfloat16=False),
    "torch bfloat16 train": partial(_torch_train, bfloat16=True),
}
#: The peers' names, in the order of :func:`peer_runners`.
PEERS = tuple(_BUILDERS)


def peer_runners(cell, weights, X, threads, dY=None):
    """The peers' runners of one layer, and why the others cannot run here.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn_tanh", "rnn_relu"}
    weights : mapping
        A unidirectional layer's float32 ``"weight_ih"`` (G*H, D),
        ``"weight_hh"`` (G*H, H), ``"bias_ih"`` and ``"bias_hh"`` (G*H,), in
        PyTorch's layout (:func:`layer_weights`).
    X : array-like, shape (B, T, D)
        The input, batch first.
    threads : int
        Threads of each library: torch's (process-wide: each torch runner
        sets it when it differs; the caller restores it), onnxruntime's
        intra-op pool (one inter-op thread, sequential execution).
    dY : array-like, shape (B, T, H), optional
        The training runners' output gradient (the gradient of
        ``sum(Y * dY)``); None: ones, the gradient of ``sum(Y)``.

    Returns
    -------
    runners : dict
        Name (from :data:`PEERS`) -> function of no arguments returning Y,
        (B, T, H) float32 NumPy: ``"torch float32"``, ``"torch bfloat16"``
        (module and input in bfloat16), ``"torch qint8"`` (torch's
        ``quantize_dynamic``), ``"onnxruntime float32"``, ``"onnxruntime
        int8"`` (onnxruntime's ``quantize_dynamic`` of ``to_onnx``'s graph),
        ``"torch float32 train"`` and ``"torch bfloat16 train"`` (a forward
        and backward step under bfloat16 autocast; Y of its forward).
    skipped : dict
        Name -> one-line reason, for each runner that cannot be built.
    """
    _class_kwargs(cell)  # a wrong cell is the caller's error, not a skip
    X = np.ascontiguousarray(X, dtype=np.float32)
    dY = None if dY is None else np.ascontiguousarray(dY, dtype=np.float32)
    runners, skipped = {}, {}
    for name, build in _BUILDERS.items():
        try:
            runners[name] = build(cell, weights, X, threads, dY)
        except Skip as exc:
            skipped[name] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a peer's failure must not stop the bench
            first = (str(exc).strip().splitlines() or [""])[0]
            skipped[name] = f"{type(exc).__name__}: {first}"
    return runners, skipped
