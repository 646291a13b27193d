#include "train/train_model.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace mmada::train {

namespace {
template <class T>
const T* P(const Tensor& t) {
  return t.ptr<T>();
}
template <class T>
T* W(Tensor& t) {
  return t.ptr<T>();
}
template <class T>
constexpr DType dtype_of() {
  return std::is_same_v<T, float> ? DType::F32 : DType::F64;
}
}  // namespace

ModelWeights zero_weights(const ModelConfig& cfg, DType dtype) {
  ModelWeights w;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) { *s.tensor = Tensor::empty(dtype, s.shape); });
  return w;
}

ModelWeights cast_weights(const ModelConfig& cfg, ModelWeights& src, DType dtype) {
  MMADA_CHECK(dtype == DType::F32 || dtype == DType::F64, "cast_weights: F32 or F64 only");
  std::vector<Tensor*> from;
  for_each_tensor(cfg, src, [&](const TensorSlot& s) { from.push_back(s.tensor); });
  ModelWeights out;
  size_t i = 0;
  for_each_tensor(cfg, out, [&](const TensorSlot& s) {
    const Tensor& t = *from[i++];
    MMADA_CHECK(t.shape == s.shape, "cast_weights: ", s.name, " has shape ", shape_str(t.shape),
                ", config implies ", shape_str(s.shape));
    Tensor f = Tensor::empty(dtype, s.shape);
    if (t.dtype == DType::F64) {
      for (int64_t j = 0; j < t.numel(); ++j) {
        const double v = t.ptr<double>()[j];
        if (dtype == DType::F64) f.ptr<double>()[j] = v;
        else f.ptr<float>()[j] = float(v);
      }
    } else {
      const Tensor t32 = t.to_f32();
      for (int64_t j = 0; j < t.numel(); ++j) {
        const float v = t32.ptr<float>()[j];
        if (dtype == DType::F64) f.ptr<double>()[j] = v;
        else f.ptr<float>()[j] = v;
      }
    }
    *s.tensor = std::move(f);
  });
  return out;
}

