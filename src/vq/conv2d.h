// 2-D convolution with bias and zero padding, as torch.nn.Conv2d, on float32 feature maps kept
// channels-last (NHWC, [N, H, W, C]): oneDNN's brgemm convolution works on NHWC directly, so
// no layout reorders run between layers (with NCHW they took ~25% of the decoder's time).
// Default path: oneDNN's convolution primitive. A plain im2col + SGEMM path is kept for
// comparison (bench/magvit_bench.cc) and as a cross-check in the tests.
#pragma once
#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace mmada {

enum class ConvImpl { OneDnn, Im2colGemm };
// Process-wide choice of the convolution path (default OneDnn).
void set_conv_impl(ConvImpl impl);
ConvImpl conv_impl();

class Conv2d {
 public:
  Conv2d() = default;
  // weight [O, I, kh, kw] and bias [O], float32 contiguous (kept alive by the tensors' owners).
  // pad_lt pads top and left, pad_rb bottom and right (MAGVIT's Downsample uses 0 / 1).
  Conv2d(Tensor weight, Tensor bias, int64_t stride, int64_t pad_lt, int64_t pad_rb);

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int64_t kernel_h() const { return kh_; }
  int64_t kernel_w() const { return kw_; }
  int64_t stride() const { return stride_; }
  int64_t pad_lt() const { return pad_lt_; }
  int64_t pad_rb() const { return pad_rb_; }
  const Tensor& weight() const { return weight_; }  // [O, I, kh, kw] float32, host
  const Tensor& bias() const { return bias_; }
  // Output shape for an NHWC input; throws on a channel count or size that does not fit.
  Shape output_shape(const Shape& x) const;

  // x NHWC [N, H, W, I] -> [N, H', W', O]. With `residual` (shape of the output) the result
  // is conv(x) + residual (fused into the primitive as a sum post-op).
  Tensor operator()(const Tensor& x, const Tensor* residual = nullptr) const;

 private:
  struct Cache;  // oneDNN primitives and re-laid weights per input shape
  Tensor forward_onednn(const Tensor& x, const Tensor* residual) const;
  Tensor forward_im2col(const Tensor& x, const Tensor* residual) const;

  Tensor weight_, bias_;
  int64_t out_ = 0, in_ = 0, kh_ = 0, kw_ = 0, stride_ = 1, pad_lt_ = 0, pad_rb_ = 0;
  std::shared_ptr<Cache> cache_;
};

}  // namespace mmada
