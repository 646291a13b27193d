#include "train/unigrpo_step.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "train/train_model.h"
#include "train/train_ops.h"

namespace mmada::train {

namespace {

template <class T>
struct GroupForward {
  TrainBatch batch;
  std::vector<int64_t> labels;
  Activations<T> acts;
  std::vector<T> dlogits;   // softmax − onehot per loss row (weight 1)
  std::vector<double> l;    // log p of the labels
  cpu::RopeTable rope;
};

// The network behind a group's forward and backward: host weights (train_model.h, any T) or a
// TrainCompute (float; the CPU or the GPU).
template <class T>
struct HostNet {
  const ModelConfig& cfg;
  const ModelWeights& w;
  ModelWeights* grads;
  std::vector<T> forward(GroupForward<T>& f) const {
    f.rope = cpu::make_rope_table(f.batch.L, cfg.head_dim(), cfg.rope_theta);
    return train_forward<T>(cfg, w, f.batch, f.rope, f.acts);
  }
  void backward(GroupForward<T>& f) const {
    train_backward<T>(cfg, w, f.batch, f.rope, f.acts, f.dlogits, *grads);
  }
};
struct ComputeNet {
  TrainCompute& tc;
  std::vector<float> forward(GroupForward<float>& f) const { return tc.forward(f.batch); }
  void backward(GroupForward<float>& f) const { tc.backward(f.dlogits); }
};
// The compute's frozen reference weights: forward only.
struct ReferenceNet {
  TrainCompute& tc;
  std::vector<float> forward(GroupForward<float>& f) const { return tc.forward_reference(f.batch); }
};

template <class T, class Net>
void run_forward(const ModelConfig& cfg, const Net& net, const std::vector<MaskedRow>& rows,
                 const std::string& what, GroupForward<T>& f) {
  MMADA_CHECK(!rows.empty(), what, ": no rows");
  const int64_t L = int64_t(rows[0].ids.size());
  f.batch.B = int64_t(rows.size());
  f.batch.L = L;
  const bool masked = std::any_of(rows.begin(), rows.end(), [](const MaskedRow& r) { return !r.real.empty(); });
  if (masked) f.batch.mask_mode = AttnMask::Pair;
  for (size_t r = 0; r < rows.size(); ++r) {
    MMADA_CHECK(int64_t(rows[r].ids.size()) == L, what, ": rows of different lengths");
    MMADA_CHECK(rows[r].real.empty() || int64_t(rows[r].real.size()) == L, what, ": token mask of the wrong length");
    f.batch.ids.insert(f.batch.ids.end(), rows[r].ids.begin(), rows[r].ids.end());
    if (masked) {
      if (rows[r].real.empty()) f.batch.token_mask.insert(f.batch.token_mask.end(), size_t(L), uint8_t(1));
      else f.batch.token_mask.insert(f.batch.token_mask.end(), rows[r].real.begin(), rows[r].real.end());
    }
    for (size_t k = 0; k < rows[r].positions.size(); ++k) {
      f.batch.rows.push_back(int64_t(r) * L + rows[r].positions[k]);
      f.labels.push_back(rows[r].labels[k]);
    }
  }
  const int64_t R = int64_t(f.labels.size());
  if (R == 0) return;
  const std::vector<T> logits = net.forward(f);
  f.dlogits.resize(logits.size());
  std::vector<double> ce(static_cast<size_t>(R)), ones(static_cast<size_t>(R), 1.0);
  cross_entropy<T>(logits.data(), f.labels.data(), ones.data(), R, cfg.vocab, 0.0,
                   f.dlogits.data(), ce.data());
  f.l.resize(ce.size());
  for (size_t k = 0; k < ce.size(); ++k) {
    f.l[k] = -ce[k];
    MMADA_CHECK(std::isfinite(f.l[k]), what, ": non-finite log-probability (", f.l[k],
                ") at masked token ", k, "; stopped");
  }
}

template <class T, class Net>
ObjectiveSums group_backward(const ModelConfig& cfg, const Net& net,
                             const std::vector<MaskedRow>& rows, const std::vector<double>& l_old,
                             const std::vector<double>& l_ref, std::vector<ResponseTokens>& tokens,
                             int64_t B, const UniGrpoConfig& c, const std::string& what) {
  MMADA_CHECK(tokens.size() == rows.size(), what, ": one ResponseTokens per row");
  GroupForward<T> f;
  run_forward<T>(cfg, net, rows, what, f);
  MMADA_CHECK(l_old.size() == f.l.size() && (c.beta == 0 || l_ref.size() == f.l.size()), what,
              ": recorded old/ref log-probabilities do not match the masked tokens");
  size_t k = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const size_t M = rows[r].positions.size();
    ResponseTokens& t = tokens[r];
    t.l.assign(f.l.begin() + long(k), f.l.begin() + long(k + M));
    t.l_old.assign(l_old.begin() + long(k), l_old.begin() + long(k + M));
    if (c.beta != 0) t.l_ref.assign(l_ref.begin() + long(k), l_ref.begin() + long(k + M));
    else t.l_ref.clear();
    k += M;
  }
  ObjectiveSums s;
  std::vector<double> dl;
  unigrpo_objective(tokens, B, c, s, dl);
  if (f.l.empty()) return s;
  // d loss / d z = dl · d ℓ / d z = dl · (onehot − softmax) = −dl · (softmax − onehot).
  const int64_t V = cfg.vocab;
  for (size_t r = 0; r < dl.size(); ++r) {
    const T scale = T(-dl[r]);
    T* d = f.dlogits.data() + int64_t(r) * V;
    for (int64_t v = 0; v < V; ++v) d[v] *= scale;
  }
  net.backward(f);
  return s;
}

}  // namespace

