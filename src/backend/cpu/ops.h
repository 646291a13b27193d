// Element-wise and attention ops of the CPU backend (float32 activations).
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace mmada::cpu {

// y[r,:] = x[r,:] * rsqrt(mean(x[r,:]^2) + eps) * w   (x, y: [rows, n]; w: F32 [n]).
void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps);

// RoPE tables, float32 exactly as the reference builds them: inv_freq[m] = 1 / theta^(2m/d),
// ang = p * inv_freq, columns duplicated to d. cos/sin: [L, d].
struct RopeTable {
  int64_t L = 0, d = 0;
  std::vector<float> cos, sin;
};
RopeTable make_rope_table(int64_t L, int64_t head_dim, double theta);

// In-place half-rotation RoPE on x [B*L rows, n_heads*head_dim]; row r at position positions[r]
// ([B*L], each < t.L) or, with positions null, r % L.
// With `transpose`, the transposed rotation (what the backward applies to gradients).
// T = float for the forward, double for the trainer's gradient checks.
template <class T>
void apply_rope(T* x, int64_t B, int64_t L, int64_t n_heads, int64_t head_dim, const RopeTable& t,
                bool transpose = false, const int64_t* positions = nullptr);

// Which keys a query may see. With a token mask m (1 = real token):
//   Pair:     allowed(i,j) = m_i && m_j            (MMaDA's attention_bias, generation paths)
//   HfCausal: allowed(i,j) = j <= i && m_j         (the reference's attention_mask= quirk)
// A query with no allowed key attends uniformly to every key, as the reference does when all
// its scores are float32 min.
enum class MaskMode { Pair, HfCausal };

// out[b,i,h,:] = softmax(q·kᵀ/sqrt(d) + bias) · v over the sequence, bidirectional, for the
// queries at positions [q0, q0 + Lq) of each row (the whole row: q0 = 0, Lq = L; a span is what
// the approximate KV cache runs). q, out: [B*Lq, n_heads*d]; k, v: [B*L, n_kv*d] (kv head =
// h / (n_heads/n_kv)). token_mask: [B*L] by absolute position, or null (no masking).
// bf16: scores and P·V as bf16 x bf16 -> f32.
void attention(const float* q, const float* k, const float* v, float* out, int64_t B, int64_t L,
               int64_t q0, int64_t Lq, int64_t n_heads, int64_t n_kv, int64_t d,
               const uint8_t* token_mask, MaskMode mode, bool bf16);

// out[r, i] = silu(gu[r, i]) * gu[r, F + i]
void silu_gate(const float* gu, int64_t rows, int64_t F, float* out);

// out[r,:] = table[ids[r],:] as float32 (table F32/BF16/F16 [V, d]); ids must be in range.
void embedding(const Tensor& table, const int64_t* ids, int64_t n, float* out);

}  // namespace mmada::cpu
