// UniGRPO core: the ratio schedules, structured masking, group advantages, the clipped objective
// and KL against hand computations, and the model-side gradient against finite differences.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "model/transformer.h"
#include "tiny_model.h"
#include "train/finite_differences.h"
#include "train/train_model.h"
#include "train/unigrpo.h"
#include "train/unigrpo_step.h"

namespace mmada::train {
namespace {

TEST(UniGrpoSchedule, PaperSpacedTimestepsAreExactIntegers) {
  // unigrpo.md §11 test (4): µ = 4, r1 = 0.31 -> 310, 540, 770, 1000; µ = 5, t1 = 100.
  EXPECT_EQ(spaced_timesteps(0.31, 1000, 4), (std::vector<int64_t>{310, 540, 770, 1000}));
  EXPECT_EQ(spaced_timesteps(0.1, 1000, 5), (std::vector<int64_t>{100, 325, 550, 775, 1000}));
  EXPECT_EQ(spaced_timesteps(0.5, 1000, 1), (std::vector<int64_t>{500}));  // µ = 1 guarded
  EXPECT_EQ(spaced_timesteps(0.0, 10, 3), (std::vector<int64_t>{0, 5, 10}));
}

TEST(UniGrpoSchedule, RatiosPerSchedule) {
  const CounterRng rng{3};
  UniGrpoConfig c;
  c.mu = 4;
  // Paper: one r1 per RL step shared by all responses; increasing; the last step masks all.
  for (int64_t step = 0; step < 5; ++step) {
    double prev = -1;
    for (int64_t n = 0; n < 4; ++n) {
      const double r = mask_ratio(c, rng, step, n, 0);
      EXPECT_EQ(r, mask_ratio(c, rng, step, n, 7));
      EXPECT_GE(r, prev);
      prev = r;
    }
    EXPECT_EQ(prev, 1.0);
  }
  EXPECT_NE(mask_ratio(c, rng, 0, 0, 0), mask_ratio(c, rng, 1, 0, 0));
  c.schedule = RatioSchedule::Full;
  EXPECT_EQ(mask_ratio(c, rng, 2, 1, 3), 1.0);
  c.schedule = RatioSchedule::IidUniform;
  c.iid_lo = 0.1;
  c.iid_hi = 0.9;
  bool differs = false;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t i = 0; i < 8; ++i) {
      const double r = mask_ratio(c, rng, 0, n, i);
      EXPECT_GE(r, 0.1);
      EXPECT_LE(r, 0.9);
      differs |= r != mask_ratio(c, rng, 0, n, 0);
    }
  EXPECT_TRUE(differs);  // independent per response and step
}

TEST(UniGrpoMasking, PromptNeverMaskedTailAlwaysMasked) {
  const std::vector<int64_t> prompt = {1, 2, 3}, resp = {10, 11, 12, 13, 99, 98, 98, 98};
  const std::vector<int64_t> ends = {98, 99};
  EXPECT_EQ(eligible_length(resp, ends, 0), 4);
  EXPECT_EQ(eligible_length(resp, ends, 1), 5);
  EXPECT_EQ(eligible_length(resp, ends, 10), 8);
  EXPECT_EQ(eligible_length({5, 6}, ends, 1), 2);  // no end token: all content
  const CounterRng rng{1};
  for (double ratio : {0.0, 0.3, 0.7, 1.0})
    for (MaskSampling ms : {MaskSampling::Bernoulli, MaskSampling::ExactCount}) {
      const MaskedRow r = mask_response(prompt, resp, 5, ratio, ms, 77, rng, 42);
      ASSERT_EQ(r.ids.size(), 11u);
      for (int i = 0; i < 3; ++i) EXPECT_EQ(r.ids[size_t(i)], prompt[size_t(i)]);
      for (int i = 8; i < 11; ++i) EXPECT_EQ(r.ids[size_t(i)], 77);  // tail pads
      EXPECT_GE(r.positions.size(), 1u);  // at least one token
      for (size_t k = 0; k < r.positions.size(); ++k) {
        EXPECT_GE(r.positions[k], 3);
        EXPECT_LT(r.positions[k], 8);
        EXPECT_EQ(r.ids[size_t(r.positions[k])], 77);
        EXPECT_EQ(r.labels[k], resp[size_t(r.positions[k] - 3)]);
      }
      if (ratio == 0.0) {
        EXPECT_EQ(r.positions.size(), 1u);
      }
      if (ratio == 1.0) {
        EXPECT_EQ(r.positions.size(), 5u);
      }
      if (ms == MaskSampling::ExactCount && ratio == 0.3) {
        EXPECT_EQ(r.positions.size(), 2u);  // round(1.5)
      }
    }
  EXPECT_TRUE(mask_response(prompt, resp, 0, 1.0, MaskSampling::Bernoulli, 77, rng, 1).positions.empty());
}

TEST(UniGrpoAdvantage, ZScoresWithPopulationStd) {
  const std::vector<double> a = group_advantages({2.5, 0.5, 0.5, 2.5});
  ASSERT_EQ(a.size(), 4u);
  EXPECT_DOUBLE_EQ(a[0], 1.0);  // mean 1.5, population std 1.0
  EXPECT_DOUBLE_EQ(a[1], -1.0);
  const std::vector<double> b = group_advantages({0.0, 1.0, 2.0});
  EXPECT_NEAR(b[0], -std::sqrt(1.5), 1e-15);  // std = sqrt(2/3)
  EXPECT_NEAR(b[2], std::sqrt(1.5), 1e-15);
}

TEST(UniGrpoAdvantage, AllEqualGroupsGiveZeroNeverNaN) {
  for (const std::vector<double>& r : {std::vector<double>{2.5, 2.5, 2.5}, {0.0, 0.0},
                                       {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, {1e300, 1e300}})
    for (double v : group_advantages(r)) EXPECT_EQ(v, 0.0);
  // Round-off-level spread is not an advantage either.
  for (double v : group_advantages({0.3, 0.1 + 0.2, 0.3})) EXPECT_EQ(v, 0.0);
  EXPECT_TRUE(group_advantages({}).empty());
}

TEST(UniGrpoObjective, ClippedRatioAndKlMatchHandComputation) {
  // Row 1 (A = +1): ρ = 0.5/0.4 = 1.25 (clip binds at 1.2, no gradient), ρ = 0.2/0.25 = 0.8
  // (at the lower bound, unclipped branch). Row 2 (A = −1): ρ = 0.5, min picks −0.8 (clipped).
  // k3 KL: only row 1's second token differs from the reference: δ = ln 2, e^{−δ} − 1 + δ.
  UniGrpoConfig c;
  c.clip_eps = 0.2;
  c.beta = 0.1;
  std::vector<ResponseTokens> rows(2);
  rows[0] = {{std::log(0.5), std::log(0.2)}, {std::log(0.4), std::log(0.25)},
             {std::log(0.5), std::log(0.1)}, 1.0, 7};
  rows[1] = {{std::log(0.3)}, {std::log(0.6)}, {std::log(0.3)}, -1.0, 3};
  const double k3 = 0.5 - 1 + std::log(2.0);
  ObjectiveSums s;
  std::vector<double> dl;
  unigrpo_objective(rows, 2, c, s, dl);
  // masked_count: N = 2 and 1; B = 2.
  EXPECT_NEAR(s.loss, -0.5 * (0.5 * (1.2 + 0.8 - 0.1 * k3) + (-0.8)), 1e-12);
  EXPECT_EQ(s.tokens, 3);
  EXPECT_EQ(s.clipped, 2);
  EXPECT_NEAR(s.kl, k3, 1e-12);
  ASSERT_EQ(dl.size(), 3u);
  EXPECT_NEAR(dl[0], 0.0, 1e-15);                             // clipped, δ = 0
  EXPECT_NEAR(dl[1], -0.25 * 0.8 + 0.1 * 0.25 * 0.5, 1e-12);  // ρA/(BN), k3' = 1 − e^{−δ}
  EXPECT_NEAR(dl[2], 0.0, 1e-15);

  // response_length normaliser (|o| = 7 and 3) and dLLM-RL's summed KL.
  c.token_norm = TokenNorm::ResponseLength;
  c.kl_aggregation = KlAggregation::Sum;
  ObjectiveSums s2;
  unigrpo_objective(rows, 2, c, s2, dl);
  EXPECT_NEAR(s2.loss, -0.5 * ((1.2 + 0.8) / 7 - 0.8 / 3) + 0.1 * k3 / 2, 1e-12);
}

TEST(UniGrpoObjective, KlEstimators) {
  const double a = std::log(0.2), b = std::log(0.1), d = std::log(2.0);
  EXPECT_NEAR(kl_term(a, b, KlEstimator::K1).value, d, 1e-15);
  EXPECT_NEAR(kl_term(a, b, KlEstimator::K2).value, 0.5 * d * d, 1e-15);
  EXPECT_NEAR(kl_term(a, b, KlEstimator::K2).dvalue, d, 1e-15);
  EXPECT_NEAR(kl_term(a, b, KlEstimator::K3).value, 0.5 - 1 + d, 1e-15);
  // The clamp: k3 at δ = −12 is e^12 − 13 ≈ 162742; clamped to 10 with no gradient; values
  // below the bound are untouched.
  const KlTerm far = kl_term(-20.0, -8.0, KlEstimator::K3, 10.0);
  EXPECT_EQ(far.value, 10.0);
  EXPECT_EQ(far.dvalue, 0.0);
  EXPECT_NEAR(kl_term(a, b, KlEstimator::K3, 10.0).value, 0.5 - 1 + d, 1e-15);
  EXPECT_EQ(kl_term(-20.0, -8.0, KlEstimator::K1, 10.0).value, -10.0);
  // θ = θ_ref: k2 and k3 and their gradients vanish (§11 test 3).
  for (KlEstimator e : {KlEstimator::K2, KlEstimator::K3}) {
    EXPECT_EQ(kl_term(a, a, e).value, 0.0);
    EXPECT_EQ(kl_term(a, a, e).dvalue, 0.0);
  }
}

TEST(UniGrpoObjective, FirstInnerStepIsAdvantageWeightedLikelihood) {
  // θ = θ_old: ρ = 1 everywhere, so d loss / d ℓ = −A / (B·N) (§11 test 1); with all advantages
  // zero and β = 0 the step does nothing (§11 test 2).
  UniGrpoConfig c;
  c.beta = 0;
  std::vector<ResponseTokens> rows(2);
  rows[0] = {{-1.0, -2.0, -0.5}, {-1.0, -2.0, -0.5}, {}, 0.7, 3};
  rows[1] = {{-3.0}, {-3.0}, {}, -0.7, 1};
  ObjectiveSums s;
  std::vector<double> dl;
  unigrpo_objective(rows, 2, c, s, dl);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(dl[size_t(k)], -0.7 / (2 * 3), 1e-15);
  EXPECT_NEAR(dl[3], 0.7 / 2, 1e-15);
  EXPECT_EQ(s.clipped, 0);
  rows[0].advantage = rows[1].advantage = 0;
  ObjectiveSums z;
  unigrpo_objective(rows, 2, c, z, dl);
  EXPECT_EQ(z.loss, 0.0);
  for (double v : dl) EXPECT_EQ(v, 0.0);
}

// The whole update through the transformer: float64 analytic gradient of the UniGRPO loss
// against central differences (step 1e-5; tolerance 1e-6 relative as in grad_check_test). The
// old/ref log-probabilities are offset from θ's so that ratios sit on both branches of the clip
// (away from its kinks) and the KL is non-zero.
TEST(UniGrpoGradCheck, LossGradientMatchesFiniteDifferences) {
  const ModelConfig cfg = test::tiny_model_config({8, 2, 1, 1, 12, 11});  // [MASK] 10
  Transformer t = Transformer::random(cfg, Precision::F32, 11);
  ModelWeights w = cast_weights(cfg, t.weights(), DType::F64);
  const std::vector<int64_t> prompt = {1, 4, 2};
  const CounterRng rng{5};
  std::vector<MaskedRow> rows = {
      mask_response(prompt, {3, 5, 7, 9, 9}, 4, 0.6, MaskSampling::ExactCount, 10, rng, 1),
      mask_response(prompt, {6, 2, 9, 9, 9}, 3, 1.0, MaskSampling::ExactCount, 10, rng, 2)};
  UniGrpoConfig c;
  c.beta = 0.3;
  const std::vector<double> l0 = masked_logprobs<double>(cfg, w, rows, "test");
  ASSERT_EQ(l0.size(), 5u);  // 2 + 3 masked tokens
  const std::vector<double> off_old = {0.1, -0.4, 0.05, 0.4, -0.02}, off_ref = {0.2, -0.1, 0.3, 0, 0.5};
  std::vector<double> l_old(5), l_ref(5);
  for (size_t k = 0; k < 5; ++k) {
    l_old[k] = l0[k] + off_old[k];
    l_ref[k] = l0[k] + off_ref[k];
  }
  auto tokens = [] {
    std::vector<ResponseTokens> rt(2);
    rt[0].advantage = 1.3;
    rt[0].response_length = 4;
    rt[1].advantage = -0.6;
    rt[1].response_length = 3;
    return rt;
  };
  auto loss_at = [&] {
    const std::vector<double> l = masked_logprobs<double>(cfg, w, rows, "test");
    std::vector<ResponseTokens> rt = tokens();
    rt[0].l.assign(l.begin(), l.begin() + 2);
    rt[0].l_old.assign(l_old.begin(), l_old.begin() + 2);
    rt[0].l_ref.assign(l_ref.begin(), l_ref.begin() + 2);
    rt[1].l.assign(l.begin() + 2, l.end());
    rt[1].l_old.assign(l_old.begin() + 2, l_old.end());
    rt[1].l_ref.assign(l_ref.begin() + 2, l_ref.end());
    ObjectiveSums s;
    std::vector<double> dl;
    unigrpo_objective(rt, 3, c, s, dl);
    return s.loss;
  };
  ModelWeights g = zero_weights(cfg, DType::F64);
  std::vector<ResponseTokens> rt = tokens();
  const ObjectiveSums s = unigrpo_group_backward<double>(cfg, w, rows, l_old, l_ref, rt, 3, c, g, "test");
  EXPECT_NEAR(s.loss, loss_at(), 1e-14);
  EXPECT_GT(s.clipped, 0);                  // the clip binds somewhere...
  EXPECT_LT(s.clipped, s.tokens);           // ...but not everywhere
  std::vector<TensorSlot> ws, gs;
  for_each_tensor(cfg, w, [&](const TensorSlot& x) { ws.push_back(x); });
  for_each_tensor(cfg, g, [&](const TensorSlot& x) { gs.push_back(x); });
  double worst = 0;
  for (size_t ti = 0; ti < ws.size(); ++ti) {
    const size_t n = size_t(ws[ti].tensor->numel());
    worst = std::max(worst, test::check(ws[ti].tensor->ptr<double>(), n, loss_at, gs[ti].tensor->ptr<double>(),
                                        test::sampled_entries(n, 48, 5)));
  }
  EXPECT_LT(worst, 1e-6);
}

// unigrpo.group_masks: two identical responses with opposite advantages. Masked with the same
// draws (common random numbers) their rows are identical, so the first update's gradient
// cancels (to float64 rounding); masked with a draw each, the same pair pushes the weights (the noise that
// group_masks removes where a group's responses agree).
TEST(UniGrpoGradCheck, IdenticalResponsesCancelOnlyWithGroupMasks) {
  const ModelConfig cfg = test::tiny_model_config({8, 2, 1, 1, 12, 11});  // [MASK] 10
  Transformer t = Transformer::random(cfg, Precision::F32, 11);
  const ModelWeights w = cast_weights(cfg, t.weights(), DType::F64);
  const std::vector<int64_t> prompt = {1, 4, 2}, response = {3, 5, 7, 6, 2, 9, 9};
  const CounterRng rng{5};
  UniGrpoConfig c;
  c.beta = 0;
  auto largest_gradient = [&](uint64_t stream_a, uint64_t stream_b) {
    const std::vector<MaskedRow> rows = {
        mask_response(prompt, response, 6, 0.5, MaskSampling::Bernoulli, 10, rng, stream_a),
        mask_response(prompt, response, 6, 0.5, MaskSampling::Bernoulli, 10, rng, stream_b)};
    const std::vector<double> l = masked_logprobs<double>(cfg, w, rows, "test");  // θ_old = θ
    std::vector<ResponseTokens> rt(2);
    rt[0].advantage = 1;
    rt[1].advantage = -1;
    rt[0].response_length = rt[1].response_length = 6;
    ModelWeights g = zero_weights(cfg, DType::F64);
    unigrpo_group_backward<double>(cfg, w, rows, l, {}, rt, 2, c, g, "test");
    double largest = 0;
    for_each_tensor(cfg, g, [&](const TensorSlot& x) {
      for (int64_t k = 0; k < x.tensor->numel(); ++k)
        largest = std::max(largest, std::abs(x.tensor->ptr<double>()[k]));
    });
    return largest;
  };
  const double own = largest_gradient(1, 2), shared = largest_gradient(1, 1);
  EXPECT_GT(own, 1e-3);
  EXPECT_LT(shared, 1e-12 * own);  // zero up to the order of float64 sums
}

TEST(UniGrpoGradCheck, NonFiniteLogProbabilityStopsNamingTheContext) {
  const ModelConfig cfg = test::tiny_model_config({8, 2, 2, 1, 8, 11});  // [MASK] 10
  Transformer t = Transformer::random(cfg, Precision::F32, 1);
  ModelWeights w = cast_weights(cfg, t.weights(), DType::F32);
  w.head.ptr<float>()[0] = std::nanf("");
  const CounterRng rng{1};
  const std::vector<MaskedRow> rows = {
      mask_response({1, 2}, {3, 0, 5}, 3, 1.0, MaskSampling::Bernoulli, 10, rng, 1)};
  try {
    masked_logprobs<float>(cfg, w, rows, "RL step 3, prompt \"2+3\"");
    ADD_FAILURE() << "NaN accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RL step 3, prompt \"2+3\": non-finite log-probability"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmada::train
