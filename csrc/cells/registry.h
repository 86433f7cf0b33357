/* The cell registry's internal side: what the time loop needs to know of a
 * cell besides its public description (lstmf_cell_desc) and its two
 * epilogues (cell.h). One row per cell id, in registry.c; compiled once,
 * read by every variant.
 */
#ifndef LSTMF_CELL_REGISTRY_H
#define LSTMF_CELL_REGISTRY_H

#include "../rnn.h"

typedef struct {
    lstmf_cell_desc desc;
    int separate_recurrent_dz; /* dZ of W_hh h differs from dZ of W_ih x */
    int direct_dh;             /* dh_{t-1} has a term besides dZ W_hh */
} lstmf_cell_row;

enum { LSTMF_N_CELLS = 4 };
extern const lstmf_cell_row lstmf_cell_rows[LSTMF_N_CELLS];

/* A cell's row, or NULL for an unknown id. */
static inline const lstmf_cell_row *lstmf_cell_row_of(int cell) {
    return cell >= 0 && cell < LSTMF_N_CELLS ? &lstmf_cell_rows[cell] : (const lstmf_cell_row *)0;
}

#endif
