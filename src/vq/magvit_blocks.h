// Building blocks of the MAGVIT-v2 encoder/decoder (vq.md §2), each loading its tensors by the
// showlab names under a prefix and running its layers on a FeatureBackend. Feature maps are
// float32 NHWC [N, H, W, C] in that backend's memory.
#pragma once
#include <functional>
#include <string>

#include "core/tensor.h"
#include "vq/conv2d.h"
#include "vq/feature_backend.h"

namespace mmada {

// Returns the float32 tensor `name`, which must have `shape` (throws mmada::Error otherwise).
using WeightFn = std::function<Tensor(const std::string& name, const Shape& shape)>;

// Normalize: GroupNorm(32 groups, eps 1e-6) with affine weight/bias.
struct GroupNorm32 {
  Tensor weight, bias;
  static GroupNorm32 load(const WeightFn& get, const std::string& prefix, int64_t channels);
  Tensor operator()(FeatureBackend& fb, const Tensor& x, bool swish) const {
    return fb.group_norm(*this, x, swish);
  }
};

Conv2d load_conv(const WeightFn& get, const std::string& prefix, int64_t in, int64_t out,
                 int64_t kernel, int64_t stride, int64_t pad_lt, int64_t pad_rb);

// x + conv2(swish(norm2(conv1(swish(norm1(x)))))), with a 1x1 nin_shortcut when in != out.
struct ResnetBlock {
  GroupNorm32 norm1, norm2;
  Conv2d conv1, conv2, nin_shortcut;
  bool has_shortcut = false;
  static ResnetBlock load(const WeightFn& get, const std::string& prefix, int64_t in, int64_t out);
  Tensor operator()(FeatureBackend& fb, const Tensor& x) const;
};

// x + proj_out(attention(q(h), k(h), v(h))), h = norm(x); single head over H*W positions.
struct AttnBlock {
  GroupNorm32 norm;
  Conv2d q, k, v, proj_out;
  static AttnBlock load(const WeightFn& get, const std::string& prefix, int64_t channels);
  Tensor operator()(FeatureBackend& fb, const Tensor& x) const;
};

// Zero pad one column right and one row bottom, then 3x3 conv stride 2: H x W -> H/2 x W/2.
struct Downsample {
  Conv2d conv;
  static Downsample load(const WeightFn& get, const std::string& prefix, int64_t channels);
  Tensor operator()(FeatureBackend& fb, const Tensor& x) const { return fb.conv(conv, x, nullptr); }
};

// Nearest x2, then 3x3 conv pad 1.
struct Upsample {
  Conv2d conv;
  static Upsample load(const WeightFn& get, const std::string& prefix, int64_t channels);
  Tensor operator()(FeatureBackend& fb, const Tensor& x) const;
};

}  // namespace mmada