template <class T>
std::vector<double> masked_logprobs(const ModelConfig& cfg, const ModelWeights& w,
                                    const std::vector<MaskedRow>& rows, const std::string& what) {
  GroupForward<T> f;
  run_forward<T>(cfg, HostNet<T>{cfg, w, nullptr}, rows, what, f);
  return f.l;
}

std::vector<double> masked_logprobs(const ModelConfig& cfg, TrainCompute& tc,
                                    const std::vector<MaskedRow>& rows, const std::string& what) {
  GroupForward<float> f;
  run_forward<float>(cfg, ComputeNet{tc}, rows, what, f);
  return f.l;
}

std::vector<double> reference_logprobs(const ModelConfig& cfg, TrainCompute& tc,
                                       const std::vector<MaskedRow>& rows, const std::string& what) {
  GroupForward<float> f;
  run_forward<float>(cfg, ReferenceNet{tc}, rows, what, f);
  return f.l;
}

template <class T>
ObjectiveSums unigrpo_group_backward(const ModelConfig& cfg, const ModelWeights& w,
                                     const std::vector<MaskedRow>& rows,
                                     const std::vector<double>& l_old,
                                     const std::vector<double>& l_ref,
                                     std::vector<ResponseTokens>& tokens, int64_t B,
                                     const UniGrpoConfig& c, ModelWeights& grads,
                                     const std::string& what) {
  return group_backward<T>(cfg, HostNet<T>{cfg, w, &grads}, rows, l_old, l_ref, tokens, B, c, what);
}

ObjectiveSums unigrpo_group_backward(const ModelConfig& cfg, TrainCompute& tc,
                                     const std::vector<MaskedRow>& rows,
                                     const std::vector<double>& l_old,
                                     const std::vector<double>& l_ref,
                                     std::vector<ResponseTokens>& tokens, int64_t B,
                                     const UniGrpoConfig& c, const std::string& what) {
  return group_backward<float>(cfg, ComputeNet{tc}, rows, l_old, l_ref, tokens, B, c, what);
}

template std::vector<double> masked_logprobs<float>(const ModelConfig&, const ModelWeights&,
                                                    const std::vector<MaskedRow>&, const std::string&);
template std::vector<double> masked_logprobs<double>(const ModelConfig&, const ModelWeights&,
                                                     const std::vector<MaskedRow>&, const std::string&);
template ObjectiveSums unigrpo_group_backward<float>(
    const ModelConfig&, const ModelWeights&, const std::vector<MaskedRow>&, const std::vector<double>&,
    const std::vector<double>&, std::vector<ResponseTokens>&, int64_t, const UniGrpoConfig&,
    ModelWeights&, const std::string&);
template ObjectiveSums unigrpo_group_backward<double>(
    const ModelConfig&, const ModelWeights&, const std::vector<MaskedRow>&, const std::vector<double>&,
    const std::vector<double>&, std::vector<ResponseTokens>&, int64_t, const UniGrpoConfig&,
    ModelWeights&, const std::string&);

}  // namespace mmada::train
