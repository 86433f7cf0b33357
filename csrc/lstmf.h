/* lstm-fast C API: the only header the Cython module includes.
 *
 * Layouts (all arrays C-contiguous, elements of the chosen dtype):
 *   x        (B, T, D)   batch-first input sequences
 *   y        (B, T, H)   output sequence; y[b, t] = 0 for t >= lengths[b].
 *                        Rows may be wider than H (y_ld >= H elements apart):
 *                        element (b, t, j) is y[(b*T + t)*y_ld + j], so the
 *                        two directions of a bidirectional layer write their
 *                        halves of one (B, T, 2H) array; dy likewise.
 *                        lstmf_forward takes y = NULL: not wanted (a last
 *                        layer whose final state is all its caller reads).
 *   h0, c0   (B, H)      initial states, NULL for zeros (c: LSTM only, else NULL)
 *   h_n, c_n (B, H)      final states: each sample's state after its own last step
 *                        (c_n: LSTM only, NULL for the other cells)
 *   lengths  (B,) int64  1 <= lengths[b] <= T, or NULL for all T steps
 *   w_ih     (G*H, D), w_hh (G*H, H), b_ih (G*H,), b_hh (G*H,): PyTorch's
 *            layout and gate order (LSTM: G = 4, gates i, f, g, o; GRU:
 *            G = 3, gates r, z, n; plain RNN with tanh or relu: G = 1).
 *
 * Training mode keeps, in a caller-owned cache, what backward needs:
 * `lstmf_cache_elems` elements of the dtype plus `lstmf_cache_index_elems`
 * int64 values. Rows are stored time-major and "packed" as in PyTorch's
 * PackedSequence (samples sorted by decreasing length, only live rows kept).
 *
 * Arrays not marked optional (NULL for ...) are required: NULL for one of
 * them is LSTMF_EINVAL.
 *
 * Every function returns LSTMF_OK or a negative LSTMF_E* code. A shape
 * whose arrays or workspaces would not fit 2^60 bytes is refused with
 * LSTMF_EINVAL before anything is allocated: no size computation wraps.
 */
#ifndef LSTMF_H
#define LSTMF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { LSTMF_OK = 0, LSTMF_ENOMEM = -1, LSTMF_EINVAL = -2, LSTMF_ENONFINITE = -3 };
enum { LSTMF_F32 = 0, LSTMF_F64 = 1 };
enum { LSTMF_CELL_LSTM = 0, LSTMF_CELL_RNN_TANH = 1, LSTMF_CELL_RNN_RELU = 2, LSTMF_CELL_GRU = 3 };
enum { LSTMF_ISA_GENERIC = 0, LSTMF_ISA_AVX2 = 1, LSTMF_ISA_AVX512 = 2, LSTMF_N_ISA = 3 };
/* The weights' precision (lstmf_shape.precision). Reduced precisions are for
 * inference (lstmf_forward without a cache, and streaming) of float32 calls:
 * x, states, outputs, biases and all arithmetic outside the products stay
 * float32.
 * - LSTMF_PREC_INT8: w_ih, w_hh int8, row j of W being round(W[j] / s[j])
 *   with s[j] in lstmf_weights.w_scale_ih / w_scale_hh (float32, >= 0);
 *   each product's other operand (a row of x_t or h_{t-1}) is quantized to
 *   int8 with its own scale max|row| / 127 at every step, and the sums are
 *   exact int32, so every ISA and instruction path gives the same sums.
 * - LSTMF_PREC_BF16: w_ih, w_hh bfloat16 (the upper 16 bits of a float32),
 *   the rows of x_t and h_{t-1} rounded to bfloat16 (to nearest, ties to
 *   even), products summed in float32. */
enum { LSTMF_PREC_FULL = 0, LSTMF_PREC_INT8 = 1, LSTMF_PREC_BF16 = 2 };
/* The dot-product instructions the reduced precisions may use
 * (lstmf_dot_*): a bit each. */
enum { LSTMF_DOT_VNNI = 1, LSTMF_DOT_BF16 = 2 };

typedef struct {
    int cell;            /* LSTMF_CELL_* */
    int dtype;           /* LSTMF_F32 or LSTMF_F64 */
    int64_t batch;       /* B */
    int64_t steps;       /* T */
    int64_t input_size;  /* D */
    int64_t hidden_size; /* H */
    int64_t y_ld;        /* row stride of y and dy, >= H (0 means H) */
    int reverse;         /* run each sequence from its own last step back
                          * to its first (the reverse direction) */
    int precision;       /* LSTMF_PREC_*: the weights' (0: the dtype's) */
} lstmf_shape;

