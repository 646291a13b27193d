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

Tensor Conv2d::operator()(const Tensor& x, const Tensor* residual) const {
  MMADA_CHECK(cache_, "Conv2d: used before being built");
  MMADA_CHECK(x.dim() == 4 && x.dtype == DType::F32 && x.contiguous() && x.size(1) == in_,
              "Conv2d: input ", shape_str(x.shape), " is not float32 NCHW with ", in_,
              " channels");
  const int64_t oh = (x.size(2) + pad_lt_ + pad_rb_ - kh_) / stride_ + 1;
  const int64_t ow = (x.size(3) + pad_lt_ + pad_rb_ - kw_) / stride_ + 1;
  MMADA_CHECK(oh > 0 && ow > 0, "Conv2d: input ", shape_str(x.shape), " smaller than kernel");
  if (residual)
    MMADA_CHECK(residual->shape == (Shape{x.size(0), out_, oh, ow}) && residual->contiguous(),
                "Conv2d: residual ", shape_str(residual->shape), " does not match the output");
  return g_conv_impl == ConvImpl::OneDnn ? forward_onednn(x, residual)
                                         : forward_im2col(x, residual);
}

Tensor Conv2d::forward_onednn(const Tensor& x, const Tensor* residual) const {
  using dims = dnnl::memory::dims;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const int64_t oh = (h + pad_lt_ + pad_rb_ - kh_) / stride_ + 1;
  const int64_t ow = (w + pad_lt_ + pad_rb_ - kw_) / stride_ + 1;
  auto& eng = engine();
  const dnnl::memory::desc src_plain({n, in_, h, w}, dt::f32, tag::nchw);
  const dnnl::memory::desc dst_plain({n, out_, oh, ow}, dt::f32, tag::nchw);

  std::shared_ptr<Cache::Plan> plan;
  {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto& slot = cache_->plans[{n, h, w, residual != nullptr}];
    if (!slot) {
      const dnnl::memory::desc src_any({n, in_, h, w}, dt::f32, tag::any);
      const dnnl::memory::desc dst_any({n, out_, oh, ow}, dt::f32, tag::any);
      const dnnl::memory::desc wei_any({out_, in_, kh_, kw_}, dt::f32, tag::any);
      const dnnl::memory::desc bias_md({out_}, dt::f32, tag::x);
      dnnl::convolution_forward::desc d(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_any,
          wei_any, bias_md, dst_any, dims{stride_, stride_}, dims{pad_lt_, pad_lt_},
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

  Tensor y = Tensor::empty(DType::F32, {n, out_, oh, ow});
  dnnl::stream s(eng);
  dnnl::memory x_user(src_plain, eng, x.data);
  dnnl::memory y_user(dst_plain, eng, y.data);
  dnnl::memory src = x_user, dst = y_user;
  if (plan->pd.src_desc() != src_plain) {
    src = dnnl::memory(plan->pd.src_desc(), eng);
    dnnl::reorder(x_user, src).execute(s, x_user, src);
  }
  if (plan->pd.dst_desc() != dst_plain) dst = dnnl::memory(plan->pd.dst_desc(), eng);
  if (residual) {  // the sum post-op adds the destination's previous content
    dnnl::memory r_user(dst_plain, eng, residual->data);
    dnnl::reorder(r_user, dst).execute(s, r_user, dst);
  }
  plan->prim.execute(s, {{DNNL_ARG_SRC, src},
                         {DNNL_ARG_WEIGHTS, plan->weights},
                         {DNNL_ARG_BIAS, plan->bias},
                         {DNNL_ARG_DST, dst}});
  if (dst != y_user) dnnl::reorder(dst, y_user).execute(s, dst, y_user);
  s.wait();
  return y;
}

// im2col + SGEMM, tiled over output rows so the column buffer stays ~32 MB:
// out[o, r*OW + c] = sum_k W[o, k] * col[k, r*OW + c], k = (i, dy, dx).
Tensor Conv2d::forward_im2col(const Tensor& x, const Tensor* residual) const {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const int64_t oh = (h + pad_lt_ + pad_rb_ - kh_) / stride_ + 1;
  const int64_t ow = (w + pad_lt_ + pad_rb_ - kw_) / stride_ + 1;
  const int64_t K = in_ * kh_ * kw_;
  const int64_t rows_per_tile = std::clamp<int64_t>((int64_t(8) << 20) / std::max<int64_t>(1, K * ow), 1, oh);
  Tensor y = Tensor::empty(DType::F32, {n, out_, oh, ow});
  std::vector<float> col(size_t(K * rows_per_tile * ow));
  const float* wt = weight_.ptr<float>();
  const float* bias = bias_.ptr<float>();
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x.ptr<float>() + b * in_ * h * w;
    float* yb = y.ptr<float>() + b * out_ * oh * ow;
    for (int64_t r0 = 0; r0 < oh; r0 += rows_per_tile) {
      const int64_t r1 = std::min(oh, r0 + rows_per_tile), cols = (r1 - r0) * ow;
#pragma omp parallel for
      for (int64_t k = 0; k < K; ++k) {
        const int64_t i = k / (kh_ * kw_), dy = (k / kw_) % kh_, dx = k % kw_;
        float* dst = col.data() + k * cols;
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t iy = r * stride_ - pad_lt_ + dy;
          for (int64_t c = 0; c < ow; ++c) {
            const int64_t ix = c * stride_ - pad_lt_ + dx;
            const bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
            *dst++ = in ? xb[(i * h + iy) * w + ix] : 0.f;
          }
        }
      }
      dnnl::sgemm('N', 'N', out_, cols, K, 1.f, wt, K, col.data(), cols, 0.f, yb + r0 * ow,
                  oh * ow);
    }
#pragma omp parallel for
    for (int64_t o = 0; o < out_; ++o) {
      float* yo = yb + o * oh * ow;
      const float* ro = residual ? residual->ptr<float>() + (b * out_ + o) * oh * ow : nullptr;
      for (int64_t p = 0; p < oh * ow; ++p) yo[p] = (yo[p] + bias[o]) + (ro ? ro[p] : 0.f);
    }
  }
  return y;
}

}  // namespace mmada
