"""ONNX export: fitted estimators and layers as graphs of standard operators.

The recurrent layers become ONNX ``LSTM`` / ``GRU`` / ``RNN`` nodes (their
gate blocks reordered from PyTorch's layout, the GRU with
``linear_before_reset=1``), the head plain ``MatMul`` / ``Add`` and the
output activation of the estimator's loss. Every graph takes what
``predict`` takes: a 3-D ``(n_samples, n_timesteps, n_features)`` array
whose shorter sequences are padded at the end with all-NaN steps; the graph
computes each sequence's length (as :func:`._sequences.as_sequences` does:
the index after its last step that is not all NaN), replaces the padding by
zeros and feeds the lengths to the recurrent nodes' ``sequence_lens``. The
batch and time dimensions are symbolic.

onnx is needed to build the graphs (the ``compare`` extra); nothing here is
imported by the package unless ``to_onnx`` is called.
"""

import numbers
import os
import warnings

import numpy as np

__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "estimator_model", "layer_model"]

#: Where each gate block of PyTorch's weight layout goes in ONNX's.
#: torch: LSTM i,f,g,o; GRU r,z,n.  ONNX: LSTM i,o,f,c; GRU z,r,h.
ONNX_GATES = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn_tanh": [0], "rnn_relu": [0]}
_OP_TYPE = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}

#: The opset a graph states when none is asked for: the oldest one with every
#: operator here in its current form (recurrent nodes of version 14), which
#: onnxruntime has run since 1.8.
DEFAULT_OPSET = 14
#: The oldest opset the graphs can be written in.
MIN_OPSET = 14


def require_onnx():
    """The onnx module, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "to_onnx needs the onnx package to build the graph: pip install onnx "
            "(and onnxruntime to run it), or pip install 'lstm-fast[compare]'"
        ) from exc
    return onnx


def check_opset(opset):
    """`opset` as an int in [MIN_OPSET, the installed onnx's newest], or
    DEFAULT_OPSET for None; ValueError naming it otherwise."""
    onnx = require_onnx()
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return DEFAULT_OPSET
    if not isinstance(opset, numbers.Integral) or isinstance(opset, bool):
        raise ValueError(f"opset must be an integer, got {opset!r}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset {opset} is not supported: the graph can be written in opsets "
            f"{MIN_OPSET} to {newest} (the newest the installed onnx {onnx.__version__} "
            f"knows); leave opset=None for {DEFAULT_OPSET}")
    return int(opset)


def reorder_gates(array, order, hidden):
    """Rows of a (G*H, ...) weight or a (G*H,) bias, gate blocks reordered."""
    return np.concatenate([array[g * hidden:(g + 1) * hidden] for g in order])


def _tensor_type(dtype):
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class GraphBuilder:
    """Nodes and initializers of one graph, with unique names.

    Parameters
    ----------
    dtype : numpy dtype
        The graph's floating-point type (of X, the weights and the outputs).
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.elem = _tensor_type(self.dtype)
        self.nodes, self.initializers = [], []
        # The graphs' public input and output names: never an internal one.
        self._used = {"X", "variable", "label", "probabilities", "Y", "h_n", "c_n"}
        self._consts = {}

    def name(self, hint):
        """A name not used yet in this graph, starting with `hint`."""
        name, n = hint, 0
        while name in self._used:
            n += 1
            name = f"{hint}_{n}"
        self._used.add(name)
        return name

    def const(self, value, hint, dtype=None):
        """An initializer holding `value` (the graph's dtype unless `dtype`)."""
        from onnx import numpy_helper

        array = np.ascontiguousarray(np.asarray(value, dtype=dtype or self.dtype))
        key = (hint, array.dtype.str, array.shape, array.tobytes() if array.dtype != object
               else tuple(array.ravel()))
        if key not in self._consts:  # one initializer per value, however often used
            name = self.name(hint)
            self.initializers.append(numpy_helper.from_array(array, name))
            self._consts[key] = name
        return self._consts[key]

    def op(self, op_type, inputs, hint=None, n_outputs=1, outputs=None, **attrs):
        """Append a node; return its output name (or the list of them)."""
        from onnx import helper

        if outputs is None:
            base = hint or op_type.lower()
            outputs = [self.name(base if i == 0 else f"{base}_{i}") for i in range(n_outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs),
                                           name=self.name(f"{op_type}_node"), **attrs))
        return outputs[0] if len(outputs) == 1 else list(outputs)


