// MAGVIT-v2's layers on the GPU: convolutions through cuDNN (NHWC float32; FMA math, or TF32
// tensor cores: see ConvMath), GroupNorm / swish / up-sampling /
// padding as kernels here, and the mid-block attention through the transformer backend's exact
// float32 attention. Everything is enqueued on the transformer backend's stream, in its memory
// pool, so MAGVIT and the transformer share one device queue.
//
// cuDNN is opened with dlopen at first use: the GPU machine carries its own cuDNN 9 (in the
// Python packages), and a CUDA build without it still runs the transformer.
#include <cudnn.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "backend/cuda/cuda_check.h"
#include "core/error.h"
#include "vq/feature_backend.h"
#include "vq/magvit_blocks.h"

namespace mmada {

namespace {

// The legacy cuDNN entry points we use, resolved from libcudnn.so.9.
struct Cudnn {
#define MMADA_CUDNN_FN(name) decltype(&::name) name = nullptr;
  MMADA_CUDNN_FN(cudnnGetErrorString)
  MMADA_CUDNN_FN(cudnnCreate)
  MMADA_CUDNN_FN(cudnnSetStream)
  MMADA_CUDNN_FN(cudnnCreateTensorDescriptor)
  MMADA_CUDNN_FN(cudnnSetTensor4dDescriptor)
  MMADA_CUDNN_FN(cudnnDestroyTensorDescriptor)
  MMADA_CUDNN_FN(cudnnCreateFilterDescriptor)
  MMADA_CUDNN_FN(cudnnSetFilter4dDescriptor)
  MMADA_CUDNN_FN(cudnnDestroyFilterDescriptor)
  MMADA_CUDNN_FN(cudnnCreateConvolutionDescriptor)
  MMADA_CUDNN_FN(cudnnSetConvolution2dDescriptor)
  MMADA_CUDNN_FN(cudnnSetConvolutionMathType)
  MMADA_CUDNN_FN(cudnnDestroyConvolutionDescriptor)
  MMADA_CUDNN_FN(cudnnFindConvolutionForwardAlgorithmEx)
  MMADA_CUDNN_FN(cudnnGetConvolutionForwardAlgorithm_v7)
  MMADA_CUDNN_FN(cudnnConvolutionForward)
#undef MMADA_CUDNN_FN

  static const Cudnn& get() {
    static const Cudnn lib = open();
    return lib;
  }

 private:
  static Cudnn open() {
    void* h = nullptr;
    std::string tried;
    for (const char* so : {"libcudnn.so.9", "libcudnn.so"}) {
      if ((h = dlopen(so, RTLD_NOW | RTLD_GLOBAL))) break;
      tried += std::string(" ") + so + ": " + dlerror() + ";";
    }
    MMADA_CHECK(h, "MAGVIT on the GPU needs cuDNN 9, which could not be loaded (", tried,
                " ). Put its lib folder on LD_LIBRARY_PATH, or run MAGVIT on the CPU");
    Cudnn c;
    const auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      MMADA_CHECK(fn, "cuDNN library lacks ", name);
    };
#define MMADA_CUDNN_SYM(name) sym(c.name, #name);
    MMADA_CUDNN_SYM(cudnnGetErrorString)
    MMADA_CUDNN_SYM(cudnnCreate)
    MMADA_CUDNN_SYM(cudnnSetStream)
    MMADA_CUDNN_SYM(cudnnCreateTensorDescriptor)
    MMADA_CUDNN_SYM(cudnnSetTensor4dDescriptor)
    MMADA_CUDNN_SYM(cudnnDestroyTensorDescriptor)
    MMADA_CUDNN_SYM(cudnnCreateFilterDescriptor)
    MMADA_CUDNN_SYM(cudnnSetFilter4dDescriptor)
    MMADA_CUDNN_SYM(cudnnDestroyFilterDescriptor)
    MMADA_CUDNN_SYM(cudnnCreateConvolutionDescriptor)
    MMADA_CUDNN_SYM(cudnnSetConvolution2dDescriptor)
    MMADA_CUDNN_SYM(cudnnSetConvolutionMathType)
    MMADA_CUDNN_SYM(cudnnDestroyConvolutionDescriptor)
    MMADA_CUDNN_SYM(cudnnFindConvolutionForwardAlgorithmEx)
    MMADA_CUDNN_SYM(cudnnGetConvolutionForwardAlgorithm_v7)
    MMADA_CUDNN_SYM(cudnnConvolutionForward)
#undef MMADA_CUDNN_SYM
    return c;
  }
};

#define MMADA_CUDNN_CHECK(expr)                                                              \
  do {                                                                                       \
    const cudnnStatus_t s_ = (expr);                                                         \
    if (s_ != CUDNN_STATUS_SUCCESS)                                                          \
      ::mmada::fail("cuDNN error in ", #expr, " at ", __FILE__, ":", __LINE__, ": ",         \
                    Cudnn::get().cudnnGetErrorString(s_));                                   \
  } while (0)

unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

// y[p, c] = bias[c] (+ res[p, c]): the convolution then accumulates into y (beta = 1).
__global__ void bias_residual_kernel(float* y, const float* bias, const float* res, int64_t n,
                                     int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = bias[i % C] + (res ? res[i] : 0.0f);
}

// Zero padding of NHWC x by `lt` rows/columns at the top/left and `rb` at the bottom/right
// (cuDNN pads symmetrically; MAGVIT's Downsample pads 0 / 1).
__global__ void pad_kernel(const float* x, float* y, int64_t N, int64_t H, int64_t W, int64_t C,
                           int64_t lt, int64_t rb) {
  const int64_t Ho = H + lt + rb, Wo = W + lt + rb;
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * Ho * Wo * C) return;
  const int64_t c = i % C, xo = (i / C) % Wo, yo = (i / (C * Wo)) % Ho, n = i / (C * Wo * Ho);
  const int64_t yi = yo - lt, xi = xo - lt;
  y[i] = yi >= 0 && yi < H && xi >= 0 && xi < W ? x[((n * H + yi) * W + xi) * C + c] : 0.0f;
}

