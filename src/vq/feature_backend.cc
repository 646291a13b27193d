#include "vq/feature_backend.h"

#include "core/error.h"
#include "vq/feature_ops.h"
#include "vq/magvit_blocks.h"

namespace mmada {

namespace {

// Host memory; the layers are the oneDNN / OpenMP implementations of conv2d.h and feature_ops.h.
class CpuFeatureBackend : public FeatureBackend {
 public:
  std::string name() const override { return "cpu"; }
  Tensor upload(const Tensor& host) override { return host; }
  Tensor download(const Tensor& x) override { return x; }
  Tensor conv(const Conv2d& c, const Tensor& x, const Tensor* residual, bool) override {
    return c(x, residual);
  }
  Tensor group_norm(const GroupNorm32& n, const Tensor& x, bool swish) override {
    return mmada::group_norm(x, n.weight, n.bias, 32, 1e-6f, swish);
  }
  Tensor upsample2x(const Tensor& x) override { return upsample_nearest2x(x); }
  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v) override {
    return spatial_attention(q, k, v);
  }
};

}  // namespace

std::shared_ptr<FeatureBackend> cpu_feature_backend() {
  static const std::shared_ptr<FeatureBackend> cpu = std::make_shared<CpuFeatureBackend>();
  return cpu;
}

std::shared_ptr<FeatureBackend> feature_backend_for(const std::shared_ptr<Backend>& be, ConvMath math) {
  MMADA_CHECK(be != nullptr, "feature_backend_for: no backend");
  return be->native_stream() ? cuda_feature_backend(be, math) : cpu_feature_backend();
}

#ifndef MMADA_WITH_CUDA
std::shared_ptr<FeatureBackend> cuda_feature_backend(std::shared_ptr<Backend>, ConvMath) {
  fail("this mmada was built without CUDA (configure with -DMMADA_CUDA=ON on a machine with nvcc)");
}
#endif

}  // namespace mmada
