/* How the time loop's threads share a call, for the forward and the
 * backward alike.
 *
 * Rows: a row's recurrence never reads another row, so threads that split
 * the batch rows run the whole time loop with no barrier. Columns: with
 * too few rows to split (streaming, B = 1) and large weights, the threads
 * split each step's columns instead (the forward's unit blocks, the
 * backward's panels of dh_{t-1} and dx_t), meeting at a barrier or two per
 * step. Either way every value is computed by the same arithmetic whatever
 * the thread count, so the thread mode is only ever a question of speed.
 *
 * The hold on splits below is a static of each file that includes this
 * one: time_loop.c alone reads and sets it (its plan gets splits_allowed),
 * so each variant has one hold for its forward and backward.
 */
#ifndef LSTMF_THREAD_SPLIT_H
#define LSTMF_THREAD_SPLIT_H

#include "gemm/blocksizes.h"
#include "omp_compat.h"

/* Threads for a row split: no more than rows, and one for tiny problems
 * where waking a second core costs more than it saves. */
static inline int row_split_threads(int nthreads, int64_t B, int64_t H, int gates) {
    int nt = nthreads < 1 ? 1 : nthreads;
    if (nt > B) nt = (int)B;
    if ((double)B * H * H * gates < 1e5) nt = 1;
    return nt;
}

/* Threads that may split each step's `parts` columns instead of its rows,
 * or 0. With one row panel or less, splitting rows leaves every thread but
 * one idle, while splitting columns divides the weights each thread
 * streams per step: worth a barrier or two per step once a step's
 * products, B x K times K x GH, are large enough. Each thread keeps a fixed
 * range of parts (split_range), so that weights that fit the threads' L2
 * stay where they are used; parts claimed one at a time from a shared
 * counter move between caches at every step. */
static inline int column_split_threads(int nthreads, int64_t B, int64_t K, int64_t GH,
                                       int64_t parts) {
    if (nthreads < 2 || B > GEMM_MR || parts < 2) return 0;
    if ((double)B * K * GH < 1.5e5) return 0;
    return nthreads < parts ? nthreads : (int)parts;
}

/* Until when (ms on omp_get_wtime's clock) calls do not split columns: a
 * second after a call had to go solo (split_step_end), so that a process
 * kept short of cores pays for a failed split once a second rather than at
 * every call. Only a hint for speed: any value gives the same results. */
static int64_t split_hold_until_ms;

static inline int64_t now_ms(void) { return (int64_t)(omp_get_wtime() * 1e3); }

static inline int splits_on_hold(void) {
    return __atomic_load_n(&split_hold_until_ms, __ATOMIC_RELAXED) > now_ms();
}

static inline void hold_splits(void) {
    __atomic_store_n(&split_hold_until_ms, now_ms() + 1000, __ATOMIC_RELAXED);
}


/* One thread's share, inside the parallel region. Rows [r0, r1) are its
 * rows in the loop (all of them while splitting columns); rows [own0,
 * own1) are the ones it prepares before the loop and finishes after it,
 * which reads no other rows when splitting rows.
 *
 * Column-split steps meet at barriers, so a thread that loses its core
 * (more threads than free cores: a grid search's processes, other
 * programs) stalls every step, where threads splitting rows only finish
 * later. So each thread times its work and its wait at the barriers in
 * every step; a wait longer than the work (plus 50 us) means another
 * thread held a part while it was descheduled, and at the third such step
 * (one is a hiccup of the VM; under contention they come step after step)
 * the thread votes for the rest of the call to run on thread 0 alone, as
 * it would without the split. The vote of step t goes to votes[t & 1] and
 * is read after the next step's last barrier, where every thread reads the
 * same value: all switch at the same step, and later calls do not split
 * for a second (hold_splits). */
typedef struct {
    int tid, nth;
    int split_cols; /* the call split columns (threads that went solo included) */
    int split;      /* splitting columns now: until the threads go solo */
    int64_t r0, r1, own0, own1;
    double step_start, wait;
    int long_waits;
    int *votes; /* the call's two votes, shared */
} split_thread;

