"""skl2onnx converters: lstm-fast's estimators inside scikit-learn pipelines.

``register()`` registers converters for :class:`~lstm_fast.LSTMRegressor`,
:class:`~lstm_fast.LSTMClassifier` and
:class:`~lstm_fast.preprocessing.SequenceTransformer` with skl2onnx, so that
``skl2onnx.to_onnx`` converts a whole pipeline::

    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    from lstm_fast import onnx_converters

    onnx_converters.register()
    model = to_onnx(pipe, initial_types=[("X", FloatTensorType([None, None, D]))],
                    target_opset=14, options={id(clf): {"zipmap": False}})

The estimators' part of the graph is the one ``est.to_onnx()`` builds
(:mod:`._onnx`), spliced into skl2onnx's; the sequence transformer applies
skl2onnx's own converter of the wrapped 2-D transformer to every step and
puts NaN back at the padded ones, as ``transform`` does. skl2onnx is
optional: only this module imports it.
"""

import numpy as np

__all__ = ["register"]

_ALIASES = {"LSTMRegressor": "LstmFastLSTMRegressor",
            "LSTMClassifier": "LstmFastLSTMClassifier",
            "SequenceTransformer": "LstmFastSequenceTransformer"}


def _skl2onnx():
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError("the pipeline converters need skl2onnx: pip install skl2onnx") \
            from exc
    return skl2onnx


def _tensor_type(variable, shape):
    """A tensor type of `variable`'s element type (the input's), of `shape`."""
    return type(variable.type)(shape)


def _estimator_shapes(operator):
    est = operator.raw_operator
    N = operator.inputs[0].get_first_dimension()
    sequence = est.output == "sequence"
    batch = [N, None] if sequence else [N]
    if est._is_classifier:
        # skl2onnx's convention: integer labels (of any integer, bool or
        # integral float type) as int64, others as strings.
        from skl2onnx.common.data_types import Int64TensorType, StringTensorType

        text = est.classes_.dtype.kind in "UO"
        operator.outputs[0].type = (StringTensorType if text else Int64TensorType)(batch)
        operator.outputs[1].type = _tensor_type(operator.inputs[0],
                                                batch + [len(est.classes_)])
        return
    shape = list(batch)
    if not est._y_squeeze:
        shape.append(est.n_outputs_)
    quantile = est._fitted_head()[1]
    if isinstance(quantile, tuple):
        shape.append(len(quantile))
    operator.outputs[0].type = _tensor_type(operator.inputs[0], shape)


def _splice(model, scope, container, rename):
    """Add `model`'s nodes and initializers to skl2onnx's container; its
    input and output names become the ones in `rename`, every other name a
    fresh one of the scope."""
    from onnx import TensorProto, helper

    def name(n):
        if n == "":
            return n
        if n not in rename:
            rename[n] = scope.get_unique_variable_name(n)
        return rename[n]

    for t in model.graph.initializer:
        if t.data_type == TensorProto.STRING:
            container.add_initializer(name(t.name), t.data_type, list(t.dims),
                                      list(t.string_data))
        else:
            container.add_initializer(name(t.name), t.data_type, list(t.dims), t)
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(node.op_type, [name(i) for i in node.input],
                           [name(o) for o in node.output],
                           name=scope.get_unique_operator_name(node.op_type), **attrs)


def _target_opset(container):
    opset = container.target_opset
    return opset.get("", None) if isinstance(opset, dict) else opset


def _estimator_converter(scope, operator, container):
    from ._onnx import estimator_model

    est = operator.raw_operator
    if est._is_classifier and est.output == "sequence" and \
            container.get_options(est, dict(zipmap=True))["zipmap"] is not False:
        # ZipMap (skl2onnx's default after a classifier) takes 2-D only.
        raise ValueError(
            "an LSTMClassifier with output='sequence' has 3-D probabilities, which "
            "skl2onnx's ZipMap cannot take: convert with options={id(classifier): "
            "{'zipmap': False}}")
    model = estimator_model(est, opset=_target_opset(container))
    names = ["label", "probabilities"] if est._is_classifier else ["variable"]
    rename = {"X": operator.inputs[0].full_name}
    rename.update({n: v.full_name for n, v in zip(names, operator.outputs)})
    cast_label = est._is_classifier and est.classes_.dtype.kind not in "UO"
    if cast_label:  # the classes' own type in the graph, int64 for skl2onnx
        rename["label"] = scope.get_unique_variable_name("label_value")
    _splice(model, scope, container, rename)
    if cast_label:
        from onnx import TensorProto

        container.add_node("Cast", [rename["label"]], [operator.outputs[0].full_name],
                           name=scope.get_unique_operator_name("Cast"),
                           to=TensorProto.INT64)