template <class T>
std::vector<T> train_forward(const ModelConfig& c, const ModelWeights& w, const TrainBatch& b,
                             const cpu::RopeTable& rope, Activations<T>& a) {
  const int64_t B = b.B, L = b.L, N = B * L, D = c.d_model, H = c.n_heads, KV = c.kv_dim(),
                Dh = c.head_dim(), F = c.mlp_hidden, V = c.vocab, R = int64_t(b.rows.size());
  MMADA_CHECK(int64_t(b.ids.size()) == N, "train_forward: ids size ", b.ids.size(), " != B*L ", N);
  MMADA_CHECK(b.token_mask.empty() || int64_t(b.token_mask.size()) == N,
              "train_forward: token_mask size");
  MMADA_CHECK(w.wte.dtype == dtype_of<T>(), "train_forward: weights dtype mismatch");
  for (int64_t id : b.ids)
    MMADA_CHECK(id >= 0 && id < V, "token id ", id, " outside the vocabulary (", V, " rows)");
  for (int64_t r : b.rows) MMADA_CHECK(r >= 0 && r < N, "train_forward: row ", r, " out of range");
  const uint8_t* mask = b.token_mask.empty() ? nullptr : b.token_mask.data();
  const double eps = c.rms_norm_eps;

  std::vector<T> x(size_t(N * D));
  embedding_forward<T>(P<T>(w.wte), D, b.ids.data(), N, x.data());
  a.layers.resize(size_t(c.n_layers));
  for (int64_t li = 0; li < c.n_layers; ++li) {
    const LayerWeights& l = w.layers[size_t(li)];
    LayerActivations<T>& s = a.layers[size_t(li)];
    s.x_in = x;
    s.h1.resize(size_t(N * D));
    s.inv1.resize(size_t(N));
    s.q.resize(size_t(N * D));
    s.k.resize(size_t(N * KV));
    s.v.resize(size_t(N * KV));
    s.P.resize(size_t(B * H * L * L));
    s.att.resize(size_t(N * D));
    rmsnorm_forward<T>(x.data(), P<T>(l.attn_norm), s.h1.data(), s.inv1.data(), N, D, eps);
    linear_forward<T>(s.h1.data(), P<T>(l.q_proj), s.q.data(), N, D, D);
    linear_forward<T>(s.h1.data(), P<T>(l.k_proj), s.k.data(), N, D, KV);
    linear_forward<T>(s.h1.data(), P<T>(l.v_proj), s.v.data(), N, D, KV);
    rope_forward<T>(s.q.data(), B, L, H, Dh, rope);
    rope_forward<T>(s.k.data(), B, L, c.n_kv_heads, Dh, rope);
    attention_forward<T>(s.q.data(), s.k.data(), s.v.data(), s.att.data(), s.P.data(), B, L, H,
                         c.n_kv_heads, Dh, mask, b.mask_mode);
    linear_forward<T>(s.att.data(), P<T>(l.attn_out), x.data(), N, D, D, /*accumulate=*/true);
    s.x_mid = x;
    s.h2.resize(size_t(N * D));
    s.inv2.resize(size_t(N));
    s.g.resize(size_t(N * F));
    s.u.resize(size_t(N * F));
    s.gu.resize(size_t(N * F));
    rmsnorm_forward<T>(x.data(), P<T>(l.ff_norm), s.h2.data(), s.inv2.data(), N, D, eps);
    linear_forward<T>(s.h2.data(), P<T>(l.ff_proj), s.g.data(), N, D, F);
    linear_forward<T>(s.h2.data(), P<T>(l.up_proj), s.u.data(), N, D, F);
    silu_mul_forward<T>(s.g.data(), s.u.data(), s.gu.data(), N * F);
    linear_forward<T>(s.gu.data(), P<T>(l.ff_out), x.data(), N, F, D, /*accumulate=*/true);
  }
  a.x_out = x;
  // Head on the selected rows only (training.md §11: CE only where a loss uses it).
  a.xs.resize(size_t(R * D));
  a.xn.resize(size_t(R * D));
  a.invf.resize(size_t(R));
  for (int64_t r = 0; r < R; ++r)
    std::copy_n(x.data() + b.rows[size_t(r)] * D, D, a.xs.data() + r * D);
  rmsnorm_forward<T>(a.xs.data(), P<T>(w.ln_f), a.xn.data(), a.invf.data(), R, D, eps);
  std::vector<T> logits(size_t(R * V));
  linear_forward<T>(a.xn.data(), P<T>(w.head), logits.data(), R, D, V);
  return logits;
}

