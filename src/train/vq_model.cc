#include "train/vq_model.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <memory>

#include "core/error.h"
#include "train/train_ops.h"

namespace mmada::train {

void check_trainable(const MagvitConfig& cfg, const std::string& where) {
  cfg.validate(where);
  MMADA_CHECK(cfg.codebook_dim <= 16, where, ": codebook_dim ", cfg.codebook_dim,
              " is too large to train here (the exact codebook entropy enumerates 2^bits codes "
              "per latent position; use <= 16 bits)");
  MMADA_CHECK(cfg.encoder.in_ch == cfg.decoder.out_ch, where, ": encoder in_ch ",
              cfg.encoder.in_ch, " and decoder out_ch ", cfg.decoder.out_ch,
              " differ (the reconstruction loss compares the two)");
}

namespace {

constexpr int64_t kGroups = 32;       // GroupNorm32 (magvit_blocks.h)
constexpr double kNormEps = 1e-6;

bool has_attn(const VqganNetConfig& cfg, int64_t res) {
  return std::find(cfg.attn_resolutions.begin(), cfg.attn_resolutions.end(), res) !=
         cfg.attn_resolutions.end();
}

// Activations of one step and the backward of every op, run in reverse order. Activation
// values and gradients live in a deque (stable addresses while ops are appended).
template <class T>
class Graph {
 public:
  struct Act {
    int64_t n = 0, h = 0, w = 0, c = 0;
    bool needs_grad = true;
    std::vector<T> v, g;
    int64_t numel() const { return n * h * w * c; }
  };

  explicit Graph(VqNet<T>& net) : net_(net) {}

  Act& act(int id) { return acts_[size_t(id)]; }
  T* grad(int id) {
    Act& a = act(id);
    if (a.g.empty()) a.g.assign(size_t(a.numel()), T(0));
    return a.g.data();
  }
  int input(const T* x, int64_t n, int64_t h, int64_t w, int64_t c) {
    const int id = make(n, h, w, c);
    std::copy(x, x + act(id).numel(), act(id).v.begin());
    act(id).needs_grad = false;
    return id;
  }
  int make(int64_t n, int64_t h, int64_t w, int64_t c) {
    acts_.push_back(Act{n, h, w, c, true, std::vector<T>(size_t(n * h * w * c)), {}});
    return int(acts_.size()) - 1;
  }
  void backward() {
    for (size_t i = backs_.size(); i-- > 0;) backs_[i]();
  }

