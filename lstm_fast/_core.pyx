# cython: language_level=3
"""Thin bridge from NumPy arrays to the C kernels (csrc/lstmf.h).

This module checks that every array has the exact dtype, shape and
C-contiguity the kernels expect, turns it into a pointer and calls C with the
GIL released. It converts nothing and computes nothing: conversions and
user-facing validation belong to lstm_fast.layers. What the kernels know
and Python needs comes from them here: the cells (CELLS, from the C cell
table), every byte a call needs (call_bytes) and views of a training cache
(cache_arrays).
"""
from collections import namedtuple

import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free

cnp.import_array()

cdef extern from "optim.h" nogil:
    int lstmf_adam_step(int dtype, int64_t n, void *params, const void *grad, void *m,
                        void *v, double b1, double b2, double eps, double lr)


cdef extern from "lstmf.h" nogil:
    enum:
        LSTMF_OK
        LSTMF_ENOMEM
        LSTMF_EINVAL
        LSTMF_ENONFINITE
        LSTMF_F32
        LSTMF_F64
        LSTMF_N_ISA
    ctypedef struct lstmf_shape:
        int cell
        int dtype
        int64_t batch
        int64_t steps
        int64_t input_size
        int64_t hidden_size
        int64_t y_ld
        int reverse
        int precision
    ctypedef struct lstmf_weights:
        const void *w_ih
        const void *w_hh
        const void *b_ih
        const void *b_hh
        const void *x_mask
        const void *h_mask
        const float *w_scale_ih
        const float *w_scale_hh
        const void *packed_ih
        const void *packed_hh
    ctypedef struct lstmf_grads:
        void *w_ih
        void *w_hh
        void *b_ih
        void *b_hh
        void *x
        void *h0
        void *c0
        void *h_seq
        void *c_seq
    ctypedef struct lstmf_cache_view:
        int64_t z
        int64_t c
        int64_t z_width
    int lstmf_cache_view_of(const lstmf_shape *s, int64_t packed_rows, lstmf_cache_view *view)
    ctypedef struct lstmf_cell_desc:
        const char *name
        int gates
        int has_cell_state
        int z_width
        int n_gate_names
        const char *gate_names[4]
    int lstmf_cell_count()
    const lstmf_cell_desc *lstmf_cell_describe(int cell)
    enum:
        LSTMF_MODE_INFERENCE
        LSTMF_MODE_TRAINING
        LSTMF_MODE_BACKWARD
    ctypedef struct lstmf_call_size:
        int64_t packed_rows
        int64_t cache_bytes
        int64_t index_bytes
        int64_t workspace_bytes
        int64_t output_bytes
    int lstmf_call_bytes(const lstmf_shape *s, const int64_t *lengths, int mode,
                         int want_y_or_dx, int nthreads, lstmf_call_size *out)
    int64_t lstmf_packed_rows(const lstmf_shape *s, const int64_t *lengths)
    int64_t lstmf_cache_elems(const lstmf_shape *s, int64_t packed_rows)
    int64_t lstmf_cache_index_elems(const lstmf_shape *s)
    int lstmf_cache_index_valid(const lstmf_shape *s, const int64_t *cache_index)
    int lstmf_forward(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                      const void *h0, const void *c0, const int64_t *lengths,
                      void *y, void *h_n, void *c_n, void *cache, int64_t *cache_index)
    int lstmf_backward(const lstmf_shape *s, const lstmf_weights *w, void *cache,
                       const int64_t *cache_index, const void *dy, const void *dh_n,
                       const void *dc_n, const lstmf_grads *g)
    ctypedef struct lstmf_stream_layer:
        lstmf_shape shape
        lstmf_weights w
        const void *packed_ih
        const void *packed_hh
        void *h[2]
        void *c
    int64_t lstmf_stream_packed_elems(const lstmf_shape *s, int which)
    int lstmf_stream_pack(const lstmf_shape *s, const lstmf_weights *w, void *packed_ih,
                          void *packed_hh)
    int64_t lstmf_stream_workspace_bytes(int n_layers, const lstmf_stream_layer *layers)
    int lstmf_stream_step(int n_layers, const lstmf_stream_layer *layers, int cur,
                          const void *x, const void *coef, const void *intercept,
                          int64_t n_out, void *out, void *workspace)
    int lstmf_isa_init(const char *requested)
    int lstmf_isa_active()
    int lstmf_isa_compiled(int isa)
    int lstmf_isa_supported(int isa)
    const char *lstmf_isa_name(int isa)
    int lstmf_dot_supported()
    int lstmf_dot_active()
    int lstmf_dot_init(int mask)
    void lstmf_set_num_threads(int n)
    int lstmf_get_num_threads()
    int lstmf_openmp_version()

