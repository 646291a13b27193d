// Launchers of the training kernels: the forward and backward of every train_ops.h op that is
// not a GEMM, with the CPU reference's conventions (backward ACCUMULATES into gradients; the
// same rounding order where it is cheap to keep: sums of squares and dot products in double).
// All on the given stream; device pointers; float32.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "train/adamw_math.h"

namespace mmada::train::cuda {

void embedding_forward(const float* table, int64_t D, const int64_t* ids, int64_t n, float* out,
                       cudaStream_t s);
// dtable[ids[r],:] += dout[r,:] (atomics: rows sharing an id add in any order)
void embedding_backward(const float* dout, const int64_t* ids, int64_t n, int64_t D,
                        float* dtable, cudaStream_t s);

void rmsnorm_forward(const float* x, const float* w, float* y, float* inv, int64_t rows,
                     int64_t n, double eps, cudaStream_t s);
void rmsnorm_backward(const float* dy, const float* x, const float* w, const float* inv,
                      float* dx, float* dw, int64_t rows, int64_t n, cudaStream_t s);

// cos/sin: the CPU's tables [positions, d]; row r at position r % L.
void rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, const float* cos,
          const float* sin, bool transpose, cudaStream_t s);

// Scores S [B, H, L, L] (raw q·k) to probabilities in place; mask [B*L] or null; mode as
// train::AttnMask (0 None, 1 Pair, 2 AdditiveUnit).
void attention_softmax(float* S, int64_t B, int64_t H, int64_t L, float scale, const uint8_t* mask,
                       int mode, cudaStream_t s);
// dS [B, H, L, L] holds dP; becomes P ⊙ (dP − rowsum(dP ⊙ P)) · scale, 0 for rows with no
// visible key.
void attention_softmax_backward(float* dS, const float* P, int64_t B, int64_t H, int64_t L,
                                float scale, const uint8_t* mask, int mode, cudaStream_t s);

void silu_mul_forward(const float* g, const float* u, float* out, int64_t n, cudaStream_t s);
void silu_mul_backward(const float* dout, const float* g, const float* u, float* dg, float* du,
                       int64_t n, cudaStream_t s);

// out[r,:] = x[rows[r],:];  dx[rows[r],:] += d[r,:] (atomics: a row may be selected twice)
void gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t D, float* out,
                 cudaStream_t s);
void scatter_add_rows(const float* d, const int64_t* rows, int64_t n, int64_t D, float* dx,
                      cudaStream_t s);

// Σ x² in double: per-block partial sums written to partial[0..blocks) (at most
// kSumSquaresBlocks); returns the number of blocks, the caller adds them in order.
constexpr int kSumSquaresBlocks = 256;
int sum_squares_partial(const float* x, int64_t n, double* partial, cudaStream_t s);
void scale(float* x, int64_t n, float c, cudaStream_t s);
void adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoeffs& c,
           float shrink, cudaStream_t s);

}  // namespace mmada::train::cuda
