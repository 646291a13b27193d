#include "train/zero_adamw.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mmada::train {

double HostFlatMath::sum_squares(const float* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * double(x[i]);
  return s;
}
void HostFlatMath::scale(float* x, int64_t n, float c) {
  for (int64_t i = 0; i < n; ++i) x[i] *= c;
}
void HostFlatMath::adamw(float* p, const float* g, float* m, float* v, int64_t n,
                         const AdamWCoeffs& c, float shrink) {
  for (int64_t i = 0; i < n; ++i) adamw_update(p[i], g[i], m[i], v[i], c, shrink);
}

ZeroAdamW::ZeroAdamW(const FlatLayout& layout, const OptimConfig& oc, Communicator& comm,
                     FlatMath& math)
    : layout_(layout), oc_(oc), comm_(comm), math_(math) {
  MMADA_CHECK(layout_.world == comm_.world(), "ZeroAdamW: layout for ", layout_.world,
              " ranks, communicator of ", comm_.world());
}

double ZeroAdamW::reduce_and_clip(const float* grads, float* grad_shard) {
  const int64_t n = shard_size();
  if (comm_.world() > 1 || grads != grad_shard) comm_.reduce_scatter_sum(grads, grad_shard, n);
  double ss = math_.sum_squares(grad_shard, n);  // the padded tail is zero
  comm_.all_reduce_sum(&ss, 1);
  const double norm = std::sqrt(ss);
  // clip_grad_norm's rule (optimizer.h): scale by max/(norm + 1e-6) when above max.
  if (oc_.grad_clip > 0 && norm > oc_.grad_clip)
    math_.scale(grad_shard, n, float(oc_.grad_clip / (norm + 1e-6)));
  return norm;
}

void ZeroAdamW::step(float* params, const float* grad_shard, float* m_shard, float* v_shard,
                     double lr) {
  ++steps_;
  const AdamWCoeffs c = adamw_coeffs(oc_.beta1, oc_.beta2, oc_.eps, steps_, lr);
  const int64_t lo = shard_begin(), hi = lo + shard_size();
  // The shard cuts tensors anywhere: run the update per (tensor ∩ shard) with its decay factor.
  for (const FlatTensor& t : layout_.tensors) {
    const int64_t a = std::max(lo, t.offset), b = std::min(hi, t.offset + t.numel);
    if (a >= b) continue;
    math_.adamw(params + a, grad_shard + (a - lo), m_shard + (a - lo), v_shard + (a - lo), b - a, c,
                decay_shrink(oc_, t.role, lr));
  }
  if (comm_.world() > 1) comm_.all_gather(params + lo, params, shard_size());
}

}  // namespace mmada::train
