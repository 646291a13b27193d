// The CPU backend: host memory, oneDNN GEMMs and the loops of ops.cc.
#include <cstring>

#include "backend/backend.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/t2i_draw.h"
#include "core/error.h"

namespace mmada {

namespace {

class CpuBackend : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  Tensor alloc(DType dtype, Shape shape) override { return Tensor::empty(dtype, std::move(shape)); }
  Tensor upload(const Tensor& host) override { return host; }
  void download(const void* src, void* dst, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(const void* src, void* dst, size_t bytes) override { std::memcpy(dst, src, bytes); }

  void embedding(const Tensor& table, const int64_t* ids, int64_t n, float* out) override {
    cpu::embedding(table, ids, n, out);
  }
  void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps) override {
    cpu::rmsnorm(x, w, y, rows, n, eps);
  }
  void linear(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t n1,
              float* y, int64_t ldy, bool accumulate) override {
    if (accumulate) {
      MMADA_CHECK(n0 == 0 && n1 == W.size(0) && ldy == W.size(0), "accumulating linear needs the whole weight");
      cpu::linear(x, M, K, W, y, true);
    } else {
      cpu::linear_rows(x, M, K, W, n0, n1, y, ldy);
    }
  }
  void rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, double theta,
            const int64_t* positions, int64_t n_positions) override {
    // One table per thread (forwards may run concurrently), rebuilt when the shape changes.
    thread_local cpu::RopeTable table;
    thread_local double table_theta = 0;
    const int64_t need = std::max(L, n_positions);
    if (table.L < need || table.d != d || table_theta != theta) {
      table = cpu::make_rope_table(std::max<int64_t>(need, 4096), d, theta);
      table_theta = theta;
    }
    cpu::apply_rope(x, B, L, heads, d, table, /*transpose=*/false, positions);
  }
  void attention(const float* q, const float* k, const float* v, float* out, int64_t B, int64_t L,
                 int64_t q0, int64_t Lq, int64_t n_heads, int64_t n_kv, int64_t d,
                 const uint8_t* mask, cpu::MaskMode mode, bool bf16) override {
    cpu::attention(q, k, v, out, B, L, q0, Lq, n_heads, n_kv, d, mask, mode, bf16);
  }
  void silu_gate(const float* gu, int64_t rows, int64_t F, float* out) override {
    cpu::silu_gate(gu, rows, F, out);
  }
  void copy_cols(const float* src, int64_t rows, int64_t ld, int64_t col0, int64_t n, float* dst) override {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(dst + r * n, src + r * ld + col0, size_t(n) * 4);
  }
  void gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t d, float* out) override {
    for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * d, x + rows[i] * d, size_t(d) * 4);
  }
  void pick_tokens(const float* logits, int64_t R, int64_t V, double t, uint64_t seed,
                   const uint64_t* streams, bool bf16_logits, int64_t* tokens, double* probs) override {
    const CounterRng rng{seed};
#pragma omp parallel for schedule(dynamic)
    for (int64_t r = 0; r < R; ++r) {
      const Pick p = pick_token(logits + r * V, V, t, rng, streams[r], bf16_logits);
      tokens[r] = p.token;
      probs[r] = p.prob;
    }
  }
  void t2i_draw(const float* cond, const float* uncond, int64_t R, int64_t C, double guidance,
                bool bf16, const int64_t* fixed, uint64_t seed, const uint64_t* streams,
                float* guided, int64_t* codes, float* probs) override {
    const CounterRng rng{seed};
#pragma omp parallel for schedule(dynamic)
    for (int64_t r = 0; r < R; ++r) {
      const t2i::Draw d = t2i::draw_row(cond + r * C, uncond ? uncond + r * C : nullptr, C, guidance,
                                        bf16, fixed ? fixed[r] : -1, rng, fixed ? 0 : streams[r],
                                        guided ? guided + r * C : nullptr);
      codes[r] = d.code;
      probs[r] = d.prob;
    }
  }
};

}  // namespace

std::shared_ptr<Backend> cpu_backend() {
  static std::shared_ptr<Backend> b = std::make_shared<CpuBackend>();
  return b;
}

GpuWeights gpu_weights_from_name(const std::string& s) {
  if (s == "bf16") return GpuWeights::BF16;
  if (s == "fp8") return GpuWeights::FP8;
  if (s == "fp8-all") return GpuWeights::FP8_ALL;
  fail("unknown --gpu-weights '", s, "' (use bf16, fp8 or fp8-all)");
}

std::string gpu_weights_name(GpuWeights w) {
  return w == GpuWeights::BF16 ? "bf16" : w == GpuWeights::FP8 ? "fp8" : "fp8-all";
}

std::shared_ptr<Backend> make_backend(const std::string& name, const BackendOptions& opt) {
  if (name == "cpu") {
    MMADA_CHECK(opt.weights == GpuWeights::BF16, "--gpu-weights ", gpu_weights_name(opt.weights),
                " needs a GPU with FP8 tensor cores (--backend cuda); on the CPU use a quantized "
                "checkpoint (mmada quantize --type q8|q4)");
    return cpu_backend();
  }
  if (name == "cuda") return cuda_backend(0, opt);
  if (name.rfind("cuda:", 0) == 0) {
    const std::string n = name.substr(5);
    MMADA_CHECK(!n.empty() && n.size() < 4 && n.find_first_not_of("0123456789") == std::string::npos,
                "unknown backend '", name, "' (use cpu or cuda[:N])");
    return cuda_backend(std::stoi(n), opt);
  }
  fail("unknown backend '", name, "' (use cpu or cuda[:N])");
}

}  // namespace mmada