Cell = namedtuple("Cell", "id name gates has_cell_state z_width gate_names")
Cell.__doc__ = """A cell as the kernels' registry describes it (csrc/lstmf.h,
lstmf_cell_desc): its id, name, gate blocks of its weights, whether it has
a cell state c beside h, the H-wide columns of its cached row, and the
names of the leading ones that are gate activations (trace)."""


def _cell_table():
    cdef const lstmf_cell_desc *d
    table = {}
    for cell in range(lstmf_cell_count()):
        d = lstmf_cell_describe(cell)
        name = d.name.decode()
        table[name] = Cell(cell, name, d.gates, bool(d.has_cell_state), d.z_width,
                           tuple(d.gate_names[k].decode() for k in range(d.n_gate_names)))
    return table


#: The kernels' cells by name (Cell); what Python knows of a cell comes from here.
CELLS = _cell_table()
_CELL_IDS = {name: cell.id for name, cell in CELLS.items()}
_MODES = {"inference": LSTMF_MODE_INFERENCE, "training": LSTMF_MODE_TRAINING,
          "backward": LSTMF_MODE_BACKWARD}
_DTYPES = {np.dtype(np.float32): LSTMF_F32, np.dtype(np.float64): LSTMF_F64}


def isa_init(requested):
    """Select the kernel variant; returns True if the request was honoured."""
    cdef bytes req = (requested or "").encode()
    return lstmf_isa_init(req) == LSTMF_OK


def isa_active():
    return lstmf_isa_name(lstmf_isa_active()).decode()


def isa_names():
    return [lstmf_isa_name(i).decode() for i in range(LSTMF_N_ISA)]


def isas_compiled():
    return [lstmf_isa_name(i).decode() for i in range(LSTMF_N_ISA) if lstmf_isa_compiled(i)]


def isas_supported():
    return [lstmf_isa_name(i).decode() for i in range(LSTMF_N_ISA)
            if lstmf_isa_compiled(i) and lstmf_isa_supported(i)]


#: The dot-product instructions of the reduced precisions (lstmf.h's LSTMF_DOT_*).
DOT_PRODUCTS = {"avx512_vnni": 1, "avx512_bf16": 2}


def dot_products_supported():
    """Names of the dot-product instructions the active variant has kernels
    for and the CPU runs."""
    cdef int bits = lstmf_dot_supported()
    return [name for name, bit in DOT_PRODUCTS.items() if bits & bit]


def dot_products_active():
    cdef int bits = lstmf_dot_active()
    return [name for name, bit in DOT_PRODUCTS.items() if bits & bit]


def dot_products_init(names):
    """Use only these dot-product instructions (None: every supported one);
    False, and nothing changes, if one is not supported."""
    cdef int mask = -1
    if names is not None:
        mask = 0
        for name in names:
            mask |= DOT_PRODUCTS[name]
    return lstmf_dot_init(mask) == LSTMF_OK


def set_num_threads(int n):
    lstmf_set_num_threads(n)


def get_num_threads():
    return lstmf_get_num_threads()


def openmp_version():
    return lstmf_openmp_version()


cdef object _ndarray(object arr, str name):
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(arr).__name__}")
    return arr


cdef void *_ptr(object arr, str name, object dtype, tuple shape, bint output=False) except NULL:
    """Pointer to arr's data after checking type, dtype, shape, contiguity
    (and, for arrays the kernels write, that they are writeable)."""
    _ndarray(arr, name)
    if output and not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; the kernels write their results into it")
    if arr.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {arr.dtype.name}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if arr.size == 0:
        return <void *>1  # never dereferenced: the kernels read no element
    return cnp.PyArray_DATA(<cnp.ndarray>arr)


cdef void *_sequence_ptr(object arr, str name, object dtype, lstmf_shape *s,
                         int64_t offset, bint output) except NULL:
    """Pointer to column `offset` of a (B, T, width) sequence array whose rows
    hold this direction's H values at [offset, offset + H); sets s.y_ld."""
    _ndarray(arr, name)
    if arr.ndim != 3 or arr.shape[:2] != (s.batch, s.steps) or offset < 0 \
            or arr.shape[2] < offset + s.hidden_size:
        raise ValueError(f"{name} must have shape ({s.batch}, {s.steps}, >= "
                         f"{offset + s.hidden_size}), got {arr.shape}")
    cdef char *base = <char *>_ptr(arr, name, dtype, arr.shape, output)
    if s.y_ld != 0 and s.y_ld != arr.shape[2]:
        raise ValueError(f"{name} must have {s.y_ld} columns like the output, got {arr.shape[2]}")
    s.y_ld = arr.shape[2]
    cdef int64_t itemsize = arr.itemsize
    return base + offset * itemsize


