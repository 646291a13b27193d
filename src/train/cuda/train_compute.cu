// The GPU TrainCompute (train_compute.h): the forward and backward of train_model.cc on the
// device, op for op (the same activations saved, the same accumulate-into-gradients
// convention), GEMMs through cuBLAS, element-wise ops in train_kernels.cu, and AdamW through
// ZeroAdamW on the flat buffers (FlatLayout): fp32 master weights and gradients, the moments
// only for this rank's shard. The loss stays on the host (the caller's cross_entropy over the
// downloaded logits, dlogits uploaded back): with the small vocabularies trained here that is
// a few MB per micro-step, and the objectives stay described once.
#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "train/cuda/train_kernels.h"
#include "train/flat_layout.h"
#include "train/train_compute.h"
#include "train/training_run.h"
#include "train/zero_adamw.h"

namespace mmada::train {

namespace {

// A device allocation that only grows (activations are re-used across micro-steps).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), cap_(o.cap_) {
    o.p_ = nullptr;
    o.cap_ = 0;
  }
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);
  }
  template <class T>
  T* get(int64_t n) {
    const size_t bytes = size_t(std::max<int64_t>(n, 1)) * sizeof(T);
    if (bytes > cap_) {
      if (p_) MMADA_CUDA_CHECK(cudaFree(p_));
      p_ = nullptr;
      MMADA_CUDA_CHECK(cudaMalloc(&p_, bytes));
      cap_ = bytes;
    }
    return static_cast<T*>(p_);
  }
  template <class T>
  T* ptr() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

struct LayerBuffers {
  DeviceBuffer x_in, h1, inv1, q, k, v, P, att, x_mid, h2, inv2, g, u, gu;
};

class DeviceFlatMath final : public FlatMath {
 public:
  explicit DeviceFlatMath(cudaStream_t s) : stream_(s) {}
  double sum_squares(const float* x, int64_t n) override {
    double* part = partial_.get<double>(cuda::kSumSquaresBlocks);
    const int b = cuda::sum_squares_partial(x, n, part, stream_);
    std::vector<double> host(static_cast<size_t>(b));
    MMADA_CUDA_CHECK(cudaMemcpyAsync(host.data(), part, size_t(b) * sizeof(double),
                                     cudaMemcpyDeviceToHost, stream_));
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    double s = 0;
    for (double v : host) s += v;
    return s;
  }
  void scale(float* x, int64_t n, float c) override { cuda::scale(x, n, c, stream_); }
  void adamw(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoeffs& c,
             float shrink) override {
    cuda::adamw(p, g, m, v, n, c, shrink, stream_);
  }

 private:
  cudaStream_t stream_;
  DeviceBuffer partial_;
};

template <class T>
void upload(T* dst, const T* src, int64_t n, cudaStream_t s) {
  if (n > 0)
    MMADA_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * sizeof(T), cudaMemcpyHostToDevice, s));
}

class CudaTrainCompute final : public TrainCompute {
 public:
  CudaTrainCompute(TrainingRun& run, const OptimConfig& oc, GemmCompute compute, int device,
                   std::unique_ptr<Communicator> comm)
      : run_(run), cfg_(run.mcfg), comm_(std::move(comm)),
        layout_(FlatLayout::of(run.mcfg, comm_->world())),
        compute_(compute == GemmCompute::Bf16 ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F) {
    int count = 0;
    MMADA_CUDA_CHECK(cudaGetDeviceCount(&count));
    MMADA_CHECK(device >= 0 && device < count, "GPU ", device, " requested (local rank), ", count,
                " visible");
    MMADA_CUDA_CHECK(cudaSetDevice(device));
    MMADA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    MMADA_CUBLAS_CHECK(cublasCreate(&blas_));
    MMADA_CUBLAS_CHECK(cublasSetStream(blas_, stream_));
    math_ = std::make_unique<DeviceFlatMath>(stream_);
    zero_ = std::make_unique<ZeroAdamW>(layout_, oc, *comm_, *math_);

    const int64_t P = layout_.padded, S = layout_.shard_size();
    params_ = flat_.get<float>(P);
    grads_ = gflat_.get<float>(P);
    gshard_ = comm_->world() == 1 ? grads_ : gshard_buf_.get<float>(S);
    m_ = m_buf_.get<float>(S);
    v_ = v_buf_.get<float>(S);
    std::vector<float> host(static_cast<size_t>(P));
    layout_.pack(cfg_, run.params, host.data());
    upload(params_, host.data(), P, stream_);
    const int64_t lo = zero_->shard_begin();
    layout_.pack(cfg_, run.opt->m(), host.data());
    upload(m_, host.data() + lo, S, stream_);
    layout_.pack(cfg_, run.opt->v(), host.data());
    upload(v_, host.data() + lo, S, stream_);
    zero_->set_steps(run.opt->steps());
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host staging buffer goes away
    dp_ = views(params_);
    dg_ = views(grads_);
    zero_grads();
  }

