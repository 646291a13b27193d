#include "train/clip_model.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "io/safetensors.h"

namespace mmada::train {

namespace {

// A float32 copy of `name`, which must have exactly `shape`.
Tensor weight(const SafeTensorsSet& w, const std::string& where, const std::string& name, const Shape& shape) {
  MMADA_CHECK(w.has(name), "clip: ", where, ": the checkpoint has no tensor ", name);
  const Tensor& t = w.get(name);
  MMADA_CHECK(t.shape == shape, "clip: ", where, ": tensor ", name, " has shape ", shape_str(t.shape),
              ", expected ", shape_str(shape), " from config.json");
  return t.to_f32();
}

// y[M, N] = x[M, K] · W[N, K]^T (+ b[N]).
void linear(const float* x, int64_t M, int64_t K, const Tensor& W, const Tensor* b, float* y) {
  const int64_t N = W.shape[0];
  dnnl::sgemm('N', 'T', M, N, K, 1.f, x, K, W.ptr<float>(), K, 0.f, y, N);
  if (!b) return;
  const float* bias = b->ptr<float>();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) y[m * N + n] += bias[n];
}

void layer_norm(const float* x, int64_t rows, int64_t d, const Tensor& w, const Tensor& b, double eps, float* y) {
  const float* g = w.ptr<float>();
  const float* beta = b.ptr<float>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += xr[i];
    mean /= double(d);
    for (int64_t i = 0; i < d; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= double(d);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < d; ++i) y[r * d + i] = float((xr[i] - mean) * inv) * g[i] + beta[i];
  }
}

float activate(ClipActivation a, float v) {
  switch (a) {
    case ClipActivation::QuickGelu: return v / (1.f + std::exp(-1.702f * v));
    case ClipActivation::Gelu: return 0.5f * v * (1.f + std::erf(v * float(M_SQRT1_2)));
    case ClipActivation::GeluTanh:
      return 0.5f * v * (1.f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    case ClipActivation::Relu: return std::max(v, 0.f);
  }
  return v;
}

}  // namespace

int64_t clip_pool_position(const std::vector<int64_t>& ids, int64_t eos_token_id) {
  MMADA_CHECK(!ids.empty(), "clip: empty token row");
  if (eos_token_id == 2) return int64_t(std::max_element(ids.begin(), ids.end()) - ids.begin());
  const auto it = std::find(ids.begin(), ids.end(), eos_token_id);
  return it == ids.end() ? 0 : int64_t(it - ids.begin());
}

ClipModel ClipModel::load(const std::string& folder) {
  const ClipConfig config = ClipConfig::load(folder);
  const SafeTensorsSet weights = SafeTensorsSet::open(folder);
  return from_weights(config, weights, folder);
}