cdef void *_optional_output(object arr, str name, object dtype, tuple shape) except? NULL:
    if arr is None:
        return NULL
    return _ptr(arr, name, dtype, shape, True)


cdef void *_optional(object arr, str name, object dtype, tuple shape) except? NULL:
    if arr is None:
        return NULL
    return _ptr(arr, name, dtype, shape)


cdef int _make_shape(lstmf_shape *s, str cell, object dtype, tuple x_shape, object hidden) except -1:
    """Fill s, or raise: ValueError/TypeError for a bad cell, dtype or
    shape, MemoryError for a shape whose buffers the kernels refuse to size
    (csrc/validate.c, sizes_fit: past 2**60 bytes)."""
    if cell not in _CELL_IDS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(CELLS)}")
    dtype = np.dtype(dtype)
    if dtype not in _DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype.name}")
    if len(x_shape) != 3 or min(x_shape) < 1 or hidden < 1:
        raise ValueError(f"X must have shape (batch, steps, features) with every size >= 1, got {x_shape}")
    s.cell = _CELL_IDS[cell]
    s.dtype = _DTYPES[dtype]
    s.y_ld = 0
    s.reverse = 0
    s.precision = 0
    cdef lstmf_call_size size
    try:
        s.batch, s.steps, s.input_size = x_shape
        s.hidden_size = hidden
    except OverflowError:  # past int64: refused like any shape too large to size
        return _too_large(x_shape, hidden)
    # The cheapest size query the kernels answer: it refuses exactly the
    # shapes whose byte counts could pass their limit.
    if lstmf_call_bytes(s, NULL, LSTMF_MODE_INFERENCE, 0, 1, &size) != LSTMF_OK:
        return _too_large(x_shape, hidden)
    return 0


cdef int _too_large(tuple x_shape, object hidden) except -1:
    B, T, D = x_shape
    raise MemoryError(f"batch {B}, steps {T}, features {D} and hidden size {hidden} need "
                      f"buffers beyond what 64-bit sizes can count; use smaller shapes")


cdef int _check(int status) except -1:
    if status == LSTMF_ENOMEM:
        raise MemoryError("lstm-fast kernels could not allocate their workspace")
    if status != LSTMF_OK:
        raise ValueError("lstm-fast kernels rejected their arguments")
    return 0


# Reduced precisions (lstmf.h): name -> (LSTMF_PREC_*, the weights' storage dtype).
PRECISIONS = {"int8": (1, np.int8), "bfloat16": (2, np.uint16)}


cdef int _weights(lstmf_weights *w, lstmf_shape *s, object dtype, object w_ih, object w_hh,
                  object b_ih, object b_hh, object precision=None, object scale_ih=None,
                  object scale_hh=None) except -1:
    """Fill w (and s.precision). precision None: weights of the call's dtype;
    "int8": int8 weights with their float32 row scales; "bfloat16": the
    weights' bfloat16 bits as uint16. Biases are of the call's dtype."""
    cdef int64_t gh = lstmf_cell_describe(s.cell).gates * s.hidden_size
    wdtype = dtype
    s.precision = 0
    w.w_scale_ih = NULL
    w.w_scale_hh = NULL
    if precision is not None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        if np.dtype(dtype) != np.float32:
            raise TypeError(f"{precision} weights run float32 calls, got {np.dtype(dtype).name}")
        s.precision, wdtype = PRECISIONS[precision]
    w.w_ih = _ptr(w_ih, "weight_ih", wdtype, (gh, s.input_size))
    w.w_hh = _ptr(w_hh, "weight_hh", wdtype, (gh, s.hidden_size))
    w.b_ih = _ptr(b_ih, "bias_ih", dtype, (gh,))
    w.b_hh = _ptr(b_hh, "bias_hh", dtype, (gh,))
    if precision == "int8":
        w.w_scale_ih = <const float *>_ptr(scale_ih, "scale_ih", np.float32, (gh,))
        w.w_scale_hh = <const float *>_ptr(scale_hh, "scale_hh", np.float32, (gh,))
    w.x_mask = NULL
    w.h_mask = NULL
    w.packed_ih = NULL
    w.packed_hh = NULL
    return 0