typedef struct {
    const void *w_ih, *w_hh, *b_ih, *b_hh;
    /* Variational dropout (training only; NULL for none): per-sample masks
     * on the inputs of the two products, the same at every step, as if
     * sample b's weights were W_ih diag(x_mask[b]) and W_hh diag(h_mask[b]).
     * x_mask (B, D) scales x_t; h_mask (B, H) scales h_{t-1} where W_hh
     * reads it (the cell's own use of h_{t-1}, the GRU's update, and the
     * outputs keep h unmasked). Values are the caller's: 0 or 1/(1 - p)
     * for inverted dropout. lstmf_forward takes them only with a cache
     * (training), lstmf_backward needs the same masks as its forward, and
     * streaming none. */
    const void *x_mask, *h_mask;
    /* LSTMF_PREC_INT8 only: the scale of each row of w_ih and w_hh (G*H
     * each); NULL otherwise. */
    const float *w_scale_ih, *w_scale_hh;
    /* Reduced precisions only, optional: the weights already packed by
     * lstmf_stream_pack for this cell, sizes and precision (a forward then
     * reads them instead of packing w_ih and w_hh again; they must be the
     * same weights). NULL: packed per call. */
    const void *packed_ih, *packed_hh;
} lstmf_weights;

typedef struct {
    void *w_ih, *w_hh, *b_ih, *b_hh; /* parameter gradients (overwritten) */
    /* Input gradients (overwritten; c0 LSTM only). x may be NULL: not
     * wanted (a network's first layer), and the steps' dZ_t W_ih skipped. */
    void *x, *h0, *c0;
    /* Optional (NULL = not wanted), batch-first (B, T, H): dLoss/dh_t and
     * (LSTM) dLoss/dc_t at every step, for the states (h_t, c_t) that step t
     * passes on, each with the other held fixed; zero at padded steps. The
     * gradient flow through time, as measured by the real backward pass. */
    void *h_seq, *c_seq;
} lstmf_grads;

/* The cell registry: one table, one row per cell (csrc/cells/registry.c). */
typedef struct {
    const char *name;            /* "lstm", "gru", "rnn_tanh", "rnn_relu" (the Python names) */
    int gates;                   /* weight rows per hidden unit: 4, 3, 1 */
    int has_cell_state;          /* c beside h (LSTM) */
    int z_width;                 /* H-wide columns of a cached row */
    int n_gate_names;            /* leading cached columns that are named gate activations */
    const char *gate_names[4];   /* LSTM i f g o; GRU r z n; RNN none */
} lstmf_cell_desc;
int lstmf_cell_count(void);                           /* cells are ids 0 .. count-1 */
const lstmf_cell_desc *lstmf_cell_describe(int cell); /* NULL for an unknown id */

/* One size query: every byte a call needs, from the same plan the call uses. */
enum { LSTMF_MODE_INFERENCE = 0, LSTMF_MODE_TRAINING = 1, LSTMF_MODE_BACKWARD = 2 };
typedef struct {
    int64_t packed_rows;     /* sum of lengths */
    int64_t cache_bytes;     /* training cache (LSTMF_MODE_TRAINING/BACKWARD), else 0 */
    int64_t index_bytes;     /* cache index (int64s), training/backward, else 0 */
    int64_t workspace_bytes; /* the kernels' own peak scratch for this call (packed weights,
                              * tiles, gathered x, ...) */
    int64_t output_bytes;    /* forward: y (if want_y), h_n, c_n; backward: dW, db, dh0, dc0,
                              * dx (if want_dx) */
} lstmf_call_size;
/* LSTMF_OK, or LSTMF_EINVAL (bad shape/lengths, or a size past the 2^60 limit). lengths may
 * be NULL. workspace_bytes is that of a call on nthreads threads (< 1: one), as
 * lstmf_get_num_threads() gives the calls. Outputs count the elements the call writes: y
 * as B*T*H (with y_ld > H the rest of each row belongs to another call), dW and db as
 * both W_ih, W_hh and b_ih, b_hh; the optional h_seq, c_seq are not counted. */
int lstmf_call_bytes(const lstmf_shape *s, const int64_t *lengths, int mode, int want_y_or_dx,
                     int nthreads, lstmf_call_size *out);

/* Number of gates of a cell (LSTM: 4, GRU: 3, RNN: 1), or 0 for an unknown cell. */
int lstmf_cell_gates(int cell);
/* Number of recurrent states: 2 for the LSTM (h and c), 1 for the others. */
int lstmf_cell_states(int cell);

/* Sum of lengths (B*T when lengths is NULL), or LSTMF_EINVAL if a length is
 * outside [1, T]. */
int64_t lstmf_packed_rows(const lstmf_shape *s, const int64_t *lengths);

/* Sizes of the training cache for a given packed row count. */
int64_t lstmf_cache_elems(const lstmf_shape *s, int64_t packed_rows);
int64_t lstmf_cache_index_elems(const lstmf_shape *s);