__global__ void upsample2x_kernel(const float* x, float* y, int64_t N, int64_t H, int64_t W,
                                  int64_t C) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * 4 * H * W * C) return;
  const int64_t c = i % C, xo = (i / C) % (2 * W), yo = (i / (C * 2 * W)) % (2 * H),
                n = i / (C * 4 * W * H);
  y[i] = x[((n * H + yo / 2) * W + xo / 2) * C + c];
}

// GroupNorm statistics: one thread per channel over a run of pixels, the channel sums (float64,
// as on the CPU) folded into per-group sums with atomics. stats: [N, G, 2] zeroed.
__global__ void group_stats_kernel(const float* x, int64_t HW, int64_t C, int64_t cg,
                                   int64_t pixels_per_block, double* stats, int64_t G) {
  extern __shared__ double part[];  // [C][2]
  const int64_t n = blockIdx.y, c = threadIdx.x;
  const int64_t p0 = int64_t(blockIdx.x) * pixels_per_block;
  const int64_t p1 = min(HW, p0 + pixels_per_block);
  double s = 0, q = 0;
  const float* xn = x + n * HW * C;
  for (int64_t p = p0; p < p1; ++p) {
    const double v = xn[p * C + c];
    s += v;
    q += v * v;
  }
  part[2 * c] = s, part[2 * c + 1] = q;
  __syncthreads();
  if (c % cg == 0) {
    for (int64_t k = 1; k < cg; ++k) s += part[2 * (c + k)], q += part[2 * (c + k) + 1];
    atomicAdd(&stats[(n * G + c / cg) * 2], s);
    atomicAdd(&stats[(n * G + c / cg) * 2 + 1], q);
  }
}

// scale/shift [N, C] from the group statistics, exactly the CPU's float64 formula.
__global__ void group_affine_kernel(const double* stats, const float* gamma, const float* beta,
                                    int64_t N, int64_t C, int64_t cg, double count, double eps,
                                    float* scale, float* shift) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * C) return;
  const int64_t n = i / C, c = i % C, G = C / cg, g = c / cg;
  const double mean = stats[(n * G + g) * 2] / count;
  const double var = fmax(0.0, stats[(n * G + g) * 2 + 1] / count - mean * mean);
  const double sc = (1.0 / sqrt(var + eps)) * double(gamma[c]);
  scale[i] = float(sc);
  shift[i] = float(double(beta[c]) - mean * sc);
}

__global__ void group_apply_kernel(const float* x, float* y, const float* scale,
                                   const float* shift, int64_t HW, int64_t C, int64_t total,
                                   bool swish) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int64_t c = i % C, n = i / (HW * C);
  const float t = x[i] * scale[n * C + c] + shift[n * C + c];
  y[i] = swish ? t / (1.0f + expf(-t)) : t;
}