def pack_reduced(str cell, w_ih, w_hh, b_ih, b_hh, precision, scale_ih=None, scale_hh=None):
    """Reduced weights packed once as the kernels read them
    (lstmf_stream_pack): the ``packed`` pair ``forward`` takes, valid in
    this process (the layout is the active ISA's)."""
    cdef lstmf_shape s
    cdef lstmf_weights w
    b_ih = _ndarray(b_ih, "bias_ih")
    _make_shape(&s, cell, b_ih.dtype, (1, 1, _ndarray(w_ih, "weight_ih").shape[1]),
                _ndarray(w_hh, "weight_hh").shape[-1])
    _weights(&w, &s, b_ih.dtype, w_ih, w_hh, b_ih, b_hh, precision, scale_ih, scale_hh)
    packed_ih = np.empty(lstmf_stream_packed_elems(&s, 0), b_ih.dtype)
    packed_hh = np.empty(lstmf_stream_packed_elems(&s, 1), b_ih.dtype)
    _check(lstmf_stream_pack(&s, &w, cnp.PyArray_DATA(packed_ih), cnp.PyArray_DATA(packed_hh)))
    return packed_ih, packed_hh


cdef int _masks(lstmf_weights *w, lstmf_shape *s, object dtype, object x_mask,
                object h_mask) except -1:
    w.x_mask = _optional(x_mask, "x_mask", dtype, (s.batch, s.input_size))
    w.h_mask = _optional(h_mask, "h_mask", dtype, (s.batch, s.hidden_size))
    return 0


def call_bytes(str cell, object dtype, tuple x_shape, object hidden, object lengths=None,
               str mode="inference", bint want=True, object nthreads=None):
    """Every byte one kernel call needs, from the plan the call itself uses
    (csrc/lstmf.h, lstmf_call_bytes): the one size formula.

    Parameters
    ----------
    cell : str
        A key of CELLS.
    dtype : float32 or float64
    x_shape : tuple (B, T, D)
    hidden : int
    lengths : int64 ndarray of shape (B,), optional
    mode : {"inference", "training", "backward"}
        A forward without or with a training cache, or a backward.
    want : bool, default=True
        The forward writes Y / the backward writes dX.
    nthreads : int, optional
        Threads the call runs on; None: the kernels' thread count.

    Returns
    -------
    dict
        ``packed_rows`` (the sum of lengths), and in bytes ``cache`` and
        ``index`` (the training cache, training and backward), ``workspace``
        (the kernels' own scratch) and ``output`` (forward: Y if wanted,
        h_n, c_n; backward: the parameter gradients, dh0, dc0, dX if
        wanted) of one direction's call.

    Raises
    ------
    ValueError
        If a length is out of range (or the arguments are malformed).
    MemoryError
        If the kernels cannot size the call: byte counts past their limit.
    """
    cdef lstmf_shape s
    cdef lstmf_call_size size
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    _make_shape(&s, cell, dtype, x_shape, hidden)
    cdef const int64_t *lp = <const int64_t *>_optional(lengths, "lengths", np.int64, (s.batch,))
    if lstmf_packed_rows(&s, lp) < 0:
        raise ValueError(f"every length must be between 1 and the number of steps ({s.steps})")
    cdef int threads = lstmf_get_num_threads() if nthreads is None else nthreads
    if lstmf_call_bytes(&s, lp, _MODES[mode], want, threads, &size) != LSTMF_OK:
        _too_large(x_shape, hidden)
    return {"packed_rows": size.packed_rows, "cache": size.cache_bytes,
            "index": size.index_bytes, "workspace": size.workspace_bytes,
            "output": size.output_bytes}


def cache_sizes(str cell, object dtype, tuple x_shape, int64_t hidden, object lengths):
    """(packed rows, cache elements, index elements) of a training forward:
    call_bytes' cache and index, counted in elements."""
    cdef lstmf_shape s
    _make_shape(&s, cell, dtype, x_shape, hidden)
    cdef const int64_t *lp = <const int64_t *>_optional(lengths, "lengths", np.int64, (s.batch,))
    cdef int64_t rows = lstmf_packed_rows(&s, lp)
    if rows < 0:
        raise ValueError(f"every length must be between 1 and the number of steps ({s.steps})")
    cdef int64_t elems = lstmf_cache_elems(&s, rows)
    cdef int64_t index_elems = lstmf_cache_index_elems(&s)
    if elems < 0 or index_elems < 0:
        _too_large(x_shape, hidden)
    return rows, elems, index_elems


def cache_view(str cell, object dtype, tuple x_shape, int64_t hidden, int64_t rows):
    """Offsets (in elements) of the cached rows and cell states in a training
    cache with `rows` packed rows: {"z", "c", "z_width"}."""
    cdef lstmf_shape s
    cdef lstmf_cache_view view
    _make_shape(&s, cell, dtype, x_shape, hidden)
    _check(lstmf_cache_view_of(&s, rows, &view))
    return {"z": view.z, "c": view.c, "z_width": view.z_width}