/* 1 if cache_index is a consistent index for shape s (a permutation of the
 * batch, non-increasing live-row counts, matching offsets), else 0. Backward
 * trusts the index, so callers that cannot vouch for it check it first. */
int lstmf_cache_index_valid(const lstmf_shape *s, const int64_t *cache_index);

/* Forward pass. cache == NULL: inference (nothing kept). Otherwise training:
 * cache and cache_index receive what lstmf_backward needs. */
int lstmf_forward(const lstmf_shape *s, const lstmf_weights *w, const void *x,
                  const void *h0, const void *c0, const int64_t *lengths,
                  void *y, void *h_n, void *c_n, void *cache,
                  int64_t *cache_index);

/* Exact BPTT from a training cache. dy (B, T, H), dh_n, dc_n (B, H) may be
 * NULL (zero gradients); dy at padded steps is ignored. The cache is used
 * up: backward overwrites the cached activations with gate gradients. */
int lstmf_backward(const lstmf_shape *s, const lstmf_weights *w,
                   void *cache, const int64_t *cache_index,
                   const void *dy, const void *dh_n, const void *dc_n,
                   const lstmf_grads *g);

/* Streaming: one time step of a stack of layers and a linear head for k
 * parallel streams (each layer's shape: batch = k, steps = 1), with the
 * weights packed once by lstmf_stream_pack. No allocation per step. */
typedef struct {
    lstmf_shape shape;
    lstmf_weights w;
    const void *packed_ih;  /* lstmf_stream_packed_elems(s, 0) elements */
    const void *packed_hh;  /* lstmf_stream_packed_elems(s, 1) elements */
    void *h[2];             /* (k, H) each: h[cur] is the state; a step writes h[1 - cur] */
    void *c;                /* (k, H) cell state, updated in place (LSTM); else NULL */
} lstmf_stream_layer;

/* Elements of the packed input (which = 0) or recurrent (which = 1) weights. */
int64_t lstmf_stream_packed_elems(const lstmf_shape *s, int which);
int lstmf_stream_pack(const lstmf_shape *s, const lstmf_weights *w, void *packed_ih,
                      void *packed_hh);
/* Bytes of scratch memory lstmf_stream_step needs for these layers. */
int64_t lstmf_stream_workspace_bytes(int n_layers, const lstmf_stream_layer *layers);
/* x (k, D_0) -> every layer's new state in its h[1 - cur] (and c), then
 * out (k, n_out) = h_top coef + intercept, coef (H_top, n_out) row-major.
 * LSTMF_ENONFINITE (nothing changed) if x holds NaN or infinity: a state
 * would carry it forever. */
int lstmf_stream_step(int n_layers, const lstmf_stream_layer *layers, int cur, const void *x,
                      const void *coef, const void *intercept, int64_t n_out, void *out,
                      void *workspace);

/* Where the training cache keeps, for packed row r, its cell's cached row
 * (z + r*z_width*H: the gate activations, see cells/) and its c_t
 * (c + r*H, LSTM): offsets in elements, for reading gate traces before
 * backward overwrites them. */
typedef struct {
    int64_t z, c, z_width;
} lstmf_cache_view;
int lstmf_cache_view_of(const lstmf_shape *s, int64_t packed_rows, lstmf_cache_view *view);

/* ISA dispatch. lstmf_isa_init reads LSTM_FAST_ISA (generic|avx2|avx512)
 * and picks the best compiled variant the CPU supports, never a higher one
 * than requested. It returns LSTMF_OK, or LSTMF_EINVAL when the request
 * named an unknown ISA or one the CPU or build lacks (a fallback is chosen). */
int lstmf_isa_init(const char *requested);
/* Dot-product instructions for the reduced precisions (LSTMF_DOT_* bits):
 * those the active ISA's variant was built with and the CPU runs
 * (supported), and those the calls use (active): the supported ones, or,
 * after lstmf_dot_init(mask), the mask's, which must be supported
 * (LSTMF_EINVAL otherwise, and nothing changes). A cleared bit falls back to
 * the portable path: the same int8 sums, bfloat16 sums rounded apart.
 * lstmf_dot_init(-1): back to every supported bit. */
int lstmf_dot_supported(void);
int lstmf_dot_active(void);
int lstmf_dot_init(int mask);
int lstmf_isa_active(void);
int lstmf_isa_compiled(int isa);
int lstmf_isa_supported(int isa);
const char *lstmf_isa_name(int isa);

/* Threads: the OpenMP thread count used by the kernels (the calling
 * thread's omp_get_max_threads(), which threadpoolctl also controls). */
void lstmf_set_num_threads(int n);
int lstmf_get_num_threads(void);
/* OpenMP version macro (_OPENMP) the library was built with, 0 if none. */
int lstmf_openmp_version(void);

#ifdef __cplusplus
}
#endif

#endif