template <class T>
void train_backward(const ModelConfig& c, const ModelWeights& w, const TrainBatch& b,
                    const cpu::RopeTable& rope, const Activations<T>& a,
                    const std::vector<T>& dlogits, ModelWeights& g) {
  const int64_t B = b.B, L = b.L, N = B * L, D = c.d_model, H = c.n_heads, KV = c.kv_dim(),
                Dh = c.head_dim(), F = c.mlp_hidden, V = c.vocab, R = int64_t(b.rows.size());
  MMADA_CHECK(int64_t(dlogits.size()) == R * V, "train_backward: dlogits size");
  MMADA_CHECK(g.wte.dtype == dtype_of<T>(), "train_backward: gradient dtype mismatch");
  const uint8_t* mask = b.token_mask.empty() ? nullptr : b.token_mask.data();

  // Head and final norm.
  std::vector<T> dxn(size_t(R * D)), dxs(size_t(R * D));
  linear_backward<T>(dlogits.data(), a.xn.data(), P<T>(w.head), dxn.data(), W<T>(g.head), R, D, V);
  rmsnorm_backward<T>(dxn.data(), a.xs.data(), P<T>(w.ln_f), a.invf.data(), dxs.data(),
                      W<T>(g.ln_f), R, D);
  std::vector<T> dx(size_t(N * D));  // gradient of the residual stream
  for (int64_t r = 0; r < R; ++r) {  // scatter-add: a row may be selected twice
    T* dst = dx.data() + b.rows[size_t(r)] * D;
    for (int64_t i = 0; i < D; ++i) dst[i] += dxs[size_t(r * D + i)];
  }

  std::vector<T> dh(size_t(N * D)), dgu(size_t(N * F)), dgg(size_t(N * F)), du(size_t(N * F)),
      datt(size_t(N * D)), dq(size_t(N * D)), dk(size_t(N * KV)), dv(size_t(N * KV));
  auto zero = [](std::vector<T>& v) { std::fill(v.begin(), v.end(), T(0)); };
  for (int64_t li = c.n_layers - 1; li >= 0; --li) {
    const LayerWeights& l = w.layers[size_t(li)];
    LayerWeights& gl = g.layers[size_t(li)];
    const LayerActivations<T>& s = a.layers[size_t(li)];
    // MLP: x = x_mid + ff_out(silu(g)*u); dx flows straight through the residual.
    zero(dgu);
    zero(dgg);
    zero(du);
    zero(dh);
    linear_backward<T>(dx.data(), s.gu.data(), P<T>(l.ff_out), dgu.data(), W<T>(gl.ff_out), N, F, D);
    silu_mul_backward<T>(dgu.data(), s.g.data(), s.u.data(), dgg.data(), du.data(), N * F);
    linear_backward<T>(dgg.data(), s.h2.data(), P<T>(l.ff_proj), dh.data(), W<T>(gl.ff_proj), N, D, F);
    linear_backward<T>(du.data(), s.h2.data(), P<T>(l.up_proj), dh.data(), W<T>(gl.up_proj), N, D, F);
    rmsnorm_backward<T>(dh.data(), s.x_mid.data(), P<T>(l.ff_norm), s.inv2.data(), dx.data(),
                        W<T>(gl.ff_norm), N, D);
    // Attention: x_mid = x_in + attn_out(att).
    zero(datt);
    zero(dq);
    zero(dk);
    zero(dv);
    zero(dh);
    linear_backward<T>(dx.data(), s.att.data(), P<T>(l.attn_out), datt.data(), W<T>(gl.attn_out), N, D, D);
    attention_backward<T>(datt.data(), s.q.data(), s.k.data(), s.v.data(), s.P.data(), dq.data(),
                          dk.data(), dv.data(), B, L, H, c.n_kv_heads, Dh, mask, b.mask_mode);
    rope_backward<T>(dq.data(), B, L, H, Dh, rope);
    rope_backward<T>(dk.data(), B, L, c.n_kv_heads, Dh, rope);
    linear_backward<T>(dq.data(), s.h1.data(), P<T>(l.q_proj), dh.data(), W<T>(gl.q_proj), N, D, D);
    linear_backward<T>(dk.data(), s.h1.data(), P<T>(l.k_proj), dh.data(), W<T>(gl.k_proj), N, D, KV);
    linear_backward<T>(dv.data(), s.h1.data(), P<T>(l.v_proj), dh.data(), W<T>(gl.v_proj), N, D, KV);
    rmsnorm_backward<T>(dh.data(), s.x_in.data(), P<T>(l.attn_norm), s.inv1.data(), dx.data(),
                        W<T>(gl.attn_norm), N, D);
  }
  embedding_backward<T>(dx.data(), b.ids.data(), N, D, W<T>(g.wte));
}

template std::vector<float> train_forward<float>(const ModelConfig&, const ModelWeights&,
                                                 const TrainBatch&, const cpu::RopeTable&,
                                                 Activations<float>&);
template std::vector<double> train_forward<double>(const ModelConfig&, const ModelWeights&,
                                                   const TrainBatch&, const cpu::RopeTable&,
                                                   Activations<double>&);
template void train_backward<float>(const ModelConfig&, const ModelWeights&, const TrainBatch&,
                                    const cpu::RopeTable&, const Activations<float>&,
                                    const std::vector<float>&, ModelWeights&);
template void train_backward<double>(const ModelConfig&, const ModelWeights&, const TrainBatch&,
                                     const cpu::RopeTable&, const Activations<double>&,
                                     const std::vector<double>&, ModelWeights&);

}  // namespace mmada::train