def recurrent_node(g, layer, x, sequence_lens="", sequence=True, state=True):
    """One ONNX LSTM / GRU / RNN node running `layer` (either direction).

    Parameters
    ----------
    g : GraphBuilder
    layer : lstm_fast.layers.LSTM, GRU or RNN
    x : str
        The node's input, time-major ``(T, B, D)``, zero at padded steps.
    sequence_lens : str, default=""
        An int32 ``(B,)`` tensor of lengths, or "" for all T.
    sequence, state : bool
        Whether the node writes Y ``(T, directions, B, H)`` and Y_h (and
        Y_c) ``(directions, B, H)``; an output not asked for is not computed.

    Returns
    -------
    Y, Y_h, Y_c : str or None
        The output names (None where not asked for, Y_c for an LSTM only).
    """
    cell, H = layer._cell, layer.hidden_size
    order = ONNX_GATES[cell]
    directions = [layer._direction(d) for d in range(layer.directions)]
    W = np.stack([reorder_gates(d.weight_ih, order, H) for d in directions])
    R = np.stack([reorder_gates(d.weight_hh, order, H) for d in directions])
    B = np.stack([np.concatenate([reorder_gates(d.bias_ih, order, H),
                                  reorder_gates(d.bias_hh, order, H)]) for d in directions])
    attrs = {"hidden_size": H,
             "direction": "bidirectional" if layer.bidirectional else "forward"}
    if cell == "gru":
        attrs["linear_before_reset"] = 1  # torch's GRU: r multiplies (W_hn h + b_hn)
    elif cell != "lstm":
        attrs["activations"] = ["Tanh" if cell == "rnn_tanh" else "Relu"] * len(directions)
    kind = _OP_TYPE[cell]
    inputs = [x, g.const(W, f"{kind}_W"), g.const(R, f"{kind}_R"), g.const(B, f"{kind}_B"),
              sequence_lens]
    while inputs[-1] == "":  # trailing optional inputs left out
        inputs.pop()
    Y = g.name(f"{kind}_Y") if sequence else ""
    Y_h = g.name(f"{kind}_Y_h") if state else ""
    outputs = [Y, Y_h]
    Y_c = None
    if cell == "lstm":
        Y_c = g.name(f"{kind}_Y_c") if state else ""
        outputs.append(Y_c)
    while outputs[-1] == "":
        outputs.pop()
    g.op(kind, inputs, outputs=outputs, **attrs)
    return Y or None, Y_h or None, Y_c or None


def _padded_input(g, X, n_features):
    """From the NaN-padded batch-major input X, (B, T, D): the time-major
    input with zeros for NaN, the lengths (int64 and int32, (B,)) and the
    step indexes 0..T-1 (int64, (T,))."""
    one = g.const(1, "one_i64", np.int64)
    nan = g.op("IsNaN", [X], "is_nan")
    clean = g.op("Where", [nan, g.const(0, "zero"), X], "X_zero_padded")
    x_time_major = g.op("Transpose", [clean], "X_time_major", perm=[1, 0, 2])
    # A step is padding when all its features are NaN (as predict reads X).
    # A sum, not a product with ones: quantizers (onnxruntime's
    # quantize_dynamic) rewrite every MatMul, and the count must stay exact.
    nan_count = g.op("ReduceSum", [g.op("Cast", [nan], "nan_as_float", to=g.elem),
                                   g.const([2], "axis_2", np.int64)], "nan_count",
                     keepdims=0)
    real = g.op("Less", [nan_count, g.const(n_features, "n_features")], "real_step")
    T = g.op("Gather", [g.op("Shape", [X], "X_shape"), one], "T", axis=0)
    steps = g.op("Range", [g.const(0, "zero_i64", np.int64), T, one], "steps")
    # Length = 1 + the index of the last real step: the largest of
    # real * (t + 1), which only the last real step reaches.
    positions = g.op("Cast", [g.op("Add", [steps, one], "positions_i64")], "positions",
                     to=g.elem)
    last = g.op("ArgMax", [g.op("Mul", [g.op("Cast", [real], "real_as_float", to=g.elem),
                                        positions], "real_positions")],
                "last_real_step", axis=1, keepdims=0)
    lengths = g.op("Add", [last, one], "lengths")
    lens32 = g.op("Cast", [lengths], "sequence_lens", to=_tensor_type(np.int32))
    return x_time_major, lengths, lens32, steps


