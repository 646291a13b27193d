#include "train/optimizer.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "train/adamw_math.h"
#include "train/train_model.h"

namespace mmada::train {

namespace {
std::vector<TensorSlot> slots(const ModelConfig& cfg, ModelWeights& w) {
  std::vector<TensorSlot> out;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) { out.push_back(s); });
  return out;
}
}  // namespace

double lr_at(const OptimConfig& c, int64_t s) {
  if (s < c.warmup_steps) return c.lr * double(s) / double(c.warmup_steps);
  const double span = double(std::max<int64_t>(1, c.max_train_steps - c.warmup_steps));
  const double prog = std::min(1.0, double(s - c.warmup_steps) / span);
  return c.lr * 0.5 * (1.0 + std::cos(M_PI * prog));
}

double clip_grad_norm(const ModelConfig& cfg, ModelWeights& grads, double max_norm) {
  double ss = 0;
  for (const TensorSlot& s : slots(cfg, grads)) {
    const float* g = s.tensor->ptr<float>();
    for (int64_t i = 0, n = s.tensor->numel(); i < n; ++i) ss += double(g[i]) * double(g[i]);
  }
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    const float coef = float(max_norm / (norm + 1e-6));
    for (const TensorSlot& s : slots(cfg, grads)) {
      float* g = s.tensor->ptr<float>();
      for (int64_t i = 0, n = s.tensor->numel(); i < n; ++i) g[i] *= coef;
    }
  }
  return norm;
}

float decay_shrink(const OptimConfig& c, TensorRole role, double lr) {
  const bool decay =
      !(c.no_decay_norms_embeddings && (role == TensorRole::Norm || role == TensorRole::Embedding));
  return decay ? float(1.0 - lr * c.weight_decay) : 1.0f;
}

void zero_grads(const ModelConfig& cfg, ModelWeights& grads) {
  for (const TensorSlot& s : slots(cfg, grads))
    std::fill_n(s.tensor->ptr<float>(), s.tensor->numel(), 0.0f);
}

AdamW::AdamW(const ModelConfig& cfg, const OptimConfig& oc)
    : cfg_(cfg), oc_(oc), m_(zero_weights(cfg, DType::F32)), v_(zero_weights(cfg, DType::F32)) {}

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const OptimConfig& oc,
                  int64_t step, double lr, TensorRole role) {
  const AdamWCoeffs c = adamw_coeffs(oc.beta1, oc.beta2, oc.eps, step, lr);
  const float shrink = decay_shrink(oc, role, lr);
#pragma omp parallel for if (n > 65536)
  for (int64_t i = 0; i < n; ++i) adamw_update(p[i], g[i], m[i], v[i], c, shrink);
}

void AdamW::step(ModelWeights& params, ModelWeights& grads, double lr) {
  ++steps_;
  const std::vector<TensorSlot> P = slots(cfg_, params), G = slots(cfg_, grads),
                                M = slots(cfg_, m_), V = slots(cfg_, v_);
  for (size_t t = 0; t < P.size(); ++t) {
    MMADA_CHECK(P[t].tensor->dtype == DType::F32 && G[t].tensor->dtype == DType::F32,
                "AdamW: ", P[t].name, " must be float32 (master weights)");
    adamw_update(P[t].tensor->ptr<float>(), G[t].tensor->ptr<float>(), M[t].tensor->ptr<float>(),
                 V[t].tensor->ptr<float>(), P[t].tensor->numel(), oc_, steps_, lr, P[t].role);
  }
}

}  // namespace mmada::train