ClipModel ClipModel::from_weights(const ClipConfig& config, const SafeTensorsSet& w, const std::string& where) {
  ClipModel m;
  m.config_ = config;
  auto encoder = [&](const std::string& prefix, const ClipEncoderConfig& c, Encoder& e) {
    const int64_t d = c.hidden, f = c.intermediate;
    for (int64_t i = 0; i < c.layers; ++i) {
      const std::string p = prefix + ".encoder.layers." + std::to_string(i) + ".";
      Layer l;
      l.ln1_w = weight(w, where, p + "layer_norm1.weight", {d});
      l.ln1_b = weight(w, where, p + "layer_norm1.bias", {d});
      l.q_w = weight(w, where, p + "self_attn.q_proj.weight", {d, d});
      l.q_b = weight(w, where, p + "self_attn.q_proj.bias", {d});
      l.k_w = weight(w, where, p + "self_attn.k_proj.weight", {d, d});
      l.k_b = weight(w, where, p + "self_attn.k_proj.bias", {d});
      l.v_w = weight(w, where, p + "self_attn.v_proj.weight", {d, d});
      l.v_b = weight(w, where, p + "self_attn.v_proj.bias", {d});
      l.o_w = weight(w, where, p + "self_attn.out_proj.weight", {d, d});
      l.o_b = weight(w, where, p + "self_attn.out_proj.bias", {d});
      l.ln2_w = weight(w, where, p + "layer_norm2.weight", {d});
      l.ln2_b = weight(w, where, p + "layer_norm2.bias", {d});
      l.fc1_w = weight(w, where, p + "mlp.fc1.weight", {f, d});
      l.fc1_b = weight(w, where, p + "mlp.fc1.bias", {f});
      l.fc2_w = weight(w, where, p + "mlp.fc2.weight", {d, f});
      l.fc2_b = weight(w, where, p + "mlp.fc2.bias", {d});
      e.layers.push_back(std::move(l));
    }
  };
  const ClipTextConfig& t = config.text;
  const ClipVisionConfig& v = config.vision;
  const int64_t P = config.projection_dim;
  m.token_embedding_ = weight(w, where, "text_model.embeddings.token_embedding.weight", {t.vocab_size, t.hidden});
  m.text_position_ = weight(w, where, "text_model.embeddings.position_embedding.weight", {t.max_positions, t.hidden});
  encoder("text_model", t, m.text_encoder_);
  m.final_ln_w_ = weight(w, where, "text_model.final_layer_norm.weight", {t.hidden});
  m.final_ln_b_ = weight(w, where, "text_model.final_layer_norm.bias", {t.hidden});
  m.text_projection_ = weight(w, where, "text_projection.weight", {P, t.hidden});

  const int64_t g = v.grid();
  m.class_embedding_ = weight(w, where, "vision_model.embeddings.class_embedding", {v.hidden});
  m.patch_embedding_ = weight(w, where, "vision_model.embeddings.patch_embedding.weight",
                              {v.hidden, v.channels, v.patch_size, v.patch_size});
  m.vision_position_ = weight(w, where, "vision_model.embeddings.position_embedding.weight", {g * g + 1, v.hidden});
  m.pre_ln_w_ = weight(w, where, "vision_model.pre_layrnorm.weight", {v.hidden});  // sic: transformers' name
  m.pre_ln_b_ = weight(w, where, "vision_model.pre_layrnorm.bias", {v.hidden});
  encoder("vision_model", v, m.vision_encoder_);
  m.post_ln_w_ = weight(w, where, "vision_model.post_layernorm.weight", {v.hidden});
  m.post_ln_b_ = weight(w, where, "vision_model.post_layernorm.bias", {v.hidden});
  m.visual_projection_ = weight(w, where, "visual_projection.weight", {P, v.hidden});
  const Tensor scale = weight(w, where, "logit_scale", {});
  m.logit_scale_ = scale.ptr<float>()[0];
  MMADA_CHECK(std::isfinite(m.logit_scale_), "clip: ", where, ": logit_scale is not finite");
  return m;
}