def _to_next_layer(g, Y, directions):
    """Y (T, directions, B, H) as the next layer's input (T, B, directions*H),
    the forward direction's half first (as the layers concatenate them)."""
    if directions == 1:
        return g.op("Squeeze", [Y, g.const([1], "axis_1", np.int64)], "Y_seq")
    Y = g.op("Transpose", [Y], "Y_time_batch", perm=[0, 2, 1, 3])
    return g.op("Reshape", [Y, g.const([0, 0, -1], "shape_T_B_F", np.int64)], "Y_seq")


def _final_state(g, Y_h, directions, hint):
    """Y_h (directions, B, H) as (B, directions*H), the forward half first."""
    if directions == 1:
        return g.op("Squeeze", [Y_h, g.const([0], "axis_0", np.int64)], hint)
    Y_h = g.op("Transpose", [Y_h], f"{hint}_batch_first", perm=[1, 0, 2])
    return g.op("Reshape", [Y_h, g.const([0, -1], "shape_B_F", np.int64)], hint)


def _stack(g, layers, x, lens32, output):
    """Run the stacked layers; the features the head reads: (B, F) for
    output="last" (each sequence's final state), (T, B, F) for "sequence"."""
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        sequence = not last or output == "sequence"
        Y, Y_h, _ = recurrent_node(g, layer, x, lens32, sequence=sequence,
                                   state=last and output == "last")
        if sequence:
            x = _to_next_layer(g, Y, layer.directions)
    return x if output == "sequence" else _final_state(g, Y_h, layers[-1].directions,
                                                       "final_state")


def _head(g, features, network):
    """The linear head; batch-major output (B, K) or (B, T, K)."""
    out = g.op("Add", [g.op("MatMul", [features, g.const(network.coef, "coef")], "head_mm"),
                       g.const(network.intercept, "intercept")], "head")
    if network.output == "sequence":  # (T, B, K) -> (B, T, K)
        out = g.op("Transpose", [out], "head_batch_first", perm=[1, 0, 2])
    return out


def _step_mask(g, steps, lengths, rank):
    """Bool mask of the real steps, shape (B, T) then 1s to `rank`."""
    mask = g.op("Less", [g.op("Unsqueeze", [steps, g.const([0], "axis_0", np.int64)],
                              "steps_row"),
                         g.op("Unsqueeze", [lengths, g.const([1], "axis_1", np.int64)],
                              "lengths_column")], "real_steps")
    if rank > 2:
        axes = g.const(list(range(2, rank)), "trailing_axes", np.int64)
        mask = g.op("Unsqueeze", [mask, axes], "real_steps_expanded")
    return mask


def _regressor_outputs(g, est, out, steps, lengths):
    """predict's transformations of the head's output (names in est's terms)."""
    loss, quantile = est._fitted_head()
    sequence = est.output == "sequence"
    if loss == "poisson":
        out = g.op("Exp", [out], "mean")
    if isinstance(quantile, tuple):
        # monotone_quantiles: per output, q_0 = z_0, q_l = q_{l-1} + softplus(z_l).
        L = len(quantile)
        shape = [0, 0, est.n_outputs_, L] if sequence else [0, est.n_outputs_, L]
        z = g.op("Reshape", [out, g.const(shape, "shape_levels", np.int64)], "levels_raw")
        last_axis = g.const([-1], "axis_last", np.int64)
        first = g.op("Slice", [z, g.const([0], "start_0", np.int64),
                               g.const([1], "end_1", np.int64), last_axis], "lowest_level")
        rest = g.op("Slice", [z, g.const([1], "start_1", np.int64),
                              g.const([L], "end_L", np.int64), last_axis], "level_steps_raw")
        increments = g.op("Concat", [first, g.op("Softplus", [rest], "level_steps")],
                          "level_increments", axis=-1)
        out = g.op("CumSum", [increments, g.const(-1, "axis_scalar_last", np.int64)],
                   "quantiles")
    if sequence:
        # NaN at padded steps, as predict returns them.
        rank = 4 if isinstance(quantile, tuple) else 3
        out = g.op("Where", [_step_mask(g, steps, lengths, rank), out,
                             g.const(np.nan, "nan")], "padded_nan")
    if est._y_squeeze:
        axis = 2 if sequence else 1
        out = g.op("Squeeze", [out, g.const([axis], "axis_outputs", np.int64)], "squeezed")
    return [(out, "variable")]