def _sequence_shapes(operator):
    st = operator.raw_operator
    n_out = st.transform(np.zeros((1, 1, st.n_features_in_))).shape[-1]
    N = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _tensor_type(operator.inputs[0], [N, None, n_out])


def _sequence_converter(scope, operator, container):
    from skl2onnx.algebra.onnx_ops import (OnnxCast, OnnxConcat, OnnxEqual, OnnxIsNaN,
                                           OnnxReduceSum, OnnxReshape, OnnxShape, OnnxSlice,
                                           OnnxUnsqueeze, OnnxWhere)
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator
    from skl2onnx.common.data_types import guess_numpy_type

    st = operator.raw_operator
    opv = container.target_opset
    X = operator.inputs[0]
    dtype = guess_numpy_type(X.type)
    D = st.n_features_in_
    i64 = np.int64
    # The wrapped transformer on every step as a row of one table...
    flat = OnnxReshape(X, np.array([-1, D], dtype=i64), op_version=opv)
    # The table's type stated: the 2-D converters' shape calculators read it.
    rows = OnnxSubEstimator(st.transformer_, flat, op_version=opv,
                            input_types=[_tensor_type(X, [None, D])])
    first_two = OnnxSlice(OnnxShape(X, op_version=opv), np.array([0], dtype=i64),
                          np.array([2], dtype=i64), op_version=opv)
    shape = OnnxConcat(first_two, np.array([-1], dtype=i64), axis=0, op_version=opv)
    steps = OnnxReshape(rows, shape, op_version=opv)
    # ... and NaN back at the padded steps (all features NaN), as transform.
    nan_count = OnnxReduceSum(OnnxCast(OnnxIsNaN(X, op_version=opv),
                                       to=_onnx_elem(dtype), op_version=opv),
                              np.array([2], dtype=i64), keepdims=0, op_version=opv)
    padded = OnnxEqual(nan_count, np.array(D, dtype=dtype), op_version=opv)
    padded = OnnxUnsqueeze(padded, np.array([2], dtype=i64), op_version=opv)
    out = OnnxWhere(padded, np.array(np.nan, dtype=dtype), steps, op_version=opv,
                    output_names=operator.outputs[:1])
    out.add_to(scope, container)


def _onnx_elem(dtype):
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def register():
    """Register the converters of LSTMRegressor, LSTMClassifier and
    SequenceTransformer with skl2onnx.

    Afterwards ``skl2onnx.to_onnx(pipeline, initial_types=[("X",
    FloatTensorType([None, None, n_features]))])`` converts a pipeline of
    them (and of the 2-D transformers skl2onnx knows, inside a
    SequenceTransformer). The classifier follows skl2onnx's conventions:
    outputs "label" and "probabilities", the latter a list of dicts (ZipMap)
    unless the option ``zipmap=False`` is given (required for
    ``output="sequence"``).

    Raises
    ------
    ImportError
        If skl2onnx is not installed.
    """
    _skl2onnx()
    from skl2onnx import update_registered_converter

    from ._estimators import LSTMClassifier, LSTMRegressor
    from .preprocessing import SequenceTransformer

    update_registered_converter(LSTMRegressor, _ALIASES["LSTMRegressor"],
                                _estimator_shapes, _estimator_converter)
    update_registered_converter(LSTMClassifier, _ALIASES["LSTMClassifier"],
                                _estimator_shapes, _estimator_converter,
                                options={"zipmap": [True, False, "columns"],
                                         "nocl": [False]})
    update_registered_converter(SequenceTransformer, _ALIASES["SequenceTransformer"],
                                _sequence_shapes, _sequence_converter)
