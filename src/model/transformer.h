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

// Keys and values (after RoPE) of every layer for a [B, L] canvas, kept in backend memory between
// forwards: the approximate cache of block diffusion decoding (docs/fast-decoding.md). Made by
// Transformer::new_kv_cache, filled by a forward over whole rows, read by forwards over a span
// (ForwardRequest::kv). Released buffers go back to the transformer for the next cache of the
// same shape, with the graphs recorded against them (no re-recording per generation).
class KvCache {
 public:
  struct Storage {
    int64_t B = 0, L = 0;
    uint64_t id = 0;             // never reused: keys the recorded graphs that write into k/v
    std::vector<Tensor> k, v;    // per layer [B*L, kv_dim] float32, backend memory
  };
  KvCache() = default;
  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;
  int64_t batch() const { return s_ ? s_->B : 0; }
  int64_t length() const { return s_ ? s_->L : 0; }
  bool filled() const { return filled_; }

 private:
  friend class Transformer;
  std::shared_ptr<Storage> s_;     // the lease: returns the storage to the pool when released
  std::weak_ptr<Storage> owner_;   // the storage itself: graphs of a dropped storage are dropped
  bool filled_ = false;
};

struct ForwardRequest {
  const int64_t* ids = nullptr;           // [B, L]
  int64_t B = 1, L = 0;
  const uint8_t* token_mask = nullptr;    // [B, L], 1 = real token; null = no padding
  cpu::MaskMode mask_mode = cpu::MaskMode::Pair;
  // [B, L] RoPE positions (>= 0, below the model's max sequence length); null = the index in
  // the row. Lets a caller drop padding and keep the real tokens' positions (model/packing.h).
  // With a KV cache, a slot's position must be the same on the refresh and the span steps.
  const int64_t* positions = nullptr;
  // Rows (b*L + i) whose logits are wanted; empty = all B*L rows.
  std::vector<int64_t> rows;
  // Vocabulary columns [col_begin, col_end) of the head; col_end < 0 = to the end.
  int64_t col_begin = 0, col_end = -1;
  // If set, receives [n_layers+1, B, L, d]: the input of each block, then the output of ln_f.
  Tensor* hidden_states = nullptr;
  // Approximate KV cache (docs/fast-decoding.md). With kv, positions [span_begin, span_end) of
  // each row are run (default: the whole row) and every layer's keys and values of those
  // positions are written into *kv; a whole-row run refreshes the cache. A narrower span needs a
  // filled cache of the same [B, L]: its queries see the cached keys/values outside the span and
  // the fresh ones inside it. ids stays the whole [B, L] canvas; rows must lie in the span.
  KvCache* kv = nullptr;
  int64_t span_begin = 0, span_end = -1;
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
  // An empty KV cache for [B, L] canvases (2 · layers · B · L · kv_dim floats of backend memory).
  KvCache new_kv_cache(int64_t B, int64_t L) const;

 private:
  void upload();
  // embedding + all blocks: x [B*L, D] (backend memory) from ids/mask in backend memory.
  // positions: backend memory [B*L] or null; n_pos bounds them (the RoPE table's length).
  // With kv, the B*L rows are positions [q0, q0 + L) of canvases of kv->length() positions: their
  // keys/values go into the cache and attention reads whole cached rows (mask is [B, kv->length()]).
  void run_layers(const int64_t* ids, const uint8_t* mask, cpu::MaskMode mode,
                  const int64_t* positions, int64_t n_pos, int64_t B, int64_t L, float* x,
                  Tensor* hidden_states, KvCache* kv = nullptr, int64_t q0 = 0) const;
  struct GraphCache;  // recorded layer stacks per (B, L, mask, positions, KV cache span) on backends with graphs
  std::shared_ptr<GraphCache> graphs_;
  struct KvPool;  // released KV cache buffers, by shape
  std::shared_ptr<KvPool> kv_pool_;

  ModelConfig cfg_;
  Precision prec_ = Precision::F32;
  ModelWeights w_;   // host
  ModelWeights dw_;  // in backend memory (the same tensors on the CPU backend)
  std::shared_ptr<Backend> be_;
};

}  // namespace mmada