def _label_constant(g, classes):
    """classes_ as an initializer ONNX can hold (its name and ONNX type), or
    ValueError saying why not."""
    from onnx import TensorProto

    labels = _label_array(classes)
    elem = TensorProto.STRING if labels.dtype == object else _tensor_type(labels.dtype)
    return g.const(labels, "classes", labels.dtype), elem


def _label_array(classes):
    """classes_ as an array of a type ONNX tensors hold (each integer, float
    and bool type as itself, text as UTF-8 strings), or ValueError."""
    classes = np.asarray(classes)
    kind = classes.dtype.kind
    if kind in "biuf":
        return classes
    if kind in "UO" and all(isinstance(v, str) for v in classes.tolist()):
        for v in classes.tolist():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"to_onnx cannot express the label {v!r}: ONNX's strings are UTF-8, "
                    f"and this one is not valid text ({exc.reason}); fit with labels "
                    f"that encode to UTF-8") from exc
        return np.array(classes.tolist(), dtype=object)
    raise ValueError(
        f"to_onnx cannot express this classifier's labels (classes_ of dtype "
        f"{classes.dtype}: {classes[:3].tolist()}...): ONNX's label output holds "
        f"numbers, booleans or text; fit with labels of one of those types")


def _classifier_outputs(g, est, logits, steps, lengths):
    """The label and probability outputs (skl2onnx's "label", "probabilities")."""
    if est.output == "sequence":
        # predict_proba computes a batch up to its longest sequence and gives
        # the steps past it zero logits (a uniform distribution): the same here.
        longest = g.op("ReduceMax", [lengths], "longest", keepdims=0)
        within = g.op("Less", [steps, longest], "within_longest")
        within = g.op("Unsqueeze", [within, g.const([0, 2], "axes_0_2", np.int64)],
                      "within_longest_3d")
        logits = g.op("Where", [within, logits, g.const(0, "zero")], "logits")
    proba = g.op("Softmax", [logits], "proba", axis=-1)
    code = g.op("ArgMax", [logits], "class_code", axis=-1, keepdims=0)
    classes, label_elem = _label_constant(g, est.classes_)
    label = g.op("Gather", [classes, code], "label_value", axis=0)
    return [(label, "label", label_elem), (proba, "probabilities", g.elem)]


def _warn_float64(dtype, what):
    if np.dtype(dtype) == np.float64:
        warnings.warn(
            f"{what} is float64: the graph is valid ONNX in double, but onnxruntime's "
            f"CPU kernels of LSTM, GRU and RNN take float32 only and will refuse to run "
            f"it; fit with dtype=np.float32 to deploy with onnxruntime", UserWarning,
            stacklevel=4)


def _model(g, inputs, outputs, opset, doc):
    """The ModelProto of the graph g (outputs: (internal name, public name))."""
    from onnx import helper

    from ._version import __version__

    # Rename the outputs with Identity nodes: the public names stay fixed
    # whatever the internal ones.
    infos = []
    for name, public, shape, elem in outputs:
        g.op("Identity", [name], outputs=[public])
        infos.append(helper.make_tensor_value_info(public, elem, shape))
    graph = helper.make_graph(g.nodes, "lstm_fast", inputs, infos,
                              initializer=g.initializers, doc_string=doc)
    opsets = [helper.make_opsetid("", opset)]
    # The oldest IR version that carries the opset: make_model's default is
    # the installed onnx's newest, which an older onnxruntime refuses
    # ("Unsupported model IR version") although it runs the opset.
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets),
                              producer_name="lstm-fast", producer_version=__version__,
                              doc_string=doc)
    return model


#: The most a serialized protobuf message, so one .onnx file, can hold.
PROTOBUF_LIMIT = 2**31 - 1


def _save(model, path):
    """Write the model to `path`, the weights beside it (as ONNX's external
    data) when the graph and weights exceed one protobuf's 2 GB."""
    import onnx

    # The weights' bytes (plus room for the nodes): ByteSize() itself may
    # fail on a message beyond the limit.
    size = sum(len(t.raw_data) for t in model.graph.initializer) + 2**20
    if size < PROTOBUF_LIMIT:
        if path is not None:
            onnx.save(model, os.fspath(path))
        return model
    if path is None:
        raise ValueError(
            f"the model takes {size / 2**30:.2f} GiB, more than the 2 GiB one ONNX "
            f"protobuf can hold: pass a path (to_onnx('model.onnx')) and the weights "
            f"are written beside the graph as ONNX external data")
    path = os.fspath(path)
    # The tensors' bytes move into the file beside the graph; the ModelProto
    # returned then refers to it, as onnx.load(path) would.
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data", size_threshold=1024)
    return model


