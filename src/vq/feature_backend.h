// Where MAGVIT-v2's feature maps live and how its layers run. The encoder and decoder
// (vqgan_nets.cc, magvit_blocks.cc) are written once against this interface; the CPU version
// runs the oneDNN / OpenMP code of conv2d.h and feature_ops.h, the CUDA version runs cuDNN
// convolutions and the kernels of vq/cuda_features.cu on the transformer backend's stream and
// memory pool. Feature maps are float32 NHWC [N, H, W, C] in the backend's memory.
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/tensor.h"

namespace mmada {

class Conv2d;
struct GroupNorm32;

// Arithmetic of the GPU convolutions: Exact is float32 FMA (matches the CPU to ~1e-6); Tf32
// lets cuDNN use TF32 tensor cores (operands rounded to 10 mantissa bits, as PyTorch does by
// default): ~7x faster, decoded pixels within +-1 of the exact 8-bit values, but latents move
// enough to flip a few encoded codes, so encoding always runs Exact. The CPU ignores it.
enum class ConvMath { Exact, Tf32 };

class FeatureBackend {
 public:
  virtual ~FeatureBackend() = default;
  virtual std::string name() const = 0;

  // Host NHWC <-> backend memory (the CPU version returns its argument).
  virtual Tensor upload(const Tensor& host) = 0;
  virtual Tensor download(const Tensor& x) = 0;

  // conv(x) (+ residual, same shape as the output). `exact` forces float32 arithmetic where the
  // backend would otherwise round (TF32): for the layer that writes pixels.
  virtual Tensor conv(const Conv2d& c, const Tensor& x, const Tensor* residual, bool exact = false) = 0;
  // GroupNorm(32 groups, eps 1e-6, statistics in float64), optionally followed by swish.
  virtual Tensor group_norm(const GroupNorm32& n, const Tensor& x, bool swish) = 0;
  virtual Tensor upsample2x(const Tensor& x) = 0;  // nearest neighbour
  // Single-head attention over the H*W positions of q, k, v [N, H, W, C], scale C^-0.5.
  virtual Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v) = 0;
};

std::shared_ptr<FeatureBackend> cpu_feature_backend();
// On a CUDA transformer backend (its stream and memory). cuDNN is loaded at first use, so a
// CUDA build runs without it until a MAGVIT layer is asked to run on the GPU; then a missing
// cuDNN is a clear error. Throws in a build without CUDA.
std::shared_ptr<FeatureBackend> cuda_feature_backend(std::shared_ptr<Backend> cuda, ConvMath math);
// The feature backend that matches a transformer backend (CPU for "cpu", CUDA for "cuda:N").
std::shared_ptr<FeatureBackend> feature_backend_for(const std::shared_ptr<Backend>& be,
                                                    ConvMath math = ConvMath::Exact);

}  // namespace mmada
