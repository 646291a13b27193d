// Built with -ffp-contract=off (CMakeLists.txt): the guidance products must round on their own,
// as they do on the GPU, or the host and device draws drift apart.
#include "backend/cpu/t2i_draw.h"

#include <algorithm>
#include <cmath>

namespace mmada::t2i {

Draw draw_row(const float* cond, const float* uncond, int64_t C, double guidance, bool bf16,
              int64_t fixed, const CounterRng& rng, uint64_t stream, float* guided) {
  const bool cfg = uncond != nullptr;
  const float g1 = float(1.0 + guidance), g = float(guidance);
  auto logit = [&](int64_t j) { return guided_logit(cond[j], cfg ? uncond[j] : 0.0f, cfg, g1, g, bf16); };
  float mx = -INFINITY;
  for (int64_t j = 0; j < C; ++j) {
    const float l = logit(j);
    if (guided) guided[j] = l;
    mx = std::max(mx, l);
  }
  double sum = 0;
  for (int64_t j = 0; j < C; ++j) sum += unnormalised_prob(logit(j), mx);
  const float inv = float(1.0 / sum);
  auto prob = [&](int64_t j) { return bf(unnormalised_prob(logit(j), mx) * inv, bf16); };
  int64_t code = fixed;
  if (code < 0) {
    double best = -1;
    for (int64_t j = 0; j < C; ++j) {
      const double k = draw_key(prob(j), rng, stream, j);
      if (k > best) best = k, code = j;
    }
    if (code < 0) code = 0;  // only for NaN logits
  }
  return {code, prob(code)};
}

}  // namespace mmada::t2i
