#include "backend/timing_backend.h"

#include <cctype>
#include <chrono>

namespace mmada {

template <typename F>
void TimingBackend::timed(const std::string& op, F f) {
  in_->sync();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  in_->sync();
  Stat& s = stats_[op];
  s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++s.calls;
}

void TimingBackend::embedding(const Tensor& t, const int64_t* ids, int64_t n, float* out) {
  timed("embedding", [&] { in_->embedding(t, ids, n, out); });
}
void TimingBackend::rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps) {
  timed("rmsnorm", [&] { in_->rmsnorm(x, w, y, rows, n, eps); });
}
void TimingBackend::linear(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                           int64_t n1, float* y, int64_t ldy, bool acc) {
  std::string type(dtype_name(W.dtype));  // bf16, f32, f8_e4m3, q8_0, ...
  for (char& ch : type) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  const std::string op = "linear " + std::to_string(n1 - n0) + "x" + std::to_string(K) + " " + type;
  timed(op, [&] { in_->linear(x, M, K, W, n0, n1, y, ldy, acc); });
}
void TimingBackend::rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, double theta,
                         const int64_t* positions, int64_t n_positions) {
  timed("rope", [&] { in_->rope(x, B, L, heads, d, theta, positions, n_positions); });
}
void TimingBackend::attention(const float* q, const float* k, const float* v, float* out, int64_t B,
                              int64_t L, int64_t q0, int64_t Lq, int64_t H, int64_t KV, int64_t d,
                              const uint8_t* mask, cpu::MaskMode mode, bool bf16) {
  timed(bf16 ? "attention bf16" : "attention f32",
        [&] { in_->attention(q, k, v, out, B, L, q0, Lq, H, KV, d, mask, mode, bf16); });
}
void TimingBackend::silu_gate(const float* gu, int64_t rows, int64_t F, float* out) {
  timed("silu_gate", [&] { in_->silu_gate(gu, rows, F, out); });
}
void TimingBackend::copy_cols(const float* src, int64_t rows, int64_t ld, int64_t col0, int64_t n, float* dst) {
  timed("copy_cols", [&] { in_->copy_cols(src, rows, ld, col0, n, dst); });
}
void TimingBackend::gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t d, float* out) {
  timed("gather_rows", [&] { in_->gather_rows(x, rows, n, d, out); });
}

void TimingBackend::pick_tokens(const float* logits, int64_t R, int64_t V, double t, uint64_t seed,
                                const uint64_t* streams, bool bf16_logits, int64_t* tokens, double* probs) {
  timed("pick_tokens", [&] { in_->pick_tokens(logits, R, V, t, seed, streams, bf16_logits, tokens, probs); });
}

void TimingBackend::t2i_draw(const float* cond, const float* uncond, int64_t R, int64_t C,
                             double guidance, bool bf16, const int64_t* fixed, uint64_t seed,
                             const uint64_t* streams, float* guided, int64_t* codes, float* probs) {
  timed("t2i_draw", [&] {
    in_->t2i_draw(cond, uncond, R, C, guidance, bf16, fixed, seed, streams, guided, codes, probs);
  });
}

}  // namespace mmada
