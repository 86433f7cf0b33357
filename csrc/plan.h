/* A call's plan, made before anything is allocated or computed, like
 * oneDNN's RNN primitive descriptor: from the shape, the mode, the variant
 * (its panel and tile sizes) and the thread count, every choice the
 * forward or backward makes, and one layout of its workspace. The
 * executors (time_loop.c) follow it; lstmf_call_bytes reports its size.
 */
#ifndef LSTMF_PLAN_H
#define LSTMF_PLAN_H

#include "kernels.h"
#include "config.h"

/* The workspace's arrays. Each starts at a multiple of LSTMF_ALIGN bytes;
 * an array the call does not need has no bytes and no address. */
enum {
    WS_INDEX,   /* forward, inference: the rows' index (int64, cache_layout.h) */
    WS_X,       /* forward: x gathered into packed rows, unless read in place */
    WS_Z,       /* forward, inference, unfused: one step's z rows */
    WS_H,       /* forward: h_{t-1} and h_t of every row (two buffers) */
    WS_C,       /* forward: c of every row (cells with a cell state) */
    WS_HM,      /* forward, training: h_{t-1} and h_t times the dropout mask
                 * where W_hh reads them (two buffers; unused without masks) */
    WS_W_HH,    /* W_hh^T packed (forward: pack_recurrent; backward: W_hh for dh) */
    WS_W_IH,    /* W_ih^T packed (forward: per unit block if fused, else for
                 * the projection; backward: W_ih for dx, if wanted) */
    WS_BIAS,    /* forward, fused: b_ih + b_hh */
    WS_COL_MAP, /* forward: pack_recurrent's column map (int64) */
    WS_TILES,   /* forward: one output tile per thread */
    WS_DH,      /* backward: dh carried through the steps */
    WS_DC,      /* backward: dc carried (cells with a cell state) */
    WS_DHM,     /* backward, cells with direct_dh: dZ W_hh before the dropout
                 * mask scales it into dh (unused without masks) */
    WS_DX,      /* backward: dx in packed rows, unless written in place */
    WS_DWT,     /* backward: [dW_ih, dW_hh]^T */
    WS_GEMM,    /* backward: the weight-gradient GEMM's packing buffers */
    WS_COUNT
};

typedef struct {
    int mode;            /* LSTMF_MODE_* */
    int precision;       /* the weights' (LSTMF_PREC_*; reduced: inference only) */
    lstmf_cell_info cell;
    int64_t B, T, D, H, N; /* N: packed rows */
    /* Forward: W_ih x_t summed into each step's tile with W_hh h_{t-1}
     * (else projected into z rows first); x read where it is. Backward:
     * dx wanted; dx written where it goes. */
    int fuse_input, x_in_place;
    int want_dx, dx_in_place;
    int nthreads;        /* the caller's: the workspace's layout is for them */
    int run_threads;     /* those that run: the caller's, or one while threads
                          * are on hold (the weight-gradient GEMM's too) */
    /* The time loop's threads, and how many of them split columns (0:
     * they split rows). The column parts: the forward's unit blocks and
     * projection panels, the backward's panels of dh and dx. */
    int threads, split_cols;
    int64_t nblocks, z_panels, dh_panels, dx_panels;
    int64_t tile_elems;  /* each thread's tile (forward) */
    int64_t at[WS_COUNT], size[WS_COUNT]; /* bytes: offset and size of each array */
    int64_t bytes;       /* the whole workspace; -1 if its size overflows */
} call_plan;

/* What a plan may not use for now (thread_split.h's holds): nothing,
 * column splits, or any thread but the caller's. */
enum { PLAN_HOLD_NONE = 0, PLAN_HOLD_SPLITS = 1, PLAN_HOLD_THREADS = 2 };

/* The plan of a forward (LSTMF_MODE_INFERENCE, LSTMF_MODE_TRAINING) or a
 * backward (LSTMF_MODE_BACKWARD; want: dx) on N packed rows and nthreads
 * threads, under a PLAN_HOLD_*; the layout is the same whatever the hold. */
call_plan FN(plan_call)(const lstmf_shape *s, int64_t N, int mode, int want, int nthreads,
                        int hold);

/* The workspace of plan p, or NULL (out of memory); and its release. */
void *FN(plan_alloc)(const call_plan *p);
void FN(plan_free)(const call_plan *p, void *ws);

/* Where array `which` of the plan lives in workspace ws; NULL if the call
 * does not use it. */
static inline void *plan_array(const call_plan *p, void *ws, int which) {
    return p->size[which] ? (char *)ws + p->at[which] : (void *)0;
}

#endif
