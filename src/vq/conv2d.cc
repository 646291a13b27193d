#include "vq/conv2d.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "core/error.h"

namespace mmada {

namespace {

std::atomic<ConvImpl> g_conv_impl{ConvImpl::OneDnn};

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

}  // namespace

void set_conv_impl(ConvImpl impl) { g_conv_impl = impl; }
ConvImpl conv_impl() { return g_conv_impl; }

// One primitive per (N, H, W, with-residual); weights reordered into its layout once.
struct Conv2d::Cache {
  struct Plan {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    dnnl::memory weights;  // in pd.weights_desc() layout
    dnnl::memory bias;
  };
  std::mutex mu;
  std::map<std::tuple<int64_t, int64_t, int64_t, bool>, std::shared_ptr<Plan>> plans;
};

Conv2d::Conv2d(Tensor weight, Tensor bias, int64_t stride, int64_t pad_lt, int64_t pad_rb)
    : weight_(std::move(weight)), bias_(std::move(bias)), stride_(stride), pad_lt_(pad_lt),
      pad_rb_(pad_rb), cache_(std::make_shared<Cache>()) {
  MMADA_CHECK(weight_.dim() == 4 && weight_.dtype == DType::F32 && weight_.contiguous(),
              "Conv2d: weight must be float32 contiguous [O, I, kh, kw], got ",
              shape_str(weight_.shape));
  out_ = weight_.size(0), in_ = weight_.size(1), kh_ = weight_.size(2), kw_ = weight_.size(3);
  MMADA_CHECK(bias_.dtype == DType::F32 && bias_.numel() == out_, "Conv2d: bias of shape ",
              shape_str(bias_.shape), " does not match ", out_, " output channels");
  MMADA_CHECK(stride_ >= 1 && pad_lt_ >= 0 && pad_rb_ >= 0, "Conv2d: bad stride/padding");
}

Shape Conv2d::output_shape(const Shape& x) const {
  MMADA_CHECK(x.size() == 4 && x[3] == in_, "Conv2d: input ", shape_str(x),
              " is not NHWC with ", in_, " channels");
  const int64_t oh = (x[1] + pad_lt_ + pad_rb_ - kh_) / stride_ + 1;
  const int64_t ow = (x[2] + pad_lt_ + pad_rb_ - kw_) / stride_ + 1;
  MMADA_CHECK(x[1] + pad_lt_ + pad_rb_ >= kh_ && x[2] + pad_lt_ + pad_rb_ >= kw_ && oh > 0 && ow > 0,
              "Conv2d: input ", shape_str(x), " smaller than kernel");
  return {x[0], oh, ow, out_};
}

Tensor Conv2d::operator()(const Tensor& x, const Tensor* residual) const {
  MMADA_CHECK(cache_, "Conv2d: used before being built");
  MMADA_CHECK(x.dtype == DType::F32 && x.contiguous(), "Conv2d: input must be float32 contiguous");
  const Shape out = output_shape(x.shape);
  if (residual)
    MMADA_CHECK(residual->shape == out && residual->contiguous(),
                "Conv2d: residual ", shape_str(residual->shape), " does not match the output");
  return g_conv_impl == ConvImpl::OneDnn ? forward_onednn(x, residual)
                                         : forward_im2col(x, residual);
}

Tensor Conv2d::forward_onednn(const Tensor& x, const Tensor* residual) const {
  using dims = dnnl::memory::dims;
  const int64_t n = x.size(0), h = x.size(1), w = x.size(2);
  const int64_t oh = (h + pad_lt_ + pad_rb_ - kh_) / stride_ + 1;
  const int64_t ow = (w + pad_lt_ + pad_rb_ - kw_) / stride_ + 1;
  auto& eng = engine();
  // oneDNN describes tensors by logical NCHW dims plus a layout tag.
  const dnnl::memory::desc src_md({n, in_, h, w}, dt::f32, tag::nhwc);
  const dnnl::memory::desc dst_md({n, out_, oh, ow}, dt::f32, tag::nhwc);

  std::shared_ptr<Cache::Plan> plan;
  {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto& slot = cache_->plans[{n, h, w, residual != nullptr}];
    if (!slot) {
      const dnnl::memory::desc wei_any({out_, in_, kh_, kw_}, dt::f32, tag::any);
      const dnnl::memory::desc bias_md({out_}, dt::f32, tag::x);
      dnnl::convolution_forward::desc d(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
          wei_any, bias_md, dst_md, dims{stride_, stride_}, dims{pad_lt_, pad_lt_},
          dims{pad_rb_, pad_rb_});
      dnnl::primitive_attr attr;
      if (residual) {
        dnnl::post_ops po;
        po.append_sum(1.0f);
        attr.set_post_ops(po);
      }
      auto p = std::make_shared<Cache::Plan>();
      p->pd = dnnl::convolution_forward::primitive_desc(d, attr, eng);
      p->prim = dnnl::convolution_forward(p->pd);
      dnnl::memory user_w({{out_, in_, kh_, kw_}, dt::f32, tag::oihw}, eng, weight_.data);
      p->weights = dnnl::memory(p->pd.weights_desc(), eng);
      dnnl::stream s(eng);
      dnnl::reorder(user_w, p->weights).execute(s, user_w, p->weights);
      s.wait();
      p->bias = dnnl::memory(bias_md, eng, bias_.data);
      slot = p;
    }
    plan = slot;
  }

  Tensor y = Tensor::empty(DType::F32, {n, oh, ow, out_});
  // The sum post-op adds the destination's previous content.
  if (residual) std::memcpy(y.data, residual->data, y.nbytes());
  dnnl::stream s(eng);
  dnnl::memory src(src_md, eng, x.data), dst(dst_md, eng, y.data);
  plan->prim.execute(s, {{DNNL_ARG_SRC, src},
                         {DNNL_ARG_WEIGHTS, plan->weights},
                         {DNNL_ARG_BIAS, plan->bias},
                         {DNNL_ARG_DST, dst}});
  s.wait();
  return y;
}

// im2col + SGEMM, tiled over output rows so the column buffer stays ~32 MB:
// out[p, o] = sum_k col[p, k] * W[o, k], p = output pixel, k = (i, dy, dx) as W is stored.
Tensor Conv2d::forward_im2col(const Tensor& x, const Tensor* residual) const {
  const int64_t n = x.size(0), h = x.size(1), w = x.size(2);
  const int64_t oh = (h + pad_lt_ + pad_rb_ - kh_) / stride_ + 1;
  const int64_t ow = (w + pad_lt_ + pad_rb_ - kw_) / stride_ + 1;
  const int64_t K = in_ * kh_ * kw_;
  const int64_t rows_per_tile =
      std::clamp<int64_t>((int64_t(8) << 20) / std::max<int64_t>(1, K * ow), 1, oh);
  Tensor y = Tensor::empty(DType::F32, {n, oh, ow, out_});
  std::vector<float> col(size_t(K * rows_per_tile * ow));
  const float* wt = weight_.ptr<float>();
  const float* bias = bias_.ptr<float>();
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x.ptr<float>() + b * h * w * in_;
    float* yb = y.ptr<float>() + b * oh * ow * out_;
    for (int64_t r0 = 0; r0 < oh; r0 += rows_per_tile) {
      const int64_t r1 = std::min(oh, r0 + rows_per_tile), pixels = (r1 - r0) * ow;
#pragma omp parallel for
      for (int64_t p = 0; p < pixels; ++p) {
        const int64_t r = r0 + p / ow, c = p % ow;
        float* dst = col.data() + p * K;
        for (int64_t i = 0; i < in_; ++i)
          for (int64_t dy = 0; dy < kh_; ++dy)
            for (int64_t dx = 0; dx < kw_; ++dx) {
              const int64_t iy = r * stride_ - pad_lt_ + dy, ix = c * stride_ - pad_lt_ + dx;
              const bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
              *dst++ = in ? xb[(iy * w + ix) * in_ + i] : 0.f;
            }
      }
      dnnl::sgemm('N', 'T', pixels, out_, K, 1.f, col.data(), K, wt, K, 0.f,
                  yb + r0 * ow * out_, out_);
    }
#pragma omp parallel for
    for (int64_t p = 0; p < oh * ow; ++p) {
      float* yp = yb + p * out_;
      const float* rp = residual ? residual->ptr<float>() + (b * oh * ow + p) * out_ : nullptr;
      for (int64_t o = 0; o < out_; ++o) yp[o] = (yp[o] + bias[o]) + (rp ? rp[o] : 0.f);
    }
  }
  return y;
}

}  // namespace mmada
