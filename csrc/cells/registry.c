/* The cell registry: one row per cell, indexed by its id (LSTMF_CELL_*).
 * Adding a cell adds its epilogues (cells/<cell>.c), a row here and its
 * case in cell.h's cell_ops_for; the time loop and the GEMM stay as they
 * are. */
#include "registry.h"

_Static_assert(LSTMF_CELL_LSTM == 0 && LSTMF_CELL_RNN_TANH == 1 && LSTMF_CELL_RNN_RELU == 2 &&
                   LSTMF_CELL_GRU == 3,
               "rows below are in id order");

const lstmf_cell_row lstmf_cell_rows[LSTMF_N_CELLS] = {
    {{"lstm", 4, 1, 4, 4, {"i", "f", "g", "o"}}, 0, 0},
    {{"rnn_tanh", 1, 0, 1, 0, {0}}, 0, 0},
    {{"rnn_relu", 1, 0, 1, 0, {0}}, 0, 0},
    /* GRU rows keep r, z, n and W_hn h + b_hn in the forward, then dZ of
     * the input projection and of the recurrent product. */
    {{"gru", 3, 0, 6, 3, {"r", "z", "n"}}, 1, 1},
};

int lstmf_cell_count(void) { return LSTMF_N_CELLS; }

const lstmf_cell_desc *lstmf_cell_describe(int cell) {
    const lstmf_cell_row *row = lstmf_cell_row_of(cell);
    return row ? &row->desc : 0;
}
