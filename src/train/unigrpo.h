// The UniGRPO objective (spec/unigrpo.md §2-§6): the ratio schedule across the µ inner updates,
// structured masking of the response (the prompt is never masked), group-relative advantages,
// and the clipped-ratio objective with a KL penalty, on per-token log-probabilities that come
// from ONE forward pass over [prompt, masked response]. Gradients go through the trainer's own
// train_forward / train_backward (train_model.h); this file only turns log-probabilities into
// the loss and d loss / d log-probability.
//
// Choices (project choices of unigrpo.md §11 unless noted):
//   ratios    paper_spaced: t_1 = floor(r1·T), t_n = t_1 + ((n−1)(T−t_1)) div (µ−1), ratio t_n/T,
//             one r1 per RL step shared by every response [paper, Algorithm 1 l.10-13];
//             iid_uniform: a fresh U[lo, hi] ratio per response and inner step [dLLM-RL];
//             full: ratio 1 (the whole answer masked; the "mask all" arm of the paper's Fig. 3).
//   masking   bernoulli (each eligible position w.p. ratio, at least one: the smallest draw)
//             [dLLM-RL] or exact_count (max(1, round(ratio·|o|)) positions by argsort of draws).
//   response  the eligible part is the content up to the first end token plus `post_num` end
//             tokens; the rest ("tail pads") is [MASK] in the input and never in the loss [dLLM-RL].
//   loss      −(1/B) Σ_i (1/N_i) Σ_{k∈M_i} [min(ρA, clip(ρ,1−ε,1+ε)A) − β·KL_k], N_i = |M_i|
//             (masked_count, Eq. 4) or |o_i| (response_length, Eq. 5); B = responses in the
//             step's kept groups. kl_aggregation "sum" instead adds β Σ_k KL_k / B (dLLM-RL).
//   KL        δ = ℓ^θ − ℓ^ref: k1 = δ, k2 = δ²/2, k3 = e^{−δ} − 1 + δ (dLLM-RL's default);
//             reference "ref" = the frozen initial model [paper], "old" = π_old [dLLM-RL];
//             optional clamp kl_max (k3 explodes as e^{−δ} on tokens θ has made very unlikely).
//   advantage (r − mean)/std over the group, population std; exactly 0 when every reward of
//             the group is equal (and such groups may be dropped) [dLLM-RL].
#pragma once
#include <cstdint>
#include <vector>

#include "sample/rng.h"

namespace mmada::train {

enum class RatioSchedule { PaperSpaced, IidUniform, Full };
enum class MaskSampling { Bernoulli, ExactCount };
enum class KlEstimator { K1, K2, K3 };
enum class KlReference { Ref, Old };
enum class KlAggregation { TokenMean, Sum };
enum class TokenNorm { MaskedCount, ResponseLength };

struct UniGrpoConfig {
  int64_t group_size = 8;  // G
  int64_t mu = 4;          // inner updates per RL step
  RatioSchedule schedule = RatioSchedule::PaperSpaced;
  int64_t timesteps = 1000;  // T
  double iid_lo = 0.1, iid_hi = 0.9;
  MaskSampling mask_sampling = MaskSampling::Bernoulli;
  // true: the G responses of a group are masked with the same draws (common random numbers):
  // where two responses agree, their rows agree, so the tokens they share add advantage-weighted
  // gradients that cancel (advantages sum to zero) and only where they differ is there signal.
  // false: every response draws its own mask (dLLM-RL, the paper).
  bool group_masks = false;
  double clip_eps = 0.2;
  double beta = 0.01;
  KlEstimator kl_estimator = KlEstimator::K3;
  KlReference kl_reference = KlReference::Ref;
  KlAggregation kl_aggregation = KlAggregation::TokenMean;
  double kl_max = 0;  // > 0: per-token KL clamped to [−kl_max, kl_max], no gradient where it binds
                      // (verl's clamp of its k3 "low_var_kl" at 10; 0 = off)
  TokenNorm token_norm = TokenNorm::MaskedCount;
  int64_t post_num = 1;
  bool drop_equal_groups = true;
  // > 0: a group whose rewards all agree is rolled out again from a newly drawn prompt of the
  // same task, up to this many times (DAPO's dynamic sampling, per group slot); the last draw
  // is kept or dropped as usual. Every redraw costs G more rollouts.
  int64_t redraw_equal_groups = 0;
};

// The paper's integer timesteps t_1..t_µ from r1 ∈ [0, 1): exact integer arithmetic.
// µ = 1 gives {t_1}.
std::vector<int64_t> spaced_timesteps(double r1, int64_t T, int64_t mu);

// Mask ratio for inner step n (0-based) of RL step `rl_step`, response `response`. Draws come
// from the counter RNG, so a resumed run masks exactly as an uninterrupted one.
double mask_ratio(const UniGrpoConfig& c, const CounterRng& rng, int64_t rl_step, int64_t n,
                  int64_t response);

// |o|: positions [0, eligible) of the generated ids take part in the loss.
int64_t eligible_length(const std::vector<int64_t>& response, const std::vector<int64_t>& end_ids,
                        int64_t post_num);

// One training row [prompt, õ] and its loss positions (absolute, sorted) with their labels.
struct MaskedRow {
  std::vector<int64_t> ids;
  std::vector<int64_t> positions;
  std::vector<int64_t> labels;
  std::vector<uint8_t> real;  // [ids] 1 = visible (pair attention, t2i [iPAD]); empty = all visible
};

// Response position j draws rng.uniform(stream, j). Tail positions (>= eligible) become
// [MASK]; eligible ones are masked at `ratio`. eligible = 0 gives a row with no loss positions.
MaskedRow mask_response(const std::vector<int64_t>& prompt, const std::vector<int64_t>& response,
                        int64_t eligible, double ratio, MaskSampling sampling, int64_t mask_id,
                        const CounterRng& rng, uint64_t stream);

// Group-relative advantages: z-scores with the population std; all zeros when every value is
// equal (or the std is below 1e-12 of the scale, so round-off never becomes an advantage).
std::vector<double> group_advantages(const std::vector<double>& rewards);

// Per-token pieces, exposed for the hand-computed tests.
struct PolicyTerm {
  double value = 0;    // min(ρA, clip(ρ)A)
  double dvalue = 0;   // d value / d ℓ^θ  (ρA on the unclipped branch, 0 where the clip binds)
  bool clipped = false;
};
PolicyTerm policy_term(double l, double l_old, double advantage, double eps);
struct KlTerm {
  double value = 0, dvalue = 0;  // KL and d KL / d ℓ^θ
};
KlTerm kl_term(double l, double l_ref, KlEstimator est, double kl_max = 0);

// One response's masked tokens at one inner step.
struct ResponseTokens {
  std::vector<double> l, l_old, l_ref;  // per masked token
  double advantage = 0;
  int64_t response_length = 0;          // |o_i|
};

struct ObjectiveSums {
  double loss = 0;         // −J contribution
  double policy = 0;       // Σ_i (1/N_i) Σ_k policy value, /B
  double kl = 0;           // Σ over tokens of KL (for the mean)
  int64_t tokens = 0;      // masked tokens seen
  int64_t clipped = 0;     // of which the clip bound
};

// Adds the loss of `rows` (normalised by B = batch_responses) into `sums` and writes
// d loss / d ℓ^θ for every token into dl (same layout as rows[i].l, concatenated).
void unigrpo_objective(const std::vector<ResponseTokens>& rows, int64_t batch_responses,
                       const UniGrpoConfig& c, ObjectiveSums& sums, std::vector<double>& dl);

}  // namespace mmada::train