  ~CudaTrainCompute() override {
    cudaStreamSynchronize(stream_);
    cublasDestroy(blas_);
    cudaStreamDestroy(stream_);
  }

  std::vector<float> forward(const TrainBatch& b) override {
    backward_ready_ = true;
    return forward_on(dp_, b);
  }
  void backward(const std::vector<float>& dlogits) override;
  // The reference's flat buffer has the trained weights' layout; uploaded once.
  void set_reference(ModelWeights w) override {
    float* ref = ref_flat_.get<float>(layout_.padded);
    std::vector<float> host(static_cast<size_t>(layout_.padded));
    layout_.pack(cfg_, w, host.data());
    upload(ref, host.data(), layout_.padded, stream_);
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host staging buffer goes away
    dref_ = views(ref);
    has_reference_ = true;
  }
  std::vector<float> forward_reference(const TrainBatch& b) override {
    MMADA_CHECK(has_reference_, "forward_reference: no reference weights set");
    backward_ready_ = false;
    return forward_on(dref_, b);
  }

  void zero_grads() override {
    MMADA_CUDA_CHECK(cudaMemsetAsync(grads_, 0, size_t(layout_.padded) * sizeof(float), stream_));
  }
  double reduce_and_clip() override {
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the collectives run on their own stream
    return zero_->reduce_and_clip(grads_, gshard_);
  }
  void step(double lr) override {
    zero_->step(params_, gshard_, m_, v_, lr);
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  int64_t optimizer_steps() const override { return zero_->steps(); }
  void sync_to_host() override;
  Communicator& comm() override { return *comm_; }
  ModelWeights gradients() override {
    std::vector<float> host(static_cast<size_t>(layout_.padded));
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
    MMADA_CUDA_CHECK(cudaMemcpy(host.data(), grads_, host.size() * sizeof(float), cudaMemcpyDeviceToHost));
    ModelWeights w;
    layout_.unpack(cfg_, host.data(), w);
    return w;
  }

 private:
  // The model's tensors as views into a flat device buffer: the same field names as the host
  // weights, device addresses (never dereferenced on the host).
  ModelWeights views(float* base) {
    ModelWeights w;
    size_t i = 0;
    for_each_tensor(cfg_, w, [&](const TensorSlot& s) {
      *s.tensor = Tensor::view(DType::F32, s.shape, base + layout_.tensors.at(i++).offset, nullptr);
    });
    return w;
  }

  // Row-major C[M,N] (+)= op(A)·op(B), batched with element strides; cuBLAS is column-major,
  // so it computes Cᵀ = op(B)ᵀ·op(A)ᵀ.
  void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, bool ta, const float* B,
            int64_t ldb, bool tb, float* C, int64_t ldc, bool acc, int64_t batch = 1,
            int64_t sA = 0, int64_t sB = 0, int64_t sC = 0) {
    if (M == 0 || N == 0) return;
    const float alpha = 1.0f, beta = acc ? 1.0f : 0.0f;
    MMADA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        blas_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M),
        int(K), &alpha, B, CUDA_R_32F, int(ldb), sB, A, CUDA_R_32F, int(lda), sA, &beta, C,
        CUDA_R_32F, int(ldc), sC, int(batch), compute_, CUBLAS_GEMM_DEFAULT));
  }
  void linear_forward(const float* x, const Tensor& W, float* y, int64_t M, int64_t K, int64_t N,
                      bool acc = false) {
    gemm(M, N, K, x, K, false, W.ptr<float>(), K, true, y, N, acc);
  }
  void linear_backward(const float* dy, const float* x, const Tensor& W, float* dx, Tensor& dW,
                       int64_t M, int64_t K, int64_t N) {
    gemm(M, K, N, dy, N, false, W.ptr<float>(), K, false, dx, K, true);
    gemm(N, K, M, dy, N, true, x, K, false, dW.ptr<float>(), K, true);
  }
  void copy(float* dst, const float* src, int64_t n) {
    MMADA_CUDA_CHECK(cudaMemcpyAsync(dst, src, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
  }
  void zero(float* p, int64_t n) {
    MMADA_CUDA_CHECK(cudaMemsetAsync(p, 0, size_t(n) * sizeof(float), stream_));
  }

  TrainingRun& run_;
  ModelConfig cfg_;
  std::unique_ptr<Communicator> comm_;
  FlatLayout layout_;
  cublasComputeType_t compute_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::unique_ptr<DeviceFlatMath> math_;
  std::unique_ptr<ZeroAdamW> zero_;
  std::vector<float> forward_on(const ModelWeights& w, const TrainBatch& b);

  DeviceBuffer flat_, gflat_, gshard_buf_, m_buf_, v_buf_, ref_flat_;
  float *params_ = nullptr, *grads_ = nullptr, *gshard_ = nullptr, *m_ = nullptr, *v_ = nullptr;
  ModelWeights dp_, dg_, dref_;  // views: trained weights, their gradients, the frozen reference
  bool has_reference_ = false;
  bool backward_ready_ = false;  // the last forward was of the trained weights

  // The last forward's batch and activations.
  TrainBatch batch_;
  int64_t rope_L_ = 0;
  DeviceBuffer rope_cos_, rope_sin_, ids_, rows_, mask_;
  std::vector<LayerBuffers> layers_;
  DeviceBuffer x_, xs_, xn_, invf_, logits_;
  // Backward scratch.
  DeviceBuffer dlogits_, dxn_, dxs_, dx_, dh_, dgu_, dgg_, du_, datt_, dq_, dk_, dv_, dS_;
};

std::vector<float> CudaTrainCompute::forward_on(const ModelWeights& w, const TrainBatch& b) {
  const int64_t B = b.B, L = b.L, N = B * L, D = cfg_.d_model, H = cfg_.n_heads,
                KV = cfg_.kv_dim(), Dh = cfg_.head_dim(), F = cfg_.mlp_hidden, V = cfg_.vocab,
                R = int64_t(b.rows.size()), G = H / cfg_.n_kv_heads;
  MMADA_CHECK(int64_t(b.ids.size()) == N, "train forward: ids size ", b.ids.size(), " != B*L ", N);
  MMADA_CHECK(b.token_mask.empty() || int64_t(b.token_mask.size()) == N,
              "train forward: token_mask size");
  for (int64_t id : b.ids)
    MMADA_CHECK(id >= 0 && id < V, "token id ", id, " outside the vocabulary (", V, " rows)");
  for (int64_t r : b.rows) MMADA_CHECK(r >= 0 && r < N, "train forward: row ", r, " out of range");
  batch_ = b;
  if (rope_L_ < L) {
    const cpu::RopeTable t = cpu::make_rope_table(L, Dh, cfg_.rope_theta);
    upload(rope_cos_.get<float>(int64_t(t.cos.size())), t.cos.data(), int64_t(t.cos.size()), stream_);
    upload(rope_sin_.get<float>(int64_t(t.sin.size())), t.sin.data(), int64_t(t.sin.size()), stream_);
    rope_L_ = L;
  }
  const int64_t* ids = ids_.get<int64_t>(N);
  upload(const_cast<int64_t*>(ids), b.ids.data(), N, stream_);
  int64_t* rows = rows_.get<int64_t>(R);
  upload(rows, b.rows.data(), R, stream_);
  const uint8_t* mask = nullptr;
  if (!b.token_mask.empty()) {
    uint8_t* m = mask_.get<uint8_t>(N);
    upload(m, b.token_mask.data(), N, stream_);
    mask = m;
  }
  const int mode = int(b.mask_mode);
  const double eps = cfg_.rms_norm_eps;
  const float scale = 1.0f / std::sqrt(float(Dh));

  float* x = x_.get<float>(N * D);
  cuda::embedding_forward(w.wte.ptr<float>(), D, ids, N, x, stream_);
  layers_.resize(size_t(cfg_.n_layers));
  for (int64_t li = 0; li < cfg_.n_layers; ++li) {
    const LayerWeights& l = w.layers[size_t(li)];
    LayerBuffers& a = layers_[size_t(li)];
    float* x_in = a.x_in.get<float>(N * D);
    float* h1 = a.h1.get<float>(N * D);
    float* inv1 = a.inv1.get<float>(N);
    float* q = a.q.get<float>(N * D);
    float* k = a.k.get<float>(N * KV);
    float* v = a.v.get<float>(N * KV);
    float* P = a.P.get<float>(B * H * L * L);
    float* att = a.att.get<float>(N * D);
    copy(x_in, x, N * D);
    cuda::rmsnorm_forward(x, l.attn_norm.ptr<float>(), h1, inv1, N, D, eps, stream_);
    linear_forward(h1, l.q_proj, q, N, D, D);
    linear_forward(h1, l.k_proj, k, N, D, KV);
    linear_forward(h1, l.v_proj, v, N, D, KV);
    cuda::rope(q, B, L, H, Dh, rope_cos_.ptr<float>(), rope_sin_.ptr<float>(), false, stream_);
    cuda::rope(k, B, L, cfg_.n_kv_heads, Dh, rope_cos_.ptr<float>(), rope_sin_.ptr<float>(), false, stream_);
    // Per head h (kv head h/G), batched over the B rows: S = Q·Kᵀ, softmax, out = P·V.
    for (int64_t h = 0; h < H; ++h)
      gemm(L, L, Dh, q + h * Dh, D, false, k + (h / G) * Dh, KV, true, P + h * L * L, L, false, B,
           L * D, L * KV, H * L * L);
    cuda::attention_softmax(P, B, H, L, scale, mask, mode, stream_);
    for (int64_t h = 0; h < H; ++h)
      gemm(L, Dh, L, P + h * L * L, L, false, v + (h / G) * Dh, KV, false, att + h * Dh, D, false,
           B, H * L * L, L * KV, L * D);
    linear_forward(att, l.attn_out, x, N, D, D, /*acc=*/true);
    float* x_mid = a.x_mid.get<float>(N * D);
    float* h2 = a.h2.get<float>(N * D);
    float* inv2 = a.inv2.get<float>(N);
    float* g = a.g.get<float>(N * F);
    float* u = a.u.get<float>(N * F);
    float* gu = a.gu.get<float>(N * F);
    copy(x_mid, x, N * D);
    cuda::rmsnorm_forward(x, l.ff_norm.ptr<float>(), h2, inv2, N, D, eps, stream_);
    linear_forward(h2, l.ff_proj, g, N, D, F);
    linear_forward(h2, l.up_proj, u, N, D, F);
    cuda::silu_mul_forward(g, u, gu, N * F, stream_);
    linear_forward(gu, l.ff_out, x, N, F, D, /*acc=*/true);
  }
  float* xs = xs_.get<float>(R * D);
  float* xn = xn_.get<float>(R * D);
  float* invf = invf_.get<float>(R);
  cuda::gather_rows(x, rows, R, D, xs, stream_);
  cuda::rmsnorm_forward(xs, w.ln_f.ptr<float>(), xn, invf, R, D, eps, stream_);
  float* logits = logits_.get<float>(R * V);
  linear_forward(xn, w.head, logits, R, D, V);
  std::vector<float> out(static_cast<size_t>(R * V));
  if (R > 0)
    MMADA_CUDA_CHECK(cudaMemcpyAsync(out.data(), logits, out.size() * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream_));
  MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return out;
}

void CudaTrainCompute::backward(const std::vector<float>& dlogits_host) {
  const TrainBatch& b = batch_;
  const int64_t B = b.B, L = b.L, N = B * L, D = cfg_.d_model, H = cfg_.n_heads,
                KV = cfg_.kv_dim(), Dh = cfg_.head_dim(), F = cfg_.mlp_hidden, V = cfg_.vocab,
                R = int64_t(b.rows.size()), G = H / cfg_.n_kv_heads;
  MMADA_CHECK(int64_t(dlogits_host.size()) == R * V, "train backward: dlogits size");
  MMADA_CHECK(backward_ready_ && int64_t(layers_.size()) == cfg_.n_layers,
              "train backward: the last forward was not of the trained weights");
  const uint8_t* mask = b.token_mask.empty() ? nullptr : mask_.ptr<uint8_t>();
  const int mode = int(b.mask_mode);
  const float scale = 1.0f / std::sqrt(float(Dh));
  const int64_t* ids = ids_.ptr<int64_t>();
  const int64_t* rows = rows_.ptr<int64_t>();

  float* dlogits = dlogits_.get<float>(R * V);
  upload(dlogits, dlogits_host.data(), R * V, stream_);
  float* dxn = dxn_.get<float>(R * D);
  float* dxs = dxs_.get<float>(R * D);
  zero(dxn, R * D);
  zero(dxs, R * D);
  linear_backward(dlogits, xn_.ptr<float>(), dp_.head, dxn, dg_.head, R, D, V);
  cuda::rmsnorm_backward(dxn, xs_.ptr<float>(), dp_.ln_f.ptr<float>(), invf_.ptr<float>(), dxs,
                         dg_.ln_f.ptr<float>(), R, D, stream_);
  float* dx = dx_.get<float>(N * D);
  zero(dx, N * D);
  cuda::scatter_add_rows(dxs, rows, R, D, dx, stream_);

  float* dh = dh_.get<float>(N * D);
  float* dgu = dgu_.get<float>(N * F);
  float* dgg = dgg_.get<float>(N * F);
  float* du = du_.get<float>(N * F);
  float* datt = datt_.get<float>(N * D);
  float* dq = dq_.get<float>(N * D);
  float* dk = dk_.get<float>(N * KV);
  float* dv = dv_.get<float>(N * KV);
  float* dS = dS_.get<float>(B * H * L * L);
  for (int64_t li = cfg_.n_layers - 1; li >= 0; --li) {
    const LayerWeights& l = dp_.layers[size_t(li)];
    LayerWeights& gl = dg_.layers[size_t(li)];
    LayerBuffers& a = layers_[size_t(li)];
    const float *q = a.q.ptr<float>(), *k = a.k.ptr<float>(), *v = a.v.ptr<float>(),
                *P = a.P.ptr<float>();
    // MLP: x = x_mid + ff_out(silu(g)*u).
    zero(dgu, N * F);
    zero(dgg, N * F);
    zero(du, N * F);
    zero(dh, N * D);
    linear_backward(dx, a.gu.ptr<float>(), l.ff_out, dgu, gl.ff_out, N, F, D);
    cuda::silu_mul_backward(dgu, a.g.ptr<float>(), a.u.ptr<float>(), dgg, du, N * F, stream_);
    linear_backward(dgg, a.h2.ptr<float>(), l.ff_proj, dh, gl.ff_proj, N, D, F);
    linear_backward(du, a.h2.ptr<float>(), l.up_proj, dh, gl.up_proj, N, D, F);
    cuda::rmsnorm_backward(dh, a.x_mid.ptr<float>(), l.ff_norm.ptr<float>(), a.inv2.ptr<float>(),
                           dx, gl.ff_norm.ptr<float>(), N, D, stream_);
    // Attention: x_mid = x_in + attn_out(att).
    zero(datt, N * D);
    zero(dq, N * D);
    zero(dk, N * KV);
    zero(dv, N * KV);
    zero(dh, N * D);
    linear_backward(dx, a.att.ptr<float>(), l.attn_out, datt, gl.attn_out, N, D, D);
    for (int64_t h = 0; h < H; ++h) {
      const int64_t kvo = (h / G) * Dh;
      // dV += Pᵀ·dO;  dP = dO·Vᵀ
      gemm(L, Dh, L, P + h * L * L, L, true, datt + h * Dh, D, false, dv + kvo, KV, true, B,
           H * L * L, L * D, L * KV);
      gemm(L, L, Dh, datt + h * Dh, D, false, v + kvo, KV, true, dS + h * L * L, L, false, B,
           L * D, L * KV, H * L * L);
    }
    cuda::attention_softmax_backward(dS, P, B, H, L, scale, mask, mode, stream_);
    for (int64_t h = 0; h < H; ++h) {
      const int64_t kvo = (h / G) * Dh;
      // dQ += dS·K;  dK += dSᵀ·Q
      gemm(L, Dh, L, dS + h * L * L, L, false, k + kvo, KV, false, dq + h * Dh, D, true, B,
           H * L * L, L * KV, L * D);
      gemm(L, Dh, L, dS + h * L * L, L, true, q + h * Dh, D, false, dk + kvo, KV, true, B,
           H * L * L, L * D, L * KV);
    }
    cuda::rope(dq, B, L, H, Dh, rope_cos_.ptr<float>(), rope_sin_.ptr<float>(), true, stream_);
    cuda::rope(dk, B, L, cfg_.n_kv_heads, Dh, rope_cos_.ptr<float>(), rope_sin_.ptr<float>(), true, stream_);
    linear_backward(dq, a.h1.ptr<float>(), l.q_proj, dh, gl.q_proj, N, D, D);
    linear_backward(dk, a.h1.ptr<float>(), l.k_proj, dh, gl.k_proj, N, D, KV);
    linear_backward(dv, a.h1.ptr<float>(), l.v_proj, dh, gl.v_proj, N, D, KV);
    cuda::rmsnorm_backward(dh, a.x_in.ptr<float>(), l.attn_norm.ptr<float>(), a.inv1.ptr<float>(),
                           dx, gl.attn_norm.ptr<float>(), N, D, stream_);
  }
  cuda::embedding_backward(dx, ids, N, D, dg_.wte.ptr<float>(), stream_);
  // dlogits_host may be freed by the caller after this returns: wait for its upload.
  MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaTrainCompute::sync_to_host() {
  MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  const int64_t P = layout_.padded, S = layout_.shard_size();
  std::vector<float> host(static_cast<size_t>(P));
  MMADA_CUDA_CHECK(cudaMemcpy(host.data(), params_, size_t(P) * sizeof(float), cudaMemcpyDeviceToHost));
  layout_.unpack(cfg_, host.data(), run_.params);
  // The moments: every rank's shard gathered into one full buffer (collective).
  DeviceBuffer full;
  float* f = full.get<float>(P);
  for (int which = 0; which < 2; ++which) {
    const float* shard = which == 0 ? m_ : v_;
    if (comm_->world() == 1) {
      MMADA_CUDA_CHECK(cudaMemcpy(host.data(), shard, size_t(S) * sizeof(float), cudaMemcpyDeviceToHost));
    } else {
      comm_->all_gather(shard, f, S);
      MMADA_CUDA_CHECK(cudaMemcpy(host.data(), f, size_t(P) * sizeof(float), cudaMemcpyDeviceToHost));
    }
    layout_.unpack(cfg_, host.data(), which == 0 ? run_.opt->m() : run_.opt->v());
  }
  run_.opt->set_steps(zero_->steps());
}

}  // namespace

std::unique_ptr<TrainCompute> make_cuda_train_compute(TrainingRun& run, const OptimConfig& oc,
                                                      GemmCompute compute, int device,
                                                      std::unique_ptr<Communicator> comm) {
  return std::make_unique<CudaTrainCompute>(run, oc, compute, device, std::move(comm));
}

}  // namespace mmada::train