def cache_arrays(str cell, tuple x_shape, int64_t hidden, buffer, cache_index,
                 bint reverse=False):
    """Views of what a training forward cached, and where each cached row
    belongs, for reading gate traces before backward overwrites them.

    Parameters
    ----------
    cell : str
    x_shape : tuple (B, T, D)
    hidden : int
    buffer : ndarray, 1-D
        The training cache (its dtype is the forward's).
    cache_index : int64 ndarray
        Its index.
    reverse : bool, default=False
        The forward ran each sequence from its last step (as it must have
        for `step` to be right).

    Returns
    -------
    dict
        ``"z"``: (rows, z_width, H) view of each packed row's cached
        columns, the cell's gate activations first (CELLS[cell].gate_names);
        ``"c"``: (rows, H) view of the cell states, or None for a cell
        without one; ``"sample"``, ``"step"``: (rows,) the batch-first
        position (b, t) of each packed row (csrc/cache_layout.h: rows are
        time-major, samples sorted by decreasing length).
    """
    cdef lstmf_shape s
    dtype = _ndarray(buffer, "cache").dtype
    _make_shape(&s, cell, dtype, x_shape, hidden)
    cdef int64_t *ip = <int64_t *>_ptr(cache_index, "cache_index", np.int64,
                                      (lstmf_cache_index_elems(&s),))
    if not lstmf_cache_index_valid(&s, ip):
        raise ValueError("cache_index is not the index of a training forward with this shape")
    cdef int64_t rows = ip[s.batch + 2 * s.steps]
    _ptr(buffer, "cache", dtype, (lstmf_cache_elems(&s, rows),))
    view = cache_view(cell, dtype, x_shape, hidden, rows)
    H, width = s.hidden_size, view["z_width"]
    z = buffer[view["z"]:view["z"] + rows * width * H].reshape(rows, width, H)
    c = None
    if CELLS[cell].has_cell_state:
        c = buffer[view["c"]:view["c"] + rows * H].reshape(rows, H)
    # The index: perm (B), batch_sizes (T), off (T + 1), row_len (B).
    B, T = s.batch, s.steps
    perm, off = cache_index[:B], cache_index[B + T:B + 2 * T + 1]
    row_len = cache_index[B + 2 * T + 1:]
    packed = np.arange(rows)
    t = np.searchsorted(off, packed, side="right") - 1  # the step of each packed row
    rank = packed - off[t]                              # its rank within that step
    step = row_len[rank] - 1 - t if reverse else t
    return {"z": z, "c": c, "sample": perm[rank], "step": step}


def adam_step(params, grad, m, v, double b1, double b2, double eps, double lr):
    """One Adam step in place on params, m and v (1-D, one dtype) from grad
    (csrc/optim.h)."""
    dtype = _ndarray(params, "params").dtype
    if dtype not in _DTYPES:
        raise TypeError(f"params must be float32 or float64, got {dtype.name}")
    cdef tuple shape = params.shape
    if len(shape) != 1:
        raise ValueError(f"params must be 1-D, got shape {shape}")
    cdef void *pp = _ptr(params, "params", dtype, shape, True)
    cdef const void *gp = _ptr(grad, "grad", dtype, shape)
    cdef void *mp = _ptr(m, "m", dtype, shape, True)
    cdef void *vp = _ptr(v, "v", dtype, shape, True)
    cdef int code = _DTYPES[dtype]
    cdef int64_t n = shape[0]
    cdef int status
    with nogil:
        status = lstmf_adam_step(code, n, pp, gp, mp, vp, b1, b2, eps, lr)
    _check(status)