static inline split_thread split_thread_begin(int split_cols, int64_t B, int votes[2]) {
    split_thread t;
    t.tid = omp_get_thread_num();
    t.nth = omp_get_num_threads();
    t.split_cols = split_cols && t.nth > 1;
    t.split = t.split_cols;
    t.own0 = B * t.tid / t.nth;
    t.own1 = B * (t.tid + 1) / t.nth;
    t.r0 = split_cols ? 0 : t.own0;
    t.r1 = split_cols ? B : t.own1;
    t.step_start = t.wait = 0;
    t.long_waits = 0;
    t.votes = votes;
    return t;
}

/* The thread's range [lo, hi) of n parts while splitting, else all. */
static inline int64_t split_range_lo(const split_thread *t, int64_t n) {
    return t->split ? n * t->tid / t->nth : 0;
}
static inline int64_t split_range_hi(const split_thread *t, int64_t n) {
    return t->split ? n * (t->tid + 1) / t->nth : n;
}

/* Splitting columns: every thread's work so far done before any goes on
 * (the prepared rows before the loop, the rows finished after it). */
static inline void split_sync(const split_thread *t, int while_splitting) {
    if (while_splitting ? t->split : t->split_cols) {
#pragma omp barrier
    }
}

static inline void split_step_begin(split_thread *t) {
    t->wait = 0;
    if (t->split) t->step_start = omp_get_wtime();
}

/* A barrier inside a split step, its wait counted against the step. */
static inline void split_step_barrier(split_thread *t) {
    if (!t->split) return;
    const double start = omp_get_wtime();
#pragma omp barrier
    t->wait += omp_get_wtime() - start;
}

/* At the end of step `step` (after its work): the step's last barrier, the
 * vote, and, if the threads go solo from the next step on, 1 for every
 * thread but thread 0 to leave the loop. */
static inline int split_step_end(split_thread *t, int64_t step) {
    if (!t->split) return 0;
    const double work = omp_get_wtime() - t->step_start - t->wait;
    split_step_barrier(t);
    if (t->wait > work + 5e-5) t->long_waits++;
    if (t->long_waits >= 3) __atomic_store_n(&t->votes[step & 1], 1, __ATOMIC_RELAXED);
    if (!__atomic_load_n(&t->votes[(step + 1) & 1], __ATOMIC_RELAXED)) return 0;
    hold_splits();
    t->split = 0;
    return t->tid != 0;
}

/* Rows of a chunk of a row split: k chunks per thread, k up to 4 while a
 * chunk keeps two row panels (the micro-kernel's) or more, so that a
 * thread whose core is taken holds up one chunk while the others take the
 * rest. The same number of chunks for every thread, of rows as even as
 * can be: on an idle machine each thread takes its k, as a static split
 * would. Never more rows than a static share (each thread's tile is that
 * tall, plan.c). */
static inline int64_t row_chunk_rows(int64_t B, int threads) {
    int64_t k = B / ((int64_t)threads * 2 * GEMM_MR);
    if (k < 1) k = 1;
    if (k > 4) k = 4;
    return (B + threads * k - 1) / (threads * k);
}

/* Runs body(call, thread) on `threads` OpenMP threads (split_thread_begin):
 * split_cols > 0, each thread once with its share of every step's columns;
 * else on chunks of rows that the threads claim one at a time (a row's
 * recurrence never reads another row, so body runs a chunk's rows through
 * every step, with its own0 .. own1 = r0 .. r1 = the chunk). Every row is
 * computed by the same arithmetic whichever thread takes it. Thread 0's
 * wait for the others at the end goes to lstmf_team_waited. */
typedef void (*split_body)(const void *call, split_thread *thread);

static inline void run_threads(int threads, int split_cols, int64_t B, split_body body,
                               const void *call) {
    int votes[2] = {0, 0}; /* split_step_end */
    int64_t next_chunk = 0;
    const int64_t chunk = split_cols ? B : row_chunk_rows(B, threads);
    const double start = omp_get_wtime();
    double first_done = start;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        split_thread th = split_thread_begin(split_cols, B, votes);
        if (th.split_cols || th.nth == 1) {
            body(call, &th);
        } else {
            for (;;) {
                const int64_t lo = __atomic_fetch_add(&next_chunk, 1, __ATOMIC_RELAXED) * chunk;
                if (lo >= B) break;
                th.own0 = th.r0 = lo;
                th.own1 = th.r1 = lo + chunk < B ? lo + chunk : B;
                body(call, &th);
            }
        }
        if (th.tid == 0) first_done = omp_get_wtime();
    }
    if (threads > 1) lstmf_team_waited(first_done - start, omp_get_wtime() - first_done);
}

#endif
