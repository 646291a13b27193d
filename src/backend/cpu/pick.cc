#include "backend/cpu/pick.h"

#include <cmath>

#include "core/dtype.h"

namespace mmada {

Pick pick_token(const float* l, int64_t V, double t, const CounterRng& rng, uint64_t stream,
                bool bf16_logits) {
  auto at = [&](int64_t j) { return bf16_logits ? round_bf16(l[j]) : l[j]; };
  int64_t best = 0;
  if (t == 0) {
    float bv = at(0);
    for (int64_t j = 1; j < V; ++j)
      if (at(j) > bv) bv = at(j), best = j;
  } else {
    double bv = -INFINITY;
    for (int64_t j = 0; j < V; ++j) {
      double u = rng.uniform(stream, uint64_t(j));
      if (u <= 0) u = 0x1p-53;
      const double v = double(at(j)) - t * std::log(-std::log(u));  // l + t * Gumbel
      if (v > bv) bv = v, best = j;
    }
  }
  double mx = -INFINITY;
  for (int64_t j = 0; j < V; ++j) mx = std::max(mx, double(at(j)));
  double sum = 0;
  for (int64_t j = 0; j < V; ++j) sum += std::exp(double(at(j)) - mx);
  return {best, std::exp(double(at(best)) - mx) / sum};
}

}  // namespace mmada