  int conv(int x, const std::string& p, int64_t out, int64_t k, int64_t stride, int64_t lt,
           int64_t rb) {
    const Act& a = act(x);
    const ConvShape s{a.n, a.h, a.w, a.c, out, k, stride, lt, rb};
    const int y = make(a.n, s.out_h(), s.out_w(), out);
    const size_t wo = off(p + ".weight"), bo = off(p + ".bias");
    conv2d_forward(s, act(x).v.data(), W() + wo, W() + bo, act(y).v.data());
    backs_.push_back([this, s, x, y, wo, bo] {
      conv2d_backward(s, grad(y), act(x).v.data(), W() + wo, act(x).needs_grad ? grad(x) : nullptr,
                      G() + wo, G() + bo);
    });
    return y;
  }
  int norm(int x, const std::string& p, bool swish) {
    const Act& a = act(x);
    const int64_t hw = a.h * a.w;
    const int y = make(a.n, a.h, a.w, a.c);
    auto stats = std::make_shared<std::vector<T>>(size_t(2 * a.n * kGroups));
    T* mean = stats->data();
    T* rstd = mean + a.n * kGroups;
    const size_t go = off(p + ".weight"), bo = off(p + ".bias");
    group_norm_forward(act(x).v.data(), W() + go, W() + bo, act(y).v.data(), mean, rstd, a.n, hw,
                       a.c, kGroups, kNormEps);
    backs_.push_back([this, x, y, go, bo, stats, hw] {
      const Act& a = act(x);
      const T* m = stats->data();
      group_norm_backward(grad(y), a.v.data(), W() + go, m, m + a.n * kGroups, grad(x), G() + go,
                          G() + bo, a.n, hw, a.c, kGroups);
    });
    if (!swish) return y;
    const int z = make(a.n, a.h, a.w, a.c);
    swish_forward(act(y).v.data(), act(z).v.data(), act(y).numel());
    backs_.push_back([this, y, z] { swish_backward(grad(z), act(y).v.data(), grad(y), act(y).numel()); });
    return z;
  }
  int add(int a, int b) {
    const int y = make(act(a).n, act(a).h, act(a).w, act(a).c);
    for (int64_t i = 0; i < act(y).numel(); ++i) act(y).v[size_t(i)] = act(a).v[size_t(i)] + act(b).v[size_t(i)];
    backs_.push_back([this, a, b, y] {
      const T* gy = grad(y);
      T* ga = grad(a);
      T* gb = grad(b);
      for (int64_t i = 0; i < act(y).numel(); ++i) ga[i] += gy[i], gb[i] += gy[i];
    });
    return y;
  }
  int upsample(int x) {
    const Act& a = act(x);
    const int y = make(a.n, 2 * a.h, 2 * a.w, a.c);
    upsample2x_forward(act(x).v.data(), act(y).v.data(), a.n, a.h, a.w, a.c);
    backs_.push_back([this, x, y] {
      const Act& a = act(x);
      upsample2x_backward(grad(y), grad(x), a.n, a.h, a.w, a.c);
    });
    return y;
  }
  int attention(int q, int k, int v) {
    const Act& a = act(q);
    const int64_t L = a.h * a.w;
    const int o = make(a.n, a.h, a.w, a.c);
    auto P = std::make_shared<std::vector<T>>(size_t(a.n * L * L));
    attention_forward(act(q).v.data(), act(k).v.data(), act(v).v.data(), act(o).v.data(), P->data(),
                      a.n, L, 1, 1, a.c, nullptr, AttnMask::None);
    backs_.push_back([this, q, k, v, o, P, L] {
      const Act& a = act(q);
      attention_backward(grad(o), a.v.data(), act(k).v.data(), act(v).v.data(), P->data(), grad(q),
                         grad(k), grad(v), a.n, L, 1, 1, a.c, nullptr, AttnMask::None);
    });
    return o;
  }
  // q = ±1 from the sign of z (bit = z > 0, as lfq_encode), gradient passed straight through;
  // with !sign, q = z (gradient checks, VqLossConfig::quantize).
  int quantize(int z, bool sign) {
    const int q = make(act(z).n, act(z).h, act(z).w, act(z).c);
    for (int64_t i = 0; i < act(z).numel(); ++i) {
      const T v = act(z).v[size_t(i)];
      act(q).v[size_t(i)] = !sign ? v : v > 0 ? T(1) : T(-1);
    }
    backs_.push_back([this, z, q] {
      const T* gq = grad(q);
      T* gz = grad(z);
      for (int64_t i = 0; i < act(z).numel(); ++i) gz[i] += gq[i];
    });
    return q;
  }

  // x + conv2(swish(norm2(conv1(swish(norm1(x)))))), 1x1 nin_shortcut when channels change.
  int resnet_block(int x, const std::string& p, int64_t out) {
    const int64_t in = act(x).c;
    int h = conv(norm(x, p + ".norm1", true), p + ".conv1", out, 3, 1, 1, 1);
    h = conv(norm(h, p + ".norm2", true), p + ".conv2", out, 3, 1, 1, 1);
    return add(h, in != out ? conv(x, p + ".nin_shortcut", out, 1, 1, 0, 0) : x);
  }
  int attn_block(int x, const std::string& p) {
    const int64_t c = act(x).c;
    const int h = norm(x, p + ".norm", false);
    const int o = attention(conv(h, p + ".q", c, 1, 1, 0, 0), conv(h, p + ".k", c, 1, 1, 0, 0),
                            conv(h, p + ".v", c, 1, 1, 0, 0));
    return add(conv(o, p + ".proj_out", c, 1, 1, 0, 0), x);
  }

