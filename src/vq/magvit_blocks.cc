#include "vq/magvit_blocks.h"

namespace mmada {

GroupNorm32 GroupNorm32::load(const WeightFn& get, const std::string& prefix, int64_t channels) {
  return {get(prefix + ".weight", {channels}), get(prefix + ".bias", {channels})};
}

Conv2d load_conv(const WeightFn& get, const std::string& prefix, int64_t in, int64_t out,
                 int64_t kernel, int64_t stride, int64_t pad_lt, int64_t pad_rb) {
  return Conv2d(get(prefix + ".weight", {out, in, kernel, kernel}), get(prefix + ".bias", {out}),
                stride, pad_lt, pad_rb);
}

ResnetBlock ResnetBlock::load(const WeightFn& get, const std::string& p, int64_t in, int64_t out) {
  ResnetBlock b;
  b.norm1 = GroupNorm32::load(get, p + ".norm1", in);
  b.conv1 = load_conv(get, p + ".conv1", in, out, 3, 1, 1, 1);
  b.norm2 = GroupNorm32::load(get, p + ".norm2", out);
  b.conv2 = load_conv(get, p + ".conv2", out, out, 3, 1, 1, 1);
  b.has_shortcut = in != out;
  if (b.has_shortcut) b.nin_shortcut = load_conv(get, p + ".nin_shortcut", in, out, 1, 1, 0, 0);
  return b;
}

Tensor ResnetBlock::operator()(FeatureBackend& fb, const Tensor& x) const {
  Tensor h = fb.conv(conv1, norm1(fb, x, true), nullptr);
  h = norm2(fb, h, true);
  if (has_shortcut) {
    const Tensor s = fb.conv(nin_shortcut, x, nullptr);
    return fb.conv(conv2, h, &s);
  }
  return fb.conv(conv2, h, &x);
}

AttnBlock AttnBlock::load(const WeightFn& get, const std::string& p, int64_t c) {
  AttnBlock a;
  a.norm = GroupNorm32::load(get, p + ".norm", c);
  a.q = load_conv(get, p + ".q", c, c, 1, 1, 0, 0);
  a.k = load_conv(get, p + ".k", c, c, 1, 1, 0, 0);
  a.v = load_conv(get, p + ".v", c, c, 1, 1, 0, 0);
  a.proj_out = load_conv(get, p + ".proj_out", c, c, 1, 1, 0, 0);
  return a;
}

Tensor AttnBlock::operator()(FeatureBackend& fb, const Tensor& x) const {
  const Tensor h = norm(fb, x, false);
  const Tensor o = fb.attention(fb.conv(q, h, nullptr), fb.conv(k, h, nullptr), fb.conv(v, h, nullptr));
  return fb.conv(proj_out, o, &x);
}

Downsample Downsample::load(const WeightFn& get, const std::string& p, int64_t c) {
  return {load_conv(get, p + ".conv", c, c, 3, 2, 0, 1)};
}

Upsample Upsample::load(const WeightFn& get, const std::string& p, int64_t c) {
  return {load_conv(get, p + ".conv", c, c, 3, 1, 1, 1)};
}

Tensor Upsample::operator()(FeatureBackend& fb, const Tensor& x) const {
  return fb.conv(conv, fb.upsample2x(x), nullptr);
}

}  // namespace mmada