def forward(str cell, X, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, Y, h_n, c_n,
            cache=None, cache_index=None, bint reverse=False, int64_t y_offset=0,
            x_mask=None, h_mask=None, precision=None, scale_ih=None, scale_hh=None,
            packed=None):
    """Run the kernel forward; fills Y, h_n, c_n (and the cache if given).

    Y is (B, T, width): this direction writes columns [y_offset,
    y_offset + H) of it; None: not wanted. reverse runs each sequence from
    its last step. x_mask (B, D), h_mask (B, H): dropout masks on the
    inputs of W_ih and W_hh (training only, lstmf.h). precision "int8" or
    "bfloat16": reduced weights (_weights; inference of float32 only), and
    packed, if given, the same weights from pack_reduced."""
    cdef lstmf_shape s, one
    cdef lstmf_weights w
    dtype = _ndarray(X, "X").dtype
    _make_shape(&s, cell, dtype, X.shape, _ndarray(w_hh, "weight_hh").shape[-1])
    _weights(&w, &s, dtype, w_ih, w_hh, b_ih, b_hh, precision, scale_ih, scale_hh)
    if precision is not None and cache is not None:
        raise ValueError(f"{precision} weights are for inference: pass no cache")
    if packed is not None:
        if precision is None:
            raise ValueError("packed weights are reduced-precision ones: give their precision")
        one = s
        one.steps = 1
        w.packed_ih = _ptr(packed[0], "packed_ih", dtype, (lstmf_stream_packed_elems(&one, 0),))
        w.packed_hh = _ptr(packed[1], "packed_hh", dtype, (lstmf_stream_packed_elems(&one, 1),))
    if cache is None and (x_mask is not None or h_mask is not None):
        raise ValueError("dropout masks are for training: pass a cache, or no masks")
    _masks(&w, &s, dtype, x_mask, h_mask)
    cdef tuple state = (s.batch, s.hidden_size)
    cdef const void *xp = _ptr(X, "X", dtype, (s.batch, s.steps, s.input_size))
    cdef bint has_c = lstmf_cell_describe(s.cell).has_cell_state
    if not has_c and (c0 is not None or c_n is not None):
        raise ValueError(f"a {cell} cell has no cell state: pass c0=None and c_n=None")
    if has_c and c_n is None:
        raise ValueError("an lstm cell needs c_n, the array for its final cell state")
    cdef const void *h0p = _optional(h0, "h0", dtype, state)
    cdef const void *c0p = _optional(c0, "c0", dtype, state)
    cdef const int64_t *lp = <const int64_t *>_optional(lengths, "lengths", np.int64, (s.batch,))
    s.reverse = reverse
    cdef void *yp = NULL
    if Y is not None:
        yp = _sequence_ptr(Y, "Y", dtype, &s, y_offset, True)
    cdef void *hnp = _ptr(h_n, "h_n", dtype, state, True)
    cdef void *cnp_ = NULL
    if has_c:
        cnp_ = _ptr(c_n, "c_n", dtype, state, True)
    cdef void *cp = NULL
    cdef int64_t *ip = NULL
    cdef int64_t rows
    if cache is not None:
        rows = lstmf_packed_rows(&s, lp)
        if rows < 0:
            raise ValueError(f"every length must be between 1 and the number of steps ({s.steps})")
        cp = _ptr(cache, "cache", dtype, (lstmf_cache_elems(&s, rows),), True)
        ip = <int64_t *>_ptr(cache_index, "cache_index", np.int64, (lstmf_cache_index_elems(&s),), True)
    cdef int status
    with nogil:
        status = lstmf_forward(&s, &w, xp, h0p, c0p, lp, yp, hnp, cnp_, cp, ip)
    _check(status)


def backward(str cell, tuple x_shape, w_ih, w_hh, b_ih, b_hh, cache, cache_index,
             dY, dh_n, dc_n, g_w_ih, g_w_hh, g_b_ih, g_b_hh, dX, dh0, dc0,
             bint reverse=False, int64_t y_offset=0, h_seq=None, c_seq=None,
             x_mask=None, h_mask=None):
    """Run the kernel backward from a training cache; fills the gradients.

    dY, if given, is (B, T, width) with this direction's columns at
    [y_offset, y_offset + H); reverse must match the forward. dX None skips
    the input gradient. h_seq, c_seq (B, T, H), if given, receive dLoss/dh_t
    and dLoss/dc_t of every step. x_mask, h_mask: the forward's dropout
    masks."""
    cdef lstmf_shape s
    cdef lstmf_weights w
    cdef lstmf_grads g
    dtype = _ndarray(w_ih, "weight_ih").dtype
    _make_shape(&s, cell, dtype, x_shape, _ndarray(w_hh, "weight_hh").shape[-1])
    _weights(&w, &s, dtype, w_ih, w_hh, b_ih, b_hh)
    _masks(&w, &s, dtype, x_mask, h_mask)
    cdef int64_t gh = lstmf_cell_describe(s.cell).gates * s.hidden_size
    cdef tuple state = (s.batch, s.hidden_size)
    cdef int64_t *ip = <int64_t *>_ptr(cache_index, "cache_index", np.int64,
                                      (lstmf_cache_index_elems(&s),))
    if not lstmf_cache_index_valid(&s, ip):
        raise ValueError("cache_index is not the index of a training forward with this shape")
    if not isinstance(cache, np.ndarray) or cache.ndim != 1:
        raise TypeError("cache must be the 1-D array made by a training forward")
    cdef int64_t rows = ip[s.batch + 2 * s.steps]
    cdef void *cp = _ptr(cache, "cache", dtype, (lstmf_cache_elems(&s, rows),), True)
    s.reverse = reverse
    cdef const void *dyp = NULL
    if dY is not None:
        dyp = _sequence_ptr(dY, "dY", dtype, &s, y_offset, False)
    cdef const void *dhp = _optional(dh_n, "dh_n", dtype, state)
    cdef bint has_c = lstmf_cell_describe(s.cell).has_cell_state
    if not has_c and (dc_n is not None or dc0 is not None):
        raise ValueError(f"a {cell} cell has no cell state: pass dc_n=None and dc0=None")
    if has_c and dc0 is None:
        raise ValueError("an lstm cell needs dc0, the array for the gradient of c0")
    cdef const void *dcp = _optional(dc_n, "dc_n", dtype, state)
    g.w_ih = _ptr(g_w_ih, "grad weight_ih", dtype, (gh, s.input_size), True)
    g.w_hh = _ptr(g_w_hh, "grad weight_hh", dtype, (gh, s.hidden_size), True)
    g.b_ih = _ptr(g_b_ih, "grad bias_ih", dtype, (gh,), True)
    g.b_hh = _ptr(g_b_hh, "grad bias_hh", dtype, (gh,), True)
    g.x = _optional_output(dX, "grad X", dtype, (s.batch, s.steps, s.input_size))
    g.h0 = _ptr(dh0, "grad h0", dtype, state, True)
    g.c0 = NULL
    if has_c:
        g.c0 = _ptr(dc0, "grad c0", dtype, state, True)
    cdef tuple seq_shape = (s.batch, s.steps, s.hidden_size)
    g.h_seq = _optional_output(h_seq, "h_seq", dtype, seq_shape)
    g.c_seq = NULL
    if c_seq is not None:
        if not has_c:
            raise ValueError(f"a {cell} cell has no cell state: pass c_seq=None")
        g.c_seq = _optional_output(c_seq, "c_seq", dtype, seq_shape)
    cdef int status
    with nogil:
        status = lstmf_backward(&s, &w, cp, ip, dyp, dhp, dcp, &g)
    _check(status)