class CudaFeatureBackend : public FeatureBackend {
 public:
  // CUDNN_DEFAULT_MATH lets cuDNN use TF32 tensor cores for float32 data.
  CudaFeatureBackend(std::shared_ptr<Backend> be, ConvMath math)
      : be_(std::move(be)), stream_(static_cast<cudaStream_t>(be_->native_stream())),
        math_(math == ConvMath::Exact ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH) {
    MMADA_CHECK(stream_, "cuda_feature_backend: backend ", be_->name(), " has no CUDA stream");
  }

  std::string name() const override {
    return be_->name() + (math_ == CUDNN_FMA_MATH ? "" : " (TF32 convolutions)");
  }

  Tensor upload(const Tensor& host) override { return be_->upload(host); }
  Tensor download(const Tensor& x) override {
    Tensor h = Tensor::empty(x.dtype, x.shape);
    be_->download(x.data, h.data, h.nbytes());
    return h;
  }

  Tensor conv(const Conv2d& c, const Tensor& x_in, const Tensor* residual, bool exact) override {
    const Shape out = c.output_shape(x_in.shape);
    if (residual)
      MMADA_CHECK(residual->shape == out, "Conv2d: residual ", shape_str(residual->shape),
                  " does not match the output ", shape_str(out));
    // cuDNN pads symmetrically: an asymmetric layer gets its padding here and none there.
    Tensor x = x_in;
    int64_t pad = c.pad_lt();
    if (c.pad_lt() != c.pad_rb()) {
      const int64_t N = x_in.size(0), H = x_in.size(1), W = x_in.size(2), C = x_in.size(3);
      const int64_t pl = c.pad_lt(), pr = c.pad_rb();
      x = be_->alloc(DType::F32, {N, H + pl + pr, W + pl + pr, C});
      pad_kernel<<<blocks_for(x.numel(), 256), 256, 0, stream_>>>(x_in.ptr<float>(), x.ptr<float>(),
                                                                  N, H, W, C, pl, pr);
      MMADA_CUDA_LAUNCHED();
      pad = 0;
    }
    const Weights& w = weights(c);
    Plan& plan = plan_for(c, w, x, pad, out, exact ? CUDNN_FMA_MATH : math_);
    Tensor y = be_->alloc(DType::F32, out);
    bias_residual_kernel<<<blocks_for(y.numel(), 256), 256, 0, stream_>>>(
        y.ptr<float>(), w.bias.ptr<float>(), residual ? residual->ptr<float>() : nullptr, y.numel(),
        out[3]);
    MMADA_CUDA_LAUNCHED();
    Tensor ws = be_->alloc(DType::U8, {int64_t(std::max<size_t>(plan.workspace, 1))});
    const float one = 1.0f;
    MMADA_CUDNN_CHECK(Cudnn::get().cudnnConvolutionForward(
        handle(), &one, plan.x, x.data, w.filter, w.krsc.data, plan.conv, plan.algo, ws.data,
        plan.workspace, &one, plan.y, y.data));
    return y;
  }

  Tensor group_norm(const GroupNorm32& g, const Tensor& x, bool swish) override {
    MMADA_CHECK(x.dim() == 4 && x.dtype == DType::F32, "group_norm: expected float32 NHWC, got ",
                shape_str(x.shape));
    const int64_t N = x.size(0), HW = x.size(1) * x.size(2), C = x.size(3), G = 32;
    MMADA_CHECK(C % G == 0 && C <= 1024 && g.weight.numel() == C,
                "group_norm: ", C, " channels do not fit 32 groups of the layer's ", g.weight.numel());
    const Affine& a = affine(g);
    const int64_t cg = C / G;
    Tensor stats = be_->alloc(DType::F64, {N, G, 2});
    MMADA_CUDA_CHECK(cudaMemsetAsync(stats.data, 0, stats.nbytes(), stream_));
    const int64_t ppb = std::max<int64_t>(16, HW / 1024);
    const dim3 grid(unsigned((HW + ppb - 1) / ppb), unsigned(N));
    group_stats_kernel<<<grid, unsigned(C), size_t(C) * 2 * sizeof(double), stream_>>>(
        x.ptr<float>(), HW, C, cg, ppb, stats.ptr<double>(), G);
    MMADA_CUDA_LAUNCHED();
    Tensor scale = be_->alloc(DType::F32, {N, C}), shift = be_->alloc(DType::F32, {N, C});
    group_affine_kernel<<<blocks_for(N * C, 256), 256, 0, stream_>>>(
        stats.ptr<double>(), a.gamma.ptr<float>(), a.beta.ptr<float>(), N, C, cg,
        double(HW * cg), 1e-6, scale.ptr<float>(), shift.ptr<float>());
    MMADA_CUDA_LAUNCHED();
    Tensor y = be_->alloc(DType::F32, x.shape);
    group_apply_kernel<<<blocks_for(x.numel(), 256), 256, 0, stream_>>>(
        x.ptr<float>(), y.ptr<float>(), scale.ptr<float>(), shift.ptr<float>(), HW, C, x.numel(),
        swish);
    MMADA_CUDA_LAUNCHED();
    return y;
  }