_INPUT_DOC = ("Input X: (n_samples, n_timesteps, n_features) of the model's dtype; "
              "shorter sequences padded at the end with all-NaN steps, as predict takes "
              "them. ")


def estimator_model(est, path=None, opset=None):
    """The ONNX graph of a fitted LSTMRegressor or LSTMClassifier
    (``est.to_onnx`` documents it)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    # Here, not in to_onnx: skl2onnx's converters (onnx_converters) come here too.
    est._refuse_reduced("to_onnx", (
        "Export the float32 estimator it came from, and for int8 weights in ONNX run "
        "onnxruntime.quantization.quantize_dynamic on that graph: standard ONNX nodes "
        "compute in float32, so an export of this copy would neither predict what it "
        "predicts nor be smaller"))
    helper = require_onnx().helper
    opset = check_opset(opset)
    network = est.network_
    _warn_float64(network.dtype, type(est).__name__)
    g = GraphBuilder(network.dtype)
    X = "X"
    D = est.n_features_in_
    x, lengths, lens32, steps = _padded_input(g, X, D)
    features = _stack(g, network.layers, x, lens32, network.output)
    out = _head(g, features, network)
    batch = ["N", "T"] if network.output == "sequence" else ["N"]
    if est._is_classifier:
        (label, _, label_elem), (proba, _, _) = _classifier_outputs(g, est, out, steps,
                                                                   lengths)
        outputs = [(label, "label", batch, label_elem),
                   (proba, "probabilities", batch + [len(est.classes_)], g.elem)]
        doc = _INPUT_DOC + ("Outputs: label (the predicted class), probabilities "
                            "(predict_proba).")
    else:
        (name, public), = _regressor_outputs(g, est, out, steps, lengths)
        # predict's shape: the outputs axis unless y was 1-D, then the levels.
        shape = list(batch)
        if not est._y_squeeze:
            shape.append(est.n_outputs_)
        if isinstance(est._fitted_head()[1], tuple):
            shape.append(len(est._fitted_head()[1]))
        outputs = [(name, public, shape, g.elem)]
        doc = _INPUT_DOC + "Output: variable (predict; NaN at padded steps)."
    inputs = [helper.make_tensor_value_info(X, g.elem, ["N", "T", D])]
    return _save(_model(g, inputs, outputs, opset, doc), path)


def layer_model(layer, path=None, opset=None):
    """The ONNX graph of a layer's forward (``layer.to_onnx`` documents it)."""
    helper = require_onnx().helper
    opset = check_opset(opset)
    _warn_float64(layer.dtype, type(layer).__name__)
    g = GraphBuilder(layer.dtype)
    X = "X"
    x, _, lens32, _ = _padded_input(g, X, layer.input_size)
    Y, Y_h, Y_c = recurrent_node(g, layer, x, lens32, sequence=True, state=True)
    directions, H = layer.directions, layer.hidden_size
    Y = g.op("Transpose", [_to_next_layer(g, Y, directions)], "Y_batch_first",
             perm=[1, 0, 2])
    state_shape = ["N", H] if directions == 1 else [directions, "N", H]

    def state(name, hint):
        if directions == 1:
            return g.op("Squeeze", [name, g.const([0], "axis_0", np.int64)], hint)
        return name

    outputs = [(Y, "Y", ["N", "T", directions * H], g.elem),
               (state(Y_h, "h_n_value"), "h_n", state_shape, g.elem)]
    if Y_c is not None:
        outputs.append((state(Y_c, "c_n_value"), "c_n", state_shape, g.elem))
    inputs = [helper.make_tensor_value_info(X, g.elem, ["N", "T", layer.input_size])]
    doc = _INPUT_DOC + ("Outputs: Y (zero at padded steps), h_n" +
                        (", c_n" if Y_c is not None else "") + ", as layer.forward.")
    return _save(_model(g, inputs, outputs, opset, doc), path)
