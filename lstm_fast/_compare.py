"""The same layer in other libraries, for the comparison benchmarks.

Each ``*_stepper(layer, mode, X, dY, threads)`` builds the library's own
layer with ``layer``'s weights, converts the inputs once, and returns a
function of no arguments that runs one forward (inference) or one training
step (forward + backward with weight gradients), or ``None`` when the library
cannot run that mode or dtype. Nothing here is imported at run time by the
package itself: these libraries are only for benchmarks (the ``compare``
extra), and each is imported only when asked for.
"""

import numpy as np

from ._onnx import reorder_gates

# Where each gate of torch's weight layout goes in Keras' (ONNX's: ._onnx).
# torch: LSTM i,f,g,o; GRU r,z,n.  Keras: LSTM i,f,c,o (as torch); GRU z,r,h.
_KERAS_GATES = {"LSTM": [0, 1, 2, 3], "GRU": [1, 0, 2], "RNN": [0]}


# The modules each comparison needs (onnx builds the graphs onnxruntime runs).
_MODULES = {"torch": ("torch",), "onnxruntime": ("onnxruntime", "onnx"),
            "keras": ("tensorflow", "keras")}


def available(name):
    """Whether the comparison library ``name`` can be imported."""
    try:
        for module in _MODULES[name]:
            __import__(module)
    except ImportError:
        return False
    return True


def version(name):
    """Version string of a comparison library."""
    if name == "keras":
        import keras
        import tensorflow

        return f"{keras.__version__} (TensorFlow {tensorflow.__version__})"
    return __import__(name).__version__


def _kind(layer):
    return type(layer).__name__  # "LSTM", "GRU" or "RNN"


def torch_stepper(layer, mode, X, dY, threads):
    """``torch.nn.LSTM/GRU/RNN`` with the layer's weights (batch_first)."""
    import torch

    torch.set_num_threads(threads)
    kwargs = {"nonlinearity": layer.nonlinearity} if hasattr(layer, "nonlinearity") else {}
    module = getattr(torch.nn, _kind(layer))(layer.input_size, layer.hidden_size,
                                             batch_first=True, **kwargs)
    module.load_state_dict(layer.to_torch_state_dict())
    module = module.to(torch.float32 if layer.dtype == np.float32 else torch.float64)
    Xt, dYt = torch.from_numpy(X), torch.from_numpy(dY)

    def forward():
        with torch.no_grad():
            module(Xt)

    def train():
        module.zero_grad(set_to_none=True)
        Y, _ = module(Xt)
        Y.backward(dYt)

    return {"forward": forward, "train": train}[mode]


def onnx_model(layer):
    """An ONNX graph of one LSTM/GRU/RNN node with the layer's weights: the
    node ``layer.to_onnx()`` holds, alone (no lengths, no padding).

    The graph takes X time-major, (T, B, D), which is the layout
    onnxruntime's CPU kernels run natively; it returns Y as
    (T, directions, B, H).
    """
    from onnx import helper

    from . import _onnx

    g = _onnx.GraphBuilder(layer.dtype)
    Y, _, _ = _onnx.recurrent_node(g, layer, "X", state=False)
    H = layer.hidden_size
    graph = helper.make_graph(
        g.nodes, "recurrent",
        [helper.make_tensor_value_info("X", g.elem, ["T", "B", layer.input_size])],
        [helper.make_tensor_value_info(Y, g.elem, ["T", layer.directions, "B", H])],
        initializer=g.initializers)
    opsets = [helper.make_opsetid("", _onnx.DEFAULT_OPSET)]
    return helper.make_model(graph, opset_imports=opsets,
                             ir_version=helper.find_min_ir_version_for(opsets))


def onnxruntime_stepper(layer, mode, X, dY, threads):
    """onnxruntime inference of :func:`onnx_model` (no training mode; float32
    only, as onnxruntime's CPU recurrent kernels)."""
    if mode != "forward" or layer.dtype != np.float32:
        return None
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_model(layer).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    feed = {"X": np.ascontiguousarray(X.transpose(1, 0, 2))}
    return lambda: session.run(None, feed)


def keras_stepper(layer, mode, X, dY, threads):
    """Keras (TensorFlow backend) LSTM/GRU/SimpleRNN with the layer's weights,
    compiled with ``tf.function``; training computes the weight gradients of
    ``sum(Y * dY)``."""
    import tensorflow as tf

    try:  # only settable before TensorFlow starts its pools
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    kind, H = _kind(layer), layer.hidden_size
    order = _KERAS_GATES[kind]
    kernel = reorder_gates(layer.weight_ih, order, H).T
    recurrent = reorder_gates(layer.weight_hh, order, H).T
    b_ih, b_hh = reorder_gates(layer.bias_ih, order, H), reorder_gates(layer.bias_hh, order, H)
    dtype = "float32" if layer.dtype == np.float32 else "float64"
    if kind == "LSTM":
        keras_layer = tf.keras.layers.LSTM(H, return_sequences=True, dtype=dtype)
        weights = [kernel, recurrent, b_ih + b_hh]
    elif kind == "GRU":
        keras_layer = tf.keras.layers.GRU(H, return_sequences=True, reset_after=True,
                                          dtype=dtype)
        weights = [kernel, recurrent, np.stack([b_ih, b_hh])]
    else:
        keras_layer = tf.keras.layers.SimpleRNN(H, return_sequences=True, dtype=dtype,
                                                activation=layer.nonlinearity)
        weights = [kernel, recurrent, b_ih + b_hh]
    keras_layer.build((None, None, layer.input_size))
    keras_layer.set_weights(weights)
    Xt, dYt = tf.constant(X), tf.constant(dY)

    @tf.function
    def forward():
        return keras_layer(Xt, training=False)

    @tf.function
    def train():
        with tf.GradientTape() as tape:
            Y = keras_layer(Xt, training=True)
            loss = tf.reduce_sum(Y * dYt)
        return tape.gradient(loss, keras_layer.trainable_weights)

    return {"forward": forward, "train": train}[mode]


STEPPERS = {"torch": torch_stepper, "onnxruntime": onnxruntime_stepper, "keras": keras_stepper}
