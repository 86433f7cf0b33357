#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lstmf.h"

int ref_gates(int cell) {
    return cell == LSTMF_CELL_LSTM ? 4 : cell == LSTMF_CELL_GRU ? 3 : 1;
}

static double sigmoid(double v) { return 1 / (1 + exp(-v)); }

/* out[r] = sum_k w[r, k] * v[k] + b[r] for rows r of a (rows, n) matrix. */
static void affine(const double *w, const double *b, const double *v, int64_t rows,
                   int64_t n, double *out) {
    for (int64_t r = 0; r < rows; r++) {
        double acc = b[r];
        for (int64_t k = 0; k < n; k++) acc += w[r * n + k] * v[k];
        out[r] = acc;
    }
}

/* One step of one sample: h, c updated in place. */
static void cell_step(int cell, int64_t H, const double *xi, const double *hi,
                      double *h, double *c) {
    for (int64_t j = 0; j < H; j++) {
        switch (cell) {
            case LSTMF_CELL_LSTM: {
                double i = sigmoid(xi[j] + hi[j]), f = sigmoid(xi[H + j] + hi[H + j]);
                double g = tanh(xi[2 * H + j] + hi[2 * H + j]);
                double o = sigmoid(xi[3 * H + j] + hi[3 * H + j]);
                c[j] = f * c[j] + i * g;
                h[j] = o * tanh(c[j]);
                break;
            }
            case LSTMF_CELL_GRU: {
                double r = sigmoid(xi[j] + hi[j]), z = sigmoid(xi[H + j] + hi[H + j]);
                double n = tanh(xi[2 * H + j] + r * hi[2 * H + j]);
                h[j] = (1 - z) * n + z * h[j];
                break;
            }
            case LSTMF_CELL_RNN_TANH: h[j] = tanh(xi[j] + hi[j]); break;
            default: h[j] = xi[j] + hi[j] > 0 ? xi[j] + hi[j] : 0; break;
        }
    }
}

void ref_forward(const ref_shape *s, const double *w_ih, const double *w_hh,
                 const double *b_ih, const double *b_hh, const double *x,
                 const double *h0, const double *c0, const int64_t *lengths,
                 const ref_masks *masks, double *y, double *h_n, double *c_n,
                 const ref_nudge *nudge) {
    const int64_t B = s->B, T = s->T, D = s->D, H = s->H, GH = ref_gates(s->cell) * H;
    double *h = calloc((size_t)(5 * H + 2 * GH + D), sizeof(double));
    double *c = h + H, *hprev = c + H, *xi = hprev + H, *hi = xi + GH;
    double *xin = hi + GH, *hin = xin + D; /* the products' inputs, masked */
    memset(y, 0, sizeof(double) * (size_t)(B * T * H));
    for (int64_t b = 0; b < B; b++) {
        const int64_t len = lengths ? lengths[b] : T;
        for (int64_t j = 0; j < H; j++) {
            h[j] = h0 ? h0[b * H + j] : 0;
            c[j] = c0 ? c0[b * H + j] : 0;
        }
        for (int64_t k = 0; k < len; k++) {
            const int64_t t = s->reverse ? len - 1 - k : k;
            memcpy(hprev, h, sizeof(double) * (size_t)H);
            for (int64_t k = 0; k < D; k++)
                xin[k] = x[(b * T + t) * D + k] * (masks && masks->x ? masks->x[b * D + k] : 1);
            for (int64_t j = 0; j < H; j++)
                hin[j] = hprev[j] * (masks && masks->h ? masks->h[b * H + j] : 1);
            affine(w_ih, b_ih, xin, GH, D, xi);
            affine(w_hh, b_hh, hin, GH, H, hi);
            cell_step(s->cell, H, xi, hi, h, c);
            if (nudge && nudge->b == b && nudge->t == t)
                (nudge->state ? c : h)[nudge->j] += nudge->eps;
            memcpy(y + (b * T + t) * H, h, sizeof(double) * (size_t)H);
        }
        memcpy(h_n + b * H, h, sizeof(double) * (size_t)H);
        if (s->cell == LSTMF_CELL_LSTM && c_n) memcpy(c_n + b * H, c, sizeof(double) * (size_t)H);
    }
    free(h);
}