  Tensor upsample2x(const Tensor& x) override {
    const int64_t N = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
    Tensor y = be_->alloc(DType::F32, {N, 2 * H, 2 * W, C});
    upsample2x_kernel<<<blocks_for(y.numel(), 256), 256, 0, stream_>>>(x.ptr<float>(),
                                                                       y.ptr<float>(), N, H, W, C);
    MMADA_CUDA_LAUNCHED();
    return y;
  }

  Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v) override {
    MMADA_CHECK(q.shape == k.shape && q.shape == v.shape && q.dim() == 4,
                "spatial attention: q, k, v must be NHWC of one shape");
    Tensor o = be_->alloc(DType::F32, q.shape);
    // One head of width C over the H*W positions, no padding: the transformer's exact
    // float32 attention computes softmax(q·k * C^-0.5)·v per position.
    const int64_t len = q.size(1) * q.size(2);
    be_->attention(q.ptr<float>(), k.ptr<float>(), v.ptr<float>(), o.ptr<float>(), q.size(0), len, 0,
                   len, 1, 1, q.size(3), nullptr, cpu::MaskMode::Pair, false);
    return o;
  }

 private:
  struct Weights {
    // The host tensor stays referenced: the caches are keyed by its address, which must not be
    // recycled for another layer's weights while the entry lives.
    Tensor host;
    Tensor krsc, bias;  // weight re-laid [O, kh, kw, I] for cuDNN's NHWC filters
    cudnnFilterDescriptor_t filter = nullptr;
  };
  struct Plan {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    cudnnConvolutionFwdAlgo_t algo{};
    size_t workspace = 0;
  };
  struct Affine {
    Tensor host;  // pinned, as Weights::host
    Tensor gamma, beta;
  };

  cudnnHandle_t handle() {
    if (!handle_) {
      const Cudnn& dnn = Cudnn::get();
      MMADA_CUDNN_CHECK(dnn.cudnnCreate(&handle_));
      MMADA_CUDNN_CHECK(dnn.cudnnSetStream(handle_, stream_));
    }
    return handle_;
  }

  // Device copies of a layer's parameters, made at its first use (keyed by the host tensor).
  const Weights& weights(const Conv2d& c) {
    Weights& w = weights_[c.weight().data];
    if (w.filter) return w;
    w.host = c.weight();
    const int64_t O = c.out_channels(), I = c.in_channels(), kh = c.kernel_h(), kw = c.kernel_w();
    Tensor krsc = Tensor::empty(DType::F32, {O, kh, kw, I});
    const float* src = c.weight().ptr<float>();
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < I; ++i)
        for (int64_t r = 0; r < kh * kw; ++r)
          krsc.ptr<float>()[(o * kh * kw + r) * I + i] = src[(o * I + i) * kh * kw + r];
    w.krsc = be_->upload(krsc);
    w.bias = be_->upload(c.bias());
    const Cudnn& dnn = Cudnn::get();
    MMADA_CUDNN_CHECK(dnn.cudnnCreateFilterDescriptor(&w.filter));
    MMADA_CUDNN_CHECK(dnn.cudnnSetFilter4dDescriptor(w.filter, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC,
                                                     int(O), int(I), int(kh), int(kw)));
    return w;
  }

  const Affine& affine(const GroupNorm32& g) {
    Affine& a = affine_[g.weight.data];
    if (!a.gamma.data) a = {g.weight, be_->upload(g.weight), be_->upload(g.bias)};
    return a;
  }

  // Descriptors and the fastest algorithm for one layer at one input size, found once by
  // timing cuDNN's candidates (cudnnFind... writes a scratch output, not y).
  Plan& plan_for(const Conv2d& c, const Weights& w, const Tensor& x, int64_t pad, const Shape& out,
                 cudnnMathType_t math) {
    const auto key = std::make_tuple(c.weight().data, x.size(0), x.size(1), x.size(2), int(math));
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
    Plan p;  // kept only once complete
    const Cudnn& dnn = Cudnn::get();
    MMADA_CUDNN_CHECK(dnn.cudnnCreateTensorDescriptor(&p.x));
    MMADA_CUDNN_CHECK(dnn.cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                                     int(x.size(0)), int(x.size(3)),
                                                     int(x.size(1)), int(x.size(2))));
    MMADA_CUDNN_CHECK(dnn.cudnnCreateTensorDescriptor(&p.y));
    MMADA_CUDNN_CHECK(dnn.cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                                     int(out[0]), int(out[3]), int(out[1]),
                                                     int(out[2])));
    MMADA_CUDNN_CHECK(dnn.cudnnCreateConvolutionDescriptor(&p.conv));
    MMADA_CUDNN_CHECK(dnn.cudnnSetConvolution2dDescriptor(
        p.conv, int(pad), int(pad), int(c.stride()), int(c.stride()), 1, 1,
        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    MMADA_CUDNN_CHECK(dnn.cudnnSetConvolutionMathType(p.conv, math));
    Tensor scratch = be_->alloc(DType::F32, out);
    const size_t ws_bytes = size_t(256) << 20;
    Tensor ws = be_->alloc(DType::U8, {int64_t(ws_bytes)});
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    // Times cuDNN's candidates under one math type; where that yields nothing usable (the
    // search has been seen to fail intermittently on small shapes), asks its heuristics, which
    // run nothing. The index of the best usable candidate, or -1 (`why` says what failed).
    std::string why;
    const auto usable = [&](int found, const char* what) {
      for (int i = 0; i < found; ++i)  // best first
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= ws_bytes) return i;
      why += std::string(why.empty() ? "" : "; ") + what + ": " + std::to_string(found) + " candidates" +
             (found ? std::string(", first ") + dnn.cudnnGetErrorString(perf[0].status) : "");
      return -1;
    };
    const auto find = [&](cudnnMathType_t math) {
      int found = 0;
      if (dnn.cudnnSetConvolutionMathType(p.conv, math) != CUDNN_STATUS_SUCCESS) return -1;
      cudnnStatus_t st = dnn.cudnnFindConvolutionForwardAlgorithmEx(
          handle(), p.x, x.data, w.filter, w.krsc.data, p.conv, p.y, scratch.data,
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf, ws.data, ws_bytes);
      int i = st == CUDNN_STATUS_SUCCESS ? usable(found, "search") : -1;
      if (i >= 0) return i;
      found = 0;
      st = dnn.cudnnGetConvolutionForwardAlgorithm_v7(handle(), p.x, w.filter, p.conv, p.y,
                                                      CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf);
      return st == CUDNN_STATUS_SUCCESS ? usable(found, "heuristics") : -1;
    };
    int best = find(math);
    // Shapes without a tensor-core kernel (e.g. 13 input channels) run exact instead.
    if (best < 0 && math != CUDNN_FMA_MATH) best = find(CUDNN_FMA_MATH);
    MMADA_CHECK(best >= 0, "cuDNN has no convolution algorithm for input ", shape_str(x.shape), " -> ",
                shape_str(out), " (", why, ")");
    p.algo = perf[best].algo;
    p.workspace = perf[best].memory;
    // Exact mode keeps FMA math; TF32 mode takes the math type the winner was chosen with.
    MMADA_CUDNN_CHECK(dnn.cudnnSetConvolutionMathType(
        p.conv, math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : perf[best].mathType));
    return plans_[key] = p;
  }

  std::shared_ptr<Backend> be_;
  cudaStream_t stream_;
  cudnnMathType_t math_;
  cudnnHandle_t handle_ = nullptr;
  std::map<const void*, Weights> weights_;
  std::map<const void*, Affine> affine_;
  std::map<std::tuple<const void*, int64_t, int64_t, int64_t, int>, Plan> plans_;
};

}  // namespace

std::shared_ptr<FeatureBackend> cuda_feature_backend(std::shared_ptr<Backend> cuda, ConvMath math) {
  return std::make_shared<CudaFeatureBackend>(std::move(cuda), math);
}

}  // namespace mmada