cdef class Stream:
    """k parallel streams through a stack of layers and a linear head, one
    time step per call (csrc/stream.c). The weights are packed when the
    stream is made; states, workspace and output live here, so a step
    allocates nothing and runs with the GIL released.

    layers: list of (cell, w_ih, w_hh, b_ih, b_hh), bottom first, all of one
    dtype; coef (H_top, n_out) and intercept (n_out,) are the head.
    """
    cdef lstmf_stream_layer *_layers
    cdef int _n_layers
    cdef int _cur
    cdef list _arrays           # keeps every array the C structs point into
    cdef object _states         # per layer: [h (2, k, H), c (k, H) or None]
    cdef object _workspace, _coef, _intercept
    cdef object _x              # (k, n_features): x converted to the stream's dtype
    cdef readonly object out    # (k, n_out), overwritten by every step
    cdef readonly int64_t streams, n_features
    cdef int _typenum
    cdef bint _release_gil      # the step is long enough to hand the GIL over
    cdef int64_t _n_out
    cdef void *_outp
    cdef void *_ws
    cdef const void *_coefp
    cdef const void *_interceptp

    def __cinit__(self, list layers, coef, intercept, int64_t streams):
        if not layers:
            raise ValueError("a stream needs at least one layer")
        self._layers = <lstmf_stream_layer *>calloc(len(layers), sizeof(lstmf_stream_layer))
        if self._layers == NULL:
            raise MemoryError()
        self._n_layers = len(layers)
        self._arrays = []
        self._states = []
        self.streams = streams
        dtype = _ndarray(layers[0][3], "bias_ih").dtype
        cdef lstmf_stream_layer *L
        cdef int64_t in_size
        cdef double step_macs = 0
        for l, layer in enumerate(layers):
            # (cell, w_ih, w_hh, b_ih, b_hh[, precision, scale_ih, scale_hh])
            cell, w_ih, w_hh, b_ih, b_hh = layer[:5]
            precision, scale_ih, scale_hh = (tuple(layer[5:]) + (None, None, None))[:3]
            L = &self._layers[l]
            in_size = _ndarray(w_ih, "weight_ih").shape[1]
            _make_shape(&L.shape, cell, dtype, (streams, 1, in_size),
                        _ndarray(w_hh, "weight_hh").shape[-1])
            _weights(&L.w, &L.shape, dtype, w_ih, w_hh, b_ih, b_hh, precision, scale_ih,
                     scale_hh)
            step_macs += (<double>streams * lstmf_cell_describe(L.shape.cell).gates * L.shape.hidden_size
                          * (in_size + L.shape.hidden_size))
            packed_ih = np.empty(lstmf_stream_packed_elems(&L.shape, 0), dtype)
            packed_hh = np.empty(lstmf_stream_packed_elems(&L.shape, 1), dtype)
            _check(lstmf_stream_pack(&L.shape, &L.w, cnp.PyArray_DATA(packed_ih),
                                     cnp.PyArray_DATA(packed_hh)))
            L.packed_ih = cnp.PyArray_DATA(packed_ih)
            L.packed_hh = cnp.PyArray_DATA(packed_hh)
            h = np.zeros((2, streams, L.shape.hidden_size), dtype)
            L.h[0] = cnp.PyArray_DATA(h)
            L.h[1] = cnp.PyArray_GETPTR1(h, 1)
            c = None
            if lstmf_cell_describe(L.shape.cell).has_cell_state:
                c = np.zeros((streams, L.shape.hidden_size), dtype)
                L.c = cnp.PyArray_DATA(c)
            self._arrays += [w_ih, w_hh, b_ih, b_hh, packed_ih, packed_hh, scale_ih, scale_hh]
            self._states.append([h, c])
        n_top = self._layers[self._n_layers - 1].shape.hidden_size
        self._coef = coef
        self._intercept = intercept
        _ptr(coef, "coef", dtype, (n_top, intercept.shape[0]))
        _ptr(intercept, "intercept", dtype, (coef.shape[1],))
        self.out = np.zeros((streams, coef.shape[1]), dtype)
        cdef int64_t n_bytes = lstmf_stream_workspace_bytes(self._n_layers, self._layers)
        if n_bytes < 0:
            raise ValueError("the layers of a stream must chain: each one's input size is "
                             "the previous one's hidden size")
        self._workspace = np.empty(n_bytes, np.uint8)
        self.n_features = self._layers[0].shape.input_size
        self._x = np.empty((streams, self.n_features), dtype)
        self._cur = 0
        self._typenum = cnp.PyArray_TYPE(<cnp.ndarray>self.out)
        # As NumPy does for small loops: below 100,000 multiply-adds a step
        # is so short that handing the GIL over and taking it back costs a
        # noticeable part of it; above, other threads get it.
        self._release_gil = step_macs >= 1e5
        self._n_out = coef.shape[1]
        self._outp = cnp.PyArray_DATA(<cnp.ndarray>self.out)
        self._ws = cnp.PyArray_DATA(<cnp.ndarray>self._workspace)
        self._coefp = cnp.PyArray_DATA(<cnp.ndarray>self._coef)
        self._interceptp = cnp.PyArray_DATA(<cnp.ndarray>self._intercept)

    def __dealloc__(self):
        free(self._layers)

    def step(self, cnp.ndarray x):
        """One step: x (k, n_features), or (n_features,) when k = 1, C-contiguous,
        float32 or float64; the other dtype than the stream's is converted (as
        numpy's astype rounds) into the stream's own buffer. Returns the head
        output (k, n_out): the stream's own buffer."""
        cdef int ndim = cnp.PyArray_NDIM(x)
        cdef int typenum = cnp.PyArray_TYPE(x)
        if (not cnp.PyArray_IS_C_CONTIGUOUS(x)
                or typenum not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)
                or not (ndim == 2 and cnp.PyArray_DIM(x, 0) == self.streams
                        or ndim == 1 and self.streams == 1)
                or cnp.PyArray_DIM(x, ndim - 1) != self.n_features):
            raise ValueError(f"x must be a C-contiguous float32 or float64 array of shape "
                             f"({self.streams}, {self.n_features})"
                             + (f" or ({self.n_features},)" if self.streams == 1 else ""))
        cdef const void *xp = cnp.PyArray_DATA(x)
        cdef int64_t i, n = self.streams * self.n_features
        cdef float *to32
        cdef double *to64
        if typenum != self._typenum:
            if self._typenum == cnp.NPY_FLOAT32:
                to32 = <float *>cnp.PyArray_DATA(<cnp.ndarray>self._x)
                for i in range(n):
                    to32[i] = <float>(<const double *>xp)[i]
                xp = to32
            else:
                to64 = <double *>cnp.PyArray_DATA(<cnp.ndarray>self._x)
                for i in range(n):
                    to64[i] = (<const float *>xp)[i]
                xp = to64
        cdef int status
        if self._release_gil:
            with nogil:
                status = lstmf_stream_step(self._n_layers, self._layers, self._cur, xp,
                                           self._coefp, self._interceptp, self._n_out,
                                           self._outp, self._ws)
        else:
            status = lstmf_stream_step(self._n_layers, self._layers, self._cur, xp,
                                       self._coefp, self._interceptp, self._n_out,
                                       self._outp, self._ws)
        if status == LSTMF_ENONFINITE:
            raise ValueError("x contains NaN or infinity: a stream's state would carry it "
                             "forever; fill or drop missing observations first")
        _check(status)
        self._cur = 1 - self._cur
        return self.out

    def states(self):
        """Per layer, (h, c) or (h, None): views of the current state."""
        return [(h[self._cur], c) for h, c in self._states]
