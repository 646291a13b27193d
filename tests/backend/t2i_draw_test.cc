// The CPU backend's text-to-image draw (Backend::t2i_draw, cpu/t2i_draw.h) against a plain
// float64 transcription of spec/sampling.md §4.2 / §4.6.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/t2i_draw.h"
#include "core/dtype.h"
#include "sample/rng.h"

namespace mmada {
namespace {

std::vector<float> random_logits(int64_t n, uint64_t stream, float scale) {
  const CounterRng rng{99};
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float((rng.uniform(stream, uint64_t(i)) * 2 - 1) * scale);
  return v;
}

// One row in float64. With bf16 it follows the reference model's bf16 tensors (spec §4.2): each
// guidance operation is a float32 operation rounded to bf16 (PyTorch's bf16 arithmetic), the
// softmax is exact and its result rounded to bf16.
std::vector<double> reference_probs(const float* c, const float* u, int64_t C, double g, bool bf16,
                                    std::vector<double>* guided) {
  auto bf = [&](double v) { return bf16 ? double(round_bf16(float(v))) : v; };
  auto guide = [&](float cj, float uj) {
    if (!bf16) return (1 + g) * cj - g * uj;
    volatile float a = float(1 + g) * cj, b = float(g) * uj;  // float32 products, no FMA
    volatile float d = round_bf16(a) - round_bf16(b);
    return bf(d);
  };
  std::vector<double> l(static_cast<size_t>(C)), p(static_cast<size_t>(C));
  double mx = -INFINITY;
  for (int64_t j = 0; j < C; ++j) {
    l[size_t(j)] = u ? guide(c[j], u[j]) : bf(c[j]);
    mx = std::max(mx, l[size_t(j)]);
  }
  double sum = 0;
  for (int64_t j = 0; j < C; ++j) sum += std::exp(l[size_t(j)] - mx);
  for (int64_t j = 0; j < C; ++j) p[size_t(j)] = bf(std::exp(l[size_t(j)] - mx) / sum);
  if (guided) *guided = l;
  return p;
}

struct DrawCase {
  bool cfg, bf16;
};
class T2iDrawVsFloat64 : public ::testing::TestWithParam<DrawCase> {};

TEST_P(T2iDrawVsFloat64, ProbabilitiesGuidedLogitsAndDraws) {
  const DrawCase k = GetParam();
  const int64_t R = 40, C = 700;
  const double g = 3.5;
  const std::vector<float> cond = random_logits(R * C, 1, 8.0f), uncond = random_logits(R * C, 2, 8.0f);
  Backend& be = *cpu_backend();
  std::vector<uint64_t> streams(static_cast<size_t>(R));
  std::vector<int64_t> fixed(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) streams[size_t(r)] = t2i::draw_stream(3, 0, r), fixed[size_t(r)] = (r * 131) % C;
  std::vector<int64_t> codes(static_cast<size_t>(R)), fcodes(static_cast<size_t>(R));
  std::vector<float> probs(static_cast<size_t>(R)), fprobs(static_cast<size_t>(R)),
      guided(static_cast<size_t>(R * C));
  const float* u = k.cfg ? uncond.data() : nullptr;
  be.t2i_draw(cond.data(), u, R, C, g, k.bf16, nullptr, 5, streams.data(), guided.data(), codes.data(), probs.data());
  be.t2i_draw(cond.data(), u, R, C, g, k.bf16, fixed.data(), 0, nullptr, nullptr, fcodes.data(), fprobs.data());

  // float32 against float64: the guided logits carry a few float32 ulp of |(1+g)c| + |g u| <= 64
  // (< 1e-5), the probabilities a few ulp (1e-5 relative). With bf16 the guided logits are the
  // same operations (exact match); a probability whose float32 and float64 values straddle a bf16
  // rounding boundary moves by one bf16 ulp (2^-7 relative), the bf16 tolerance.
  const double ltol = k.bf16 ? 0.0 : 1e-5, ptol = k.bf16 ? 1.0 / 128 : 1e-5;
  int64_t code_mismatch = 0;
  const CounterRng rng{5};
  for (int64_t r = 0; r < R; ++r) {
    std::vector<double> gl;
    const std::vector<double> p = reference_probs(&cond[size_t(r * C)], k.cfg ? &uncond[size_t(r * C)] : nullptr,
                                                  C, g, k.bf16, &gl);
    for (int64_t j = 0; j < C; ++j) ASSERT_NEAR(guided[size_t(r * C + j)], gl[size_t(j)], ltol) << r << "," << j;
    EXPECT_EQ(fcodes[size_t(r)], fixed[size_t(r)]);
    EXPECT_NEAR(fprobs[size_t(r)], p[size_t(fixed[size_t(r)])], ptol * p[size_t(fixed[size_t(r)])] + 1e-30);
    // Gumbel-max in float64 with the same counter-based uniforms.
    int64_t best = 0;
    double bk = -1;
    for (int64_t j = 0; j < C; ++j) {
      double uu = rng.uniform(streams[size_t(r)], uint64_t(j));
      if (uu <= 0) uu = 0x1p-53;
      const double key = p[size_t(j)] / -std::log(uu);
      if (key > bk) bk = key, best = j;
    }
    code_mismatch += codes[size_t(r)] != best;
    EXPECT_NEAR(probs[size_t(r)], p[size_t(codes[size_t(r)])], ptol * p[size_t(codes[size_t(r)])] + 1e-30);
  }
  // float32: no near-ties at this size, every draw agrees. bf16: a probability one bf16 ulp off
  // (above) can flip a close Gumbel-max race; allow one row in 40.
  EXPECT_LE(code_mismatch, k.bf16 ? 1 : 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, T2iDrawVsFloat64,
                         ::testing::Values(DrawCase{true, false}, DrawCase{false, false},
                                           DrawCase{true, true}, DrawCase{false, true}));

TEST(T2iDraw, SeededDrawsFollowTheProbabilities) {
  // 40000 slots with the same four logits: each code's frequency within 5 sigma of its
  // probability (sigma = sqrt(p(1-p)/n) <= 0.0025).
  const int64_t R = 40000, C = 4;
  const double want[C] = {0.1, 0.2, 0.3, 0.4};
  std::vector<float> l(static_cast<size_t>(R * C));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = 0; j < C; ++j) l[size_t(r * C + j)] = float(std::log(want[j]));
  std::vector<uint64_t> streams(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) streams[size_t(r)] = t2i::draw_stream(0, r / 1024, r % 1024);
  std::vector<int64_t> codes(static_cast<size_t>(R)), again(static_cast<size_t>(R));
  std::vector<float> probs(static_cast<size_t>(R));
  cpu_backend()->t2i_draw(l.data(), nullptr, R, C, 0, false, nullptr, 11, streams.data(), nullptr, codes.data(), probs.data());
  cpu_backend()->t2i_draw(l.data(), nullptr, R, C, 0, false, nullptr, 11, streams.data(), nullptr, again.data(), probs.data());
  EXPECT_EQ(codes, again);  // a seed fixes the draws
  double freq[C] = {};
  for (int64_t c : codes) freq[c] += 1.0 / double(R);
  for (int64_t j = 0; j < C; ++j) {
    const double sigma = std::sqrt(want[j] * (1 - want[j]) / double(R));
    EXPECT_NEAR(freq[j], want[j], 5 * sigma) << "code " << j;
  }
}

}  // namespace
}  // namespace mmada
