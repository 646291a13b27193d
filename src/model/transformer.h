// The MMaDA / LLaDA mask predictor: a bidirectional Llama-shaped transformer (spec/model.md §4).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#include "backend/backend.h"
#include "core/tensor.h"
#include "model/config.h"
#include "model/weights.h"

namespace mmada {

struct QuantRecipe;

// F32: every weight expanded to float32 (the parity mode; small models only).
// BF16: weights stay bf16 (memory-mapped when the file is bf16), GEMM inputs are rounded to
// bf16 and accumulate in float32; norms, RoPE, softmax and the residual stream stay float32.
enum class Precision { F32, BF16 };
Precision precision_from_name(const std::string& s);

struct ForwardRequest {
  const int64_t* ids = nullptr;           // [B, L]
  int64_t B = 1, L = 0;
  const uint8_t* token_mask = nullptr;    // [B, L], 1 = real token; null = no padding
  cpu::MaskMode mask_mode = cpu::MaskMode::Pair;
  // Rows (b*L + i) whose logits are wanted; empty = all B*L rows.
  std::vector<int64_t> rows;
  // Vocabulary columns [col_begin, col_end) of the head; col_end < 0 = to the end.
  int64_t col_begin = 0, col_end = -1;
  // If set, receives [n_layers+1, B, L, d]: the input of each block, then the output of ln_f.
  Tensor* hidden_states = nullptr;
};

class Transformer {
 public:
  // Loads config.json and the safetensors checkpoint (single file or shards) of `dir`, and
  // uploads the weights to `backend` once.
  static Transformer load(const std::string& dir, Precision p,
                          std::shared_ptr<Backend> backend = cpu_backend());
  // Random bf16/f32 weights of any config (benchmarks and tests), deterministic in `seed`;
  // with `quant`, each tensor is quantized as soon as it is made (the bf16 model never exists
  // whole, so peak memory is the quantized model's).
  static Transformer random(const ModelConfig& cfg, Precision p, uint64_t seed,
                            std::shared_ptr<Backend> backend = cpu_backend(),
                            const QuantRecipe* quant = nullptr);

  const ModelConfig& config() const { return cfg_; }
  Precision precision() const { return prec_; }
  // Host-side weights (memory-mapped or generated); the backend holds its own copies.
  ModelWeights& weights() { return w_; }
  Backend& backend() const { return *be_; }
  // The same backend, shared: MAGVIT runs on it too so both use one stream and memory pool.
  const std::shared_ptr<Backend>& shared_backend() const { return be_; }

  // Logits [rows, cols] float32 for the requested rows and columns, in host memory.
  Tensor forward(const ForwardRequest& req) const;
  // The same, left in backend memory (no copy back; the samplers' device paths use this).
  Tensor forward_device(const ForwardRequest& req) const;

 private:
  void upload();
  // embedding + all blocks: x [B*L, D] (backend memory) from ids/mask in backend memory.
  void run_layers(const int64_t* ids, const uint8_t* mask, cpu::MaskMode mode, int64_t B,
                  int64_t L, float* x, Tensor* hidden_states) const;
  struct GraphCache;  // recorded layer stacks per (B, L, mask) on backends with graphs
  std::shared_ptr<GraphCache> graphs_;

  ModelConfig cfg_;
  Precision prec_ = Precision::F32;
  ModelWeights w_;   // host
  ModelWeights dw_;  // in backend memory (the same tensors on the CPU backend)
  std::shared_ptr<Backend> be_;
};

}  // namespace mmada
