// Training forward (saving activations) and backward of the whole transformer, composed from
// train_ops.h. Weights are a ModelWeights whose every tensor has dtype F32 (T = float) or
// F64 (T = double, gradient checks); gradients use the same struct, so the tensor table of
// weights.h (for_each_tensor) drives gradients, AdamW moments and checkpoints alike.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/cpu/ops.h"
#include "model/config.h"
#include "model/weights.h"
#include "train/train_ops.h"

namespace mmada::train {

// One forward's input. N = B*L token rows.
struct TrainBatch {
  std::vector<int64_t> ids;         // [B, L] (noised) token ids
  int64_t B = 0, L = 0;
  std::vector<uint8_t> token_mask;  // [B, L], 1 = real token; empty = no padding anywhere
  AttnMask mask_mode = AttnMask::None;
  std::vector<int64_t> rows;        // token rows (b*L + i) whose logits are computed
};

// Activations one layer's backward needs. Shapes: N = B*L, D model, KV = kv dim, F = mlp.
template <class T>
struct LayerActivations {
  std::vector<T> x_in;   // [N, D] block input (residual stream)
  std::vector<T> h1;     // [N, D] attn_norm output
  std::vector<T> inv1;   // [N]    its 1/rms
  std::vector<T> q, k, v;  // [N, D], [N, KV], [N, KV] after RoPE (q, k)
  std::vector<T> P;      // [B, H, L, L] attention probabilities
  std::vector<T> att;    // [N, D] attention output before attn_out
  std::vector<T> x_mid;  // [N, D] residual after attention
  std::vector<T> h2;     // [N, D] ff_norm output
  std::vector<T> inv2;   // [N]
  std::vector<T> g, u;   // [N, F] ff_proj and up_proj outputs (pre-activation)
  std::vector<T> gu;     // [N, F] silu(g)*u
};

template <class T>
struct Activations {
  std::vector<LayerActivations<T>> layers;
  std::vector<T> x_out;  // [N, D] last block output
  std::vector<T> xs;     // [R, D] rows selected for the head
  std::vector<T> xn;     // [R, D] ln_f(xs)
  std::vector<T> invf;   // [R]
};

// Logits [R, vocab] of batch.rows, with every activation saved into `acts`.
template <class T>
std::vector<T> train_forward(const ModelConfig& cfg, const ModelWeights& w, const TrainBatch& b,
                             const cpu::RopeTable& rope, Activations<T>& acts);

// Accumulates d loss / d weights into `grads` (same dtype as the weights) from dlogits [R, V].
template <class T>
void train_backward(const ModelConfig& cfg, const ModelWeights& w, const TrainBatch& b,
                    const cpu::RopeTable& rope, const Activations<T>& acts,
                    const std::vector<T>& dlogits, ModelWeights& grads);

// A zero-filled ModelWeights of `dtype` (F32/F64) with the config's shapes.
ModelWeights zero_weights(const ModelConfig& cfg, DType dtype);
// A contiguous copy of every tensor converted to `dtype` (F32/F64; source F32/F64/BF16/F16).
ModelWeights cast_weights(const ModelConfig& cfg, ModelWeights& src, DType dtype);

}  // namespace mmada::train
