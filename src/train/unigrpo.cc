#include "train/unigrpo.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace mmada::train {

namespace {
// Counter-RNG streams of the ratio draws (the mask draws use the caller's streams).
constexpr uint64_t kStreamSpacedR1 = 0x5A11000000000000ull;
constexpr uint64_t kStreamIidRatio = 0x5A12000000000000ull;
}  // namespace

std::vector<int64_t> spaced_timesteps(double r1, int64_t T, int64_t mu) {
  MMADA_CHECK(T >= 1 && mu >= 1 && r1 >= 0 && r1 < 1, "spaced_timesteps: bad arguments");
  const int64_t t1 = static_cast<int64_t>(std::floor(r1 * double(T)));
  std::vector<int64_t> t = {t1};
  for (int64_t n = 1; n < mu; ++n) t.push_back(t1 + (n * (T - t1)) / (mu - 1));
  return t;
}

double mask_ratio(const UniGrpoConfig& c, const CounterRng& rng, int64_t rl_step, int64_t n,
                  int64_t response) {
  switch (c.schedule) {
    case RatioSchedule::Full:
      return 1.0;
    case RatioSchedule::IidUniform:
      return c.iid_lo + (c.iid_hi - c.iid_lo) *
                            rng.uniform(kStreamIidRatio + uint64_t(rl_step),
                                        (uint64_t(n) << 32) + uint64_t(response));
    case RatioSchedule::PaperSpaced: {
      const double r1 = rng.uniform(kStreamSpacedR1 + uint64_t(rl_step), 0);
      return double(spaced_timesteps(r1, c.timesteps, c.mu)[size_t(n)]) / double(c.timesteps);
    }
  }
  return 1.0;
}

int64_t eligible_length(const std::vector<int64_t>& response, const std::vector<int64_t>& end_ids,
                        int64_t post_num) {
  const int64_t n = int64_t(response.size());
  int64_t first_end = n;
  for (int64_t j = 0; j < n && first_end == n; ++j)
    if (std::find(end_ids.begin(), end_ids.end(), response[size_t(j)]) != end_ids.end())
      first_end = j;
  return std::min(n, first_end + post_num);
}

MaskedRow mask_response(const std::vector<int64_t>& prompt, const std::vector<int64_t>& response,
                        int64_t eligible, double ratio, MaskSampling sampling, int64_t mask_id,
                        const CounterRng& rng, uint64_t stream) {
  const int64_t P = int64_t(prompt.size()), n = int64_t(response.size());
  MMADA_CHECK(eligible >= 0 && eligible <= n && ratio >= 0 && ratio <= 1,
              "mask_response: bad eligible length or ratio");
  MaskedRow row;
  row.ids = prompt;
  row.ids.insert(row.ids.end(), response.begin(), response.end());
  for (int64_t j = eligible; j < n; ++j) row.ids[size_t(P + j)] = mask_id;  // tail pads
  if (eligible == 0) return row;
  std::vector<double> u(static_cast<size_t>(eligible));
  for (int64_t j = 0; j < eligible; ++j) u[size_t(j)] = rng.uniform(stream, uint64_t(j));
  std::vector<uint8_t> masked(static_cast<size_t>(eligible), 0);
  if (sampling == MaskSampling::Bernoulli) {
    bool any = false;
    for (int64_t j = 0; j < eligible; ++j) any |= (masked[size_t(j)] = u[size_t(j)] < ratio) != 0;
    if (!any) masked[size_t(std::min_element(u.begin(), u.end()) - u.begin())] = 1;
  } else {
    const int64_t count =
        std::clamp<int64_t>(std::llround(ratio * double(eligible)), 1, eligible);
    std::vector<int64_t> order(static_cast<size_t>(eligible));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return u[size_t(a)] < u[size_t(b)]; });
    for (int64_t k = 0; k < count; ++k) masked[size_t(order[size_t(k)])] = 1;
  }
  for (int64_t j = 0; j < eligible; ++j)
    if (masked[size_t(j)]) {
      row.positions.push_back(P + j);
      row.labels.push_back(response[size_t(j)]);
      row.ids[size_t(P + j)] = mask_id;
    }
  return row;
}

std::vector<double> group_advantages(const std::vector<double>& r) {
  std::vector<double> a(r.size(), 0.0);
  if (r.empty() || std::all_of(r.begin(), r.end(), [&](double v) { return v == r[0]; })) return a;
  double mean = 0, scale = 0;
  for (double v : r) {
    mean += v;
    scale = std::max(scale, std::fabs(v));
  }
  mean /= double(r.size());
  double var = 0;
  for (double v : r) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / double(r.size()));  // population std, as dLLM-RL
  if (!(sd > 1e-12 * std::max(1.0, scale))) return a;
  for (size_t i = 0; i < r.size(); ++i) a[i] = (r[i] - mean) / sd;
  return a;
}

PolicyTerm policy_term(double l, double l_old, double A, double eps) {
  const double rho = std::exp(l - l_old);
  const double plain = rho * A, clipped = std::clamp(rho, 1 - eps, 1 + eps) * A;
  PolicyTerm t;
  if (plain <= clipped) {  // torch.min: ties take the unclipped branch (same value, ρA gradient)
    t.value = plain;
    t.dvalue = rho * A;
  } else {
    t.value = clipped;
    t.dvalue = 0;
    t.clipped = true;
  }
  return t;
}

KlTerm kl_term(double l, double l_ref, KlEstimator est, double kl_max) {
  const double d = l - l_ref;
  KlTerm t;
  switch (est) {
    case KlEstimator::K1: t = {d, 1.0}; break;
    case KlEstimator::K2: t = {0.5 * d * d, d}; break;
    case KlEstimator::K3: t = {std::exp(-d) - 1 + d, 1 - std::exp(-d)}; break;
  }
  if (kl_max > 0 && std::fabs(t.value) > kl_max) t = {std::copysign(kl_max, t.value), 0.0};
  return t;
}

void unigrpo_objective(const std::vector<ResponseTokens>& rows, int64_t B, const UniGrpoConfig& c,
                       ObjectiveSums& s, std::vector<double>& dl) {
  MMADA_CHECK(B >= 1, "unigrpo_objective: batch of ", B, " responses");
  dl.clear();
  for (const ResponseTokens& r : rows) {
    const size_t M = r.l.size();
    MMADA_CHECK(r.l_old.size() == M && (c.beta == 0 || r.l_ref.size() == M),
                "unigrpo_objective: log-probability vectors of different lengths");
    if (M == 0) continue;
    const double N = c.token_norm == TokenNorm::MaskedCount
                         ? double(M)
                         : double(std::max<int64_t>(1, r.response_length));
    const double w_pol = 1.0 / (double(B) * N);
    const double w_kl = c.kl_aggregation == KlAggregation::TokenMean ? w_pol : 1.0 / double(B);
    for (size_t k = 0; k < M; ++k) {
      const PolicyTerm p = policy_term(r.l[k], r.l_old[k], r.advantage, c.clip_eps);
      const KlTerm kl = c.beta == 0 ? KlTerm{} : kl_term(r.l[k], r.l_ref[k], c.kl_estimator, c.kl_max);
      s.loss += -w_pol * p.value + c.beta * w_kl * kl.value;
      s.policy += w_pol * p.value;
      s.kl += kl.value;
      s.tokens += 1;
      s.clipped += p.clipped;
      dl.push_back(-w_pol * p.dvalue + c.beta * w_kl * kl.dvalue);
    }
  }
}

}  // namespace mmada::train
