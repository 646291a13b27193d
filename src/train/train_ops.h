// The transformer's operations with their backward passes, written out plainly (llm.c style)
// for training on the CPU. Every op is a template over the scalar type T: float for training,
// double for the finite-difference gradient checks (tests/train/grad_check_test.cc).
//
// Conventions: row-major buffers; shapes in the comments. A backward function ACCUMULATES
// (+=) into the gradients of its inputs and parameters; callers zero them first. This makes
// residual connections and shared weights free of special cases.
#pragma once
#include <cstdint>

#include "backend/cpu/ops.h"

namespace mmada::train {

// C[M,N] (+)= op(A)[M,K] · op(B)[K,N]. Element (r,c) of A is A[r*lda+c], or A[c*lda+r] if ta.
// float goes to oneDNN (cpu::matmul); double uses plain loops (tiny test configs only).
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, bool ta, const T* B,
          int64_t ldb, bool tb, T* C, int64_t ldc, bool accumulate);

// out[r,:] = table[ids[r],:]            table [V, D], out [n, D]
template <class T>
void embedding_forward(const T* table, int64_t D, const int64_t* ids, int64_t n, T* out);
// dtable[ids[r],:] += dout[r,:]
template <class T>
void embedding_backward(const T* dout, const int64_t* ids, int64_t n, int64_t D, T* dtable);

// y = x * inv * w with inv[r] = 1/sqrt(mean(x[r,:]^2) + eps)    x, y [rows, n]; inv [rows]
template <class T>
void rmsnorm_forward(const T* x, const T* w, T* y, T* inv, int64_t rows, int64_t n, double eps);
// dx += inv*(dy*w) - x*inv^3*mean(dy*w*x);  dw += sum_r dy*x*inv
template <class T>
void rmsnorm_backward(const T* dy, const T* x, const T* w, const T* inv, T* dx, T* dw,
                      int64_t rows, int64_t n);

// y[M,N] = x[M,K] · W[N,K]ᵀ   (PyTorch Linear, no bias)
template <class T>
void linear_forward(const T* x, const T* W, T* y, int64_t M, int64_t K, int64_t N,
                    bool accumulate = false);
// dx[M,K] += dy[M,N] · W;  dW[N,K] += dyᵀ · x
template <class T>
void linear_backward(const T* dy, const T* x, const T* W, T* dx, T* dW, int64_t M, int64_t K,
                     int64_t N);

// Half-rotation RoPE in place on x [B*L, n_heads*d], row r at position r % L (cos/sin from the
// inference table, so float training logits match Transformer::forward).
template <class T>
void rope_forward(T* x, int64_t B, int64_t L, int64_t n_heads, int64_t d, const cpu::RopeTable& t);
// The rotation is orthogonal: dx = Rᵀ dy, applied in place on the gradient.
template <class T>
void rope_backward(T* dx, int64_t B, int64_t L, int64_t n_heads, int64_t d,
                   const cpu::RopeTable& t);

// Which (query i, key j) pairs of a row are visible, from a token mask m (1 = real token):
//   None:         all pairs (lm/mmu rows; t2i rows in the released-weights history)
//   Pair:         m_i && m_j; a query with no visible key attends uniformly to every key
//                 (the inference forward's semantics, cpu::MaskMode::Pair)
//   AdditiveUnit: all pairs, with +1 added to the scaled score of real-real pairs (HEAD code's
//                 float bias, training.md §6)
enum class AttnMask { None, Pair, AdditiveUnit };

// out[b,i,h,:] = softmax(q·kᵀ/sqrt(d) + bias)·v, bidirectional, grouped-query (kv head =
// h / (n_heads/n_kv)). q, out [B*L, n_heads*d]; k, v [B*L, n_kv*d]; P saved [B, n_heads, L, L].
template <class T>
void attention_forward(const T* q, const T* k, const T* v, T* out, T* P, int64_t B, int64_t L,
                       int64_t n_heads, int64_t n_kv, int64_t d, const uint8_t* token_mask,
                       AttnMask mode);
// dq, dk, dv accumulate. dS = P ⊙ (dP − rowsum(dP ⊙ P)), zero for masked pairs and for
// queries with no visible key (their uniform weights do not depend on the scores).
template <class T>
void attention_backward(const T* dout, const T* q, const T* k, const T* v, const T* P, T* dq,
                        T* dk, T* dv, int64_t B, int64_t L, int64_t n_heads, int64_t n_kv,
                        int64_t d, const uint8_t* token_mask, AttnMask mode);

// out = silu(g) * u      (g, u, out [n])
template <class T>
void silu_mul_forward(const T* g, const T* u, T* out, int64_t n);
// dg += dout*u*silu'(g); du += dout*silu(g)
template <class T>
void silu_mul_backward(const T* dout, const T* g, const T* u, T* dg, T* du, int64_t n);

// Weighted cross-entropy over selected rows: loss = Σ_r weight[r] * CE_r, where
// CE_r = −(1−s)·log p[label_r] − s·mean_j log p[j] (s = label smoothing; s = 0: plain CE).
// logits, dlogits [R, V]; dlogits is OVERWRITTEN with d loss / d logits. ce[r] (optional)
// receives the unweighted CE_r. Softmax sums are taken in double.
template <class T>
double cross_entropy(const T* logits, const int64_t* labels, const double* weight, int64_t R,
                     int64_t V, double label_smoothing, T* dlogits, double* ce);

}  // namespace mmada::train