 private:
  size_t off(const std::string& name) { return size_t(net_.param(name).offset); }
  T* W() { return net_.weights().data(); }
  T* G() { return net_.grads().data(); }

  VqNet<T>& net_;
  std::deque<Act> acts_;
  std::vector<std::function<void()>> backs_;
};

}  // namespace

template <class T>
VqNet<T>::VqNet(const MagvitConfig& cfg, uint64_t seed) : cfg_(cfg) {
  check_trainable(cfg, "VQ training config");
  int64_t total = 0;
  const auto init = Magvit::random_tensors(cfg, seed);
  for (const auto& [name, t] : init) {
    if (name == "quantize.embedding") { quant_embedding_ = t; continue; }
    if (name == "quantize.power_vals") { quant_power_vals_ = t; continue; }
    index_[name] = params_.size();
    params_.push_back(Param{name, t.shape, total, t.numel()});
    total += t.numel();
  }
  w_.resize(size_t(total));
  g_.assign(size_t(total), T(0));
  for (const auto& [name, t] : init) {
    if (name.starts_with("quantize.")) continue;
    const Param& p = param(name);
    const float* src = static_cast<const float*>(t.data);
    for (int64_t i = 0; i < p.numel; ++i) w_[size_t(p.offset + i)] = T(src[i]);
  }
}

template <class T>
const typename VqNet<T>::Param& VqNet<T>::param(const std::string& name) const {
  auto it = index_.find(name);
  MMADA_CHECK(it != index_.end(), "VqNet: no parameter '", name, "'");
  return params_[it->second];
}

template <class T>
VqStepResult VqNet<T>::step(const T* pixels, int64_t n, int64_t size, const VqLossConfig& lc,
                            bool backward, bool keep) {
  const VqganNetConfig& ec = cfg_.encoder;
  const VqganNetConfig& dc = cfg_.decoder;
  const int64_t f = cfg_.downsample_factor();
  MMADA_CHECK(n > 0 && size > 0 && size % f == 0, "VQ training: image size ", size,
              " is not a positive multiple of the down-sampling factor ", f);
  Graph<T> g(*this);
  const int x = g.input(pixels, n, size, size, ec.in_ch);

  // Encoder (VqganEncoder::load / operator()).
  int h = g.conv(x, "encoder.conv_in", ec.ch, 3, 1, 1, 1);
  int64_t res = ec.resolution;
  for (int64_t i = 0; i < ec.num_levels(); ++i) {
    const std::string lp = "encoder.down." + std::to_string(i);
    for (int64_t j = 0; j < ec.num_res_blocks[size_t(i)]; ++j) {
      h = g.resnet_block(h, lp + ".block." + std::to_string(j), ec.ch * ec.ch_mult[size_t(i)]);
      if (has_attn(ec, res)) h = g.attn_block(h, lp + ".attn." + std::to_string(j));
    }
    if (i != ec.num_levels() - 1) {
      h = g.conv(h, lp + ".downsample.conv", g.act(h).c, 3, 2, 0, 1);
      res /= 2;
    }
  }
  h = g.resnet_block(h, "encoder.mid.block_1", g.act(h).c);
  h = g.attn_block(h, "encoder.mid.attn_1");
  h = g.resnet_block(h, "encoder.mid.block_2", g.act(h).c);
  h = g.conv(g.norm(h, "encoder.norm_out", true), "encoder.conv_out", ec.z_channels, 3, 1, 1, 1);
  const int z = g.conv(h, "encoder.quant_conv", ec.z_channels, 1, 1, 0, 0);
  const int q = g.quantize(z, lc.quantize);

  // Decoder (VqganDecoder::load / operator()).
  const int64_t levels = dc.num_levels();
  h = g.conv(g.conv(q, "decoder.post_quant_conv", dc.z_channels, 1, 1, 0, 0), "decoder.conv_in",
             dc.ch * dc.ch_mult[size_t(levels - 1)], 3, 1, 1, 1);
  h = g.resnet_block(h, "decoder.mid.block_1", g.act(h).c);
  h = g.attn_block(h, "decoder.mid.attn_1");
  h = g.resnet_block(h, "decoder.mid.block_2", g.act(h).c);
  res = dc.resolution >> (levels - 1);
  for (int64_t i = levels - 1; i >= 0; --i) {
    const std::string lp = "decoder.up." + std::to_string(i);
    for (int64_t j = 0; j < dc.num_res_blocks[size_t(i)]; ++j) {
      h = g.resnet_block(h, lp + ".block." + std::to_string(j), dc.ch * dc.ch_mult[size_t(i)]);
      if (has_attn(dc, res)) h = g.attn_block(h, lp + ".attn." + std::to_string(j));
    }
    if (i != 0) {
      h = g.conv(g.upsample(h), lp + ".upsample.conv", g.act(h).c, 3, 1, 1, 1);
      res *= 2;
    }
  }
  const int out = g.conv(g.norm(h, "decoder.norm_out", true), "decoder.conv_out", dc.out_ch, 3, 1, 1, 1);

  VqStepResult r;
  const int64_t bits = cfg_.codebook_dim, rows = g.act(z).numel() / bits;
  const T* zv = g.act(z).v.data();
  r.codes.resize(size_t(rows));
  for (int64_t p = 0; p < rows; ++p) {
    int64_t code = 0;
    for (int64_t c = 0; c < bits; ++c) code = (code << 1) | (zv[p * bits + c] > T(0) ? 1 : 0);
    r.codes[size_t(p)] = code;
  }
  const int64_t count = g.act(out).numel();
  r.recon = recon_loss(g.act(out).v.data(), pixels, count, lc.recon, lc.recon_weight,
                       backward ? g.grad(out) : nullptr);
  r.lfq = lfq_losses(zv, rows, bits, lc.lfq, backward ? g.grad(z) : nullptr);
  r.loss = lc.recon_weight * r.recon + lc.lfq.commitment * r.lfq.commitment +
           lc.lfq.entropy * (r.lfq.sample_entropy - lc.lfq.gamma * r.lfq.codebook_entropy);
  if (keep) {
    r.recon_pixels.assign(g.act(out).v.begin(), g.act(out).v.end());
    r.latent.assign(g.act(z).v.begin(), g.act(z).v.end());
  }
  if (backward) g.backward();
  return r;
}

template <class T>
std::vector<std::pair<std::string, Tensor>> VqNet<T>::tensors() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Param& p : params_) {
    Tensor t = Tensor::empty(DType::F32, p.shape);
    for (int64_t i = 0; i < p.numel; ++i) t.ptr<float>()[i] = float(w_[size_t(p.offset + i)]);
    out.emplace_back(p.name, t);
  }
  out.emplace_back("quantize.embedding", quant_embedding_);
  out.emplace_back("quantize.power_vals", quant_power_vals_);
  return out;
}

template <class T>
void VqNet<T>::set_from(const std::map<std::string, Tensor>& tensors, const std::string& where) {
  for (const Param& p : params_) {
    auto it = tensors.find(p.name);
    MMADA_CHECK(it != tensors.end(), where, ": missing tensor '", p.name, "'");
    MMADA_CHECK(it->second.shape == p.shape, where, ": tensor '", p.name, "' has shape ",
                shape_str(it->second.shape), ", expected ", shape_str(p.shape));
    const Tensor f = it->second.to_f32();
    for (int64_t i = 0; i < p.numel; ++i) w_[size_t(p.offset + i)] = T(f.ptr<float>()[i]);
  }
}

template <class T>
Magvit VqNet<T>::engine_model() const {
  std::map<std::string, Tensor> named;
  for (auto& [name, t] : tensors()) named[name] = t;
  return Magvit::build(cfg_, [&](const std::string& name, const Shape& shape) {
    auto it = named.find(name);
    MMADA_CHECK(it != named.end() && it->second.shape == shape, "VqNet: no tensor '", name, "' of shape ",
                shape_str(shape));
    return it->second;
  });
}

template class VqNet<float>;
template class VqNet<double>;

}  // namespace mmada::train