void ClipModel::run_encoder(const ClipEncoderConfig& c, const Encoder& e, std::vector<float>& x, int64_t len,
                            bool causal) const {
  const int64_t d = c.hidden, f = c.intermediate, H = c.heads, hd = c.head_dim();
  const float scale = 1.f / std::sqrt(float(hd));
  std::vector<float> h(static_cast<size_t>(len * d)), q(h.size()), k(h.size()), v(h.size()), a(h.size()),
      o(h.size()), mlp(static_cast<size_t>(len * f)), s(static_cast<size_t>(len));
  for (const Layer& l : e.layers) {
    layer_norm(x.data(), len, d, l.ln1_w, l.ln1_b, c.layer_norm_eps, h.data());
    linear(h.data(), len, d, l.q_w, &l.q_b, q.data());
    linear(h.data(), len, d, l.k_w, &l.k_b, k.data());
    linear(h.data(), len, d, l.v_w, &l.v_b, v.data());
    for (int64_t head = 0; head < H; ++head) {
      const int64_t off = head * hd;
      for (int64_t i = 0; i < len; ++i) {
        const int64_t last = causal ? i : len - 1;  // causal: position i sees 0..i
        float mx = -INFINITY;
        for (int64_t j = 0; j <= last; ++j) {
          float dot = 0;
          for (int64_t u = 0; u < hd; ++u) dot += q[size_t(i * d + off + u)] * k[size_t(j * d + off + u)];
          s[size_t(j)] = dot * scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= last; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
        float* out = a.data() + i * d + off;
        std::fill(out, out + hd, 0.f);
        for (int64_t j = 0; j <= last; ++j) {
          const float p = float(s[size_t(j)] / sum);
          for (int64_t u = 0; u < hd; ++u) out[u] += p * v[size_t(j * d + off + u)];
        }
      }
    }
    linear(a.data(), len, d, l.o_w, &l.o_b, o.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    layer_norm(x.data(), len, d, l.ln2_w, l.ln2_b, c.layer_norm_eps, h.data());
    linear(h.data(), len, d, l.fc1_w, &l.fc1_b, mlp.data());
    for (float& m : mlp) m = activate(c.act, m);
    linear(mlp.data(), len, f, l.fc2_w, &l.fc2_b, o.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
  }
}

std::vector<float> ClipModel::image_embeds(const float* pixels, std::vector<float>* pooled) const {
  const ClipVisionConfig& c = config_.vision;
  const int64_t d = c.hidden, p = c.patch_size, g = c.grid(), S = c.image_size, C = c.channels;
  const int64_t n = g * g, K = C * p * p;
  // The stride-p convolution as one GEMM over the patches, each flattened as (c, y, x) like
  // the weight [d, C, p, p]; patches in row-major grid order (flatten(2) in transformers).
  std::vector<float> patches(static_cast<size_t>(n * K));
  for (int64_t gy = 0; gy < g; ++gy)
    for (int64_t gx = 0; gx < g; ++gx) {
      float* dst = patches.data() + (gy * g + gx) * K;
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t y = 0; y < p; ++y)
          for (int64_t xx = 0; xx < p; ++xx)
            *dst++ = pixels[(ch * S + gy * p + y) * S + gx * p + xx];
    }
  std::vector<float> x(static_cast<size_t>((n + 1) * d));
  std::copy_n(class_embedding_.ptr<float>(), d, x.data());
  const Tensor conv = patch_embedding_.reshape({d, K});
  linear(patches.data(), n, K, conv, nullptr, x.data() + d);
  const float* pos = vision_position_.ptr<float>();
  for (size_t i = 0; i < x.size(); ++i) x[i] += pos[i];
  std::vector<float> h(x.size());
  layer_norm(x.data(), n + 1, d, pre_ln_w_, pre_ln_b_, c.layer_norm_eps, h.data());
  run_encoder(c, vision_encoder_, h, n + 1, /*causal=*/false);
  std::vector<float> cls(static_cast<size_t>(d));
  layer_norm(h.data(), 1, d, post_ln_w_, post_ln_b_, c.layer_norm_eps, cls.data());
  std::vector<float> out(static_cast<size_t>(config_.projection_dim));
  linear(cls.data(), 1, d, visual_projection_, nullptr, out.data());
  if (pooled) *pooled = std::move(cls);
  return out;
}

std::vector<float> ClipModel::text_embeds(const std::vector<int64_t>& ids, std::vector<float>* pooled) const {
  const ClipTextConfig& c = config_.text;
  const int64_t len = int64_t(ids.size()), d = c.hidden;
  MMADA_CHECK(len >= 1 && len <= c.max_positions, "clip: a text of ", len, " tokens (1..", c.max_positions,
              " allowed)");
  std::vector<float> x(static_cast<size_t>(len * d));
  const float* tok = token_embedding_.ptr<float>();
  const float* pos = text_position_.ptr<float>();
  for (int64_t i = 0; i < len; ++i) {
    MMADA_CHECK(ids[size_t(i)] >= 0 && ids[size_t(i)] < c.vocab_size, "clip: token id ", ids[size_t(i)],
                " is outside the vocabulary (", c.vocab_size, ")");
    for (int64_t u = 0; u < d; ++u) x[size_t(i * d + u)] = tok[ids[size_t(i)] * d + u] + pos[i * d + u];
  }
  run_encoder(c, text_encoder_, x, len, /*causal=*/true);
  const int64_t at = clip_pool_position(ids, c.eos_token_id);
  std::vector<float> last(static_cast<size_t>(d));
  layer_norm(x.data() + at * d, 1, d, final_ln_w_, final_ln_b_, c.layer_norm_eps, last.data());
  std::vector<float> out(static_cast<size_t>(config_.projection_dim));
  linear(last.data(), 1, d, text_projection_, nullptr, out.data());
  if (pooled) *pooled = std::move(last);
  return out;
}

}  // namespace mmada::train
