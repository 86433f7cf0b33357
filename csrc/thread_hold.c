/* The hold on threads (internal.h): one for the process, since every
 * variant's calls share the cores. Only a hint for speed: any value gives
 * the same results. */
#include "internal.h"
#include "omp_compat.h"

/* Until when (ms on omp_get_wtime's clock) calls run on one thread, and
 * the length of the next hold: 50 ms after a team that did not wait, then
 * doubled by each team that waits again, up to 2 s. A core taken for a
 * moment (a compile, a page of a browser) costs a short hold; a
 * competitor that stays is probed less and less often. */
static int64_t hold_until_ms, hold_ms = 50;
static int forced_hold = -1;

static int64_t now_ms(void) { return (int64_t)(omp_get_wtime() * 1e3); }

int lstmf_threads_on_hold(void) {
    return __atomic_load_n(&hold_until_ms, __ATOMIC_RELAXED) > now_ms();
}

void lstmf_team_waited(double work, double wait) {
    /* 50 us spare for waking a sleeping thread on an idle machine. */
    if (wait <= work + 5e-5) {
        __atomic_store_n(&hold_ms, 50, __ATOMIC_RELAXED);
        return;
    }
    const int64_t ms = __atomic_load_n(&hold_ms, __ATOMIC_RELAXED);
    __atomic_store_n(&hold_until_ms, now_ms() + ms, __ATOMIC_RELAXED);
    __atomic_store_n(&hold_ms, ms < 1000 ? 2 * ms : 2000, __ATOMIC_RELAXED);
}

void lstmf_set_forced_hold(int hold) { __atomic_store_n(&forced_hold, hold, __ATOMIC_RELAXED); }

int lstmf_forced_hold(void) { return __atomic_load_n(&forced_hold, __ATOMIC_RELAXED); }
