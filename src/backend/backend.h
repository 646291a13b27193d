// The small interface every compute backend implements. The transformer is written once
// against it (src/model/transformer.cc); backends differ only in where memory lives and how
// each op runs. Activations are float32 arrays in the backend's memory; weights are Tensors
// the backend uploaded (bf16 or f32).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "backend/cpu/ops.h"
#include "backend/cpu/pick.h"
#include "core/tensor.h"

namespace mmada {

// How a GPU backend holds the model's weight matrices (--gpu-weights). bf16: as loaded (the
// exact mode). fp8: the layers' matrices (q/k/v/o, gate/up/down) become E4M3 with one float32
// scale per tensor and each linear quantises its input to E4M3 with a per-call scale (FP8 tensor
// cores: Ada/Hopper and newer); the LM head stays bf16. fp8-all: the LM head too.
enum class GpuWeights { BF16, FP8, FP8_ALL };
GpuWeights gpu_weights_from_name(const std::string& s);  // throws mmada::Error on other names
std::string gpu_weights_name(GpuWeights w);

struct BackendOptions {
  GpuWeights weights = GpuWeights::BF16;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  // Memory. alloc() returns a zero-filled tensor in backend memory; upload() copies a host
  // tensor there (the CPU backend returns the tensor itself: weights stay memory-mapped).
  virtual Tensor alloc(DType dtype, Shape shape) = 0;
  virtual Tensor upload(const Tensor& host) = 0;
  virtual void download(const void* src, void* host_dst, size_t bytes) = 0;
  virtual void copy(const void* src, void* dst, size_t bytes) = 0;  // within the backend
  virtual void sync() {}
  // The device stream (a cudaStream_t) for libraries that enqueue work beside the backend's
  // own ops, such as cuDNN for MAGVIT's convolutions; null for host backends.
  virtual void* native_stream() { return nullptr; }
  // Device memory handed out by alloc()/upload(): now, the most since reset_memory_peak(), and
  // what the backend holds from the driver (its caching pool). All zero on the CPU.
  struct MemoryStats {
    size_t in_use = 0, peak = 0, reserved = 0;
  };
  virtual MemoryStats memory_stats() const { return {}; }
  virtual void reset_memory_peak() {}

  // Ops, in the order the forward uses them. Shapes as in spec/model.md §4.
  // out[r,:] = table[ids[r],:]; ids is backend memory.
  virtual void embedding(const Tensor& table, const int64_t* ids, int64_t n, float* out) = 0;
  virtual void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps) = 0;
  // y[M, n1-n0] (ld ldy) = x[M,K] · W[n0:n1, :]ᵀ (+ y if accumulate).
  virtual void linear(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                      int64_t n1, float* y, int64_t ldy, bool accumulate) = 0;
  // Half-rotation RoPE in place on x [B*L, heads*d]. Row r's position is positions[r] (backend
  // memory [B*L], every value < n_positions) or, with positions null, r % L.
  virtual void rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, double theta,
                    const int64_t* positions, int64_t n_positions) = 0;
  // Attention of the queries at positions [q0, q0 + Lq) of each row against the keys and values
  // of the whole row (cpu/ops.h): q, out [B*Lq, n_heads*d]; k, v [B*L, n_kv*d]; token_mask [B*L]
  // (backend memory). The full forward passes q0 = 0, Lq = L; a KV-cached step passes its span.
  virtual void attention(const float* q, const float* k, const float* v, float* out, int64_t B,
                         int64_t L, int64_t q0, int64_t Lq, int64_t n_heads, int64_t n_kv,
                         int64_t d, const uint8_t* token_mask, cpu::MaskMode mode, bool bf16) = 0;
  // out[r, i] = silu(gu[r, i]) · gu[r, F + i]: the gate and up projections side by side.
  virtual void silu_gate(const float* gu, int64_t rows, int64_t F, float* out) = 0;
  // dst[r, :] = src[r, col0 : col0 + ncols] (src row stride src_ld, dst contiguous).
  virtual void copy_cols(const float* src, int64_t rows, int64_t src_ld, int64_t col0,
                         int64_t ncols, float* dst) = 0;
  // The form linear() takes a weight matrix in, made once when a model is uploaded: w is backend
  // memory [N, K] as upload() made it (or a fused stack of such); lm_head says whether it is the
  // LM head. Default: w itself. The CUDA backend with --gpu-weights fp8 returns an F8_E4M3
  // tensor whose float32 scale follows its N·K bytes in the same allocation (see cuda_backend.cu).
  virtual Tensor linear_weight(Tensor w, bool lm_head) {
    (void)lm_head;
    return w;
  }
  // Whether the forward should fuse q/k/v and gate/up weights into single GEMMs (worth it where
  // launches are dear and weights can be re-laid out at upload: the GPU).
  virtual bool fuse_projections() const { return false; }

  // Graph capture of a stream of ops (CUDA graphs): between capture_begin and capture_end
  // nothing runs; the ops are recorded, every tensor alloc'd meanwhile is kept alive by the
  // graph, and graph_launch replays them. Backends without graphs return null/false.
  virtual bool supports_graphs() const { return false; }
  virtual void capture_begin() {}
  virtual std::shared_ptr<void> capture_end() { return nullptr; }
  virtual void graph_launch(const std::shared_ptr<void>&) {}
  // Host -> backend copy into an existing tensor (stream-ordered).
  virtual void upload_into(void* dst, const void* host, size_t bytes) { copy(host, dst, bytes); }
  // out[i,:] = x[rows[i],:] for i < n (rows in backend memory), width d.
  virtual void gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t d, float* out) = 0;

  // The text sampler's choice for each of R logits rows (backend memory [R, V]): token and
  // confidence as cpu/pick.h defines them; streams[r] keys row r's Gumbel draws. Outputs and
  // streams are host memory: only 16 bytes per row cross back.
  virtual void pick_tokens(const float* logits, int64_t R, int64_t V, double temperature,
                           uint64_t seed, const uint64_t* streams, bool bf16_logits,
                           int64_t* tokens, double* probs) = 0;

  // The text-to-image draw of R slots (cpu/t2i_draw.h): cond and uncond are [R, C] image-code
  // logits in backend memory (uncond null without guidance). fixed (host [R]) gives the codes to
  // take (replay), or is null and streams (host [R]) key each slot's Gumbel-max draw under `seed`.
  // guided: backend memory [R, C] receiving the guided logits, or null. codes and probs are host
  // memory: 12 bytes per slot cross back.
  virtual void t2i_draw(const float* cond, const float* uncond, int64_t R, int64_t C,
                        double guidance, bool bf16, const int64_t* fixed, uint64_t seed,
                        const uint64_t* streams, float* guided, int64_t* codes, float* probs) = 0;
};

std::shared_ptr<Backend> cpu_backend();
// The CUDA backend on GPU `device` (one per device and options); throws mmada::Error in a build
// without CUDA, or for fp8 weights on a GPU without FP8 tensor cores.
std::shared_ptr<Backend> cuda_backend(int device = 0, const BackendOptions& opt = {});
bool cuda_available();
// "cpu" or "cuda[:N]". The CPU backend takes only bf16 weights here (its 8/4-bit formats come
// from quantized checkpoints: docs/quantization.md) and refuses fp8 with an error.
std::shared_ptr<Backend> make_backend(const std::string& name, const BackendOptions& opt = {});

}  // namespace mmada
