// A Backend that forwards every call to another and times it (synchronising after each op),
// for `mmada bench forward --profile`: where does a forward's time go, op by op.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "backend/backend.h"

namespace mmada {

class TimingBackend : public Backend {
 public:
  explicit TimingBackend(std::shared_ptr<Backend> inner) : in_(std::move(inner)) {}
  struct Stat {
    double seconds = 0;
    long calls = 0;
  };
  const std::map<std::string, Stat>& stats() const { return stats_; }
  void reset() { stats_.clear(); }

  std::string name() const override { return in_->name() + " (timed)"; }
  Tensor alloc(DType dt, Shape s) override { return in_->alloc(dt, std::move(s)); }
  Tensor upload(const Tensor& h) override { return in_->upload(h); }
  void download(const void* s, void* d, size_t n) override { in_->download(s, d, n); }
  void copy(const void* s, void* d, size_t n) override { in_->copy(s, d, n); }
  void sync() override { in_->sync(); }
  void* native_stream() override { return in_->native_stream(); }
  MemoryStats memory_stats() const override { return in_->memory_stats(); }
  void reset_memory_peak() override { in_->reset_memory_peak(); }

  void embedding(const Tensor& t, const int64_t* ids, int64_t n, float* out) override;
  void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps) override;
  void linear(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t n1,
              float* y, int64_t ldy, bool accumulate) override;
  void rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, double theta,
            const int64_t* positions, int64_t n_positions) override;
  void attention(const float* q, const float* k, const float* v, float* out, int64_t B, int64_t L,
                 int64_t q0, int64_t Lq, int64_t H, int64_t KV, int64_t d, const uint8_t* mask,
                 cpu::MaskMode mode, bool bf16) override;
  void silu_gate(const float* gu, int64_t rows, int64_t F, float* out) override;
  void copy_cols(const float* src, int64_t rows, int64_t ld, int64_t col0, int64_t n, float* dst) override;
  bool fuse_projections() const override { return in_->fuse_projections(); }
  Tensor linear_weight(Tensor w, bool lm_head) override { return in_->linear_weight(std::move(w), lm_head); }
  void gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t d, float* out) override;
  void pick_tokens(const float* logits, int64_t R, int64_t V, double t, uint64_t seed,
                   const uint64_t* streams, bool bf16_logits, int64_t* tokens, double* probs) override;
  void t2i_draw(const float* cond, const float* uncond, int64_t R, int64_t C, double guidance,
                bool bf16, const int64_t* fixed, uint64_t seed, const uint64_t* streams,
                float* guided, int64_t* codes, float* probs) override;

 private:
  template <typename F>
  void timed(const std::string& op, F f);
  std::shared_ptr<Backend> in_;
  std::map<std::string, Stat> stats_;
};

}  // namespace mmada
