// The CUDA backend: device memory from a caching pool, GEMMs through cuBLASLt (bf16 tensor
// cores with float32 accumulation, exact float32, or E4M3 with --gpu-weights fp8), and the
// kernels of elementwise.cu, attention.cu and fp8.cu. Everything runs on one stream;
// download() synchronises.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/kernels.h"

namespace mmada {

namespace {

// Device memory accounting shared by a backend's pools (one lock for all of them).
struct MemoryCounter {
  std::mutex mu;
  Backend::MemoryStats stats;
};

// Freed blocks are kept by size and handed out again: a forward allocates the same buffers
// every step, and cudaMalloc/cudaFree would synchronise the device each time.
class DevicePool {
 public:
  explicit DevicePool(std::shared_ptr<MemoryCounter> counter) : c_(std::move(counter)) {}
  ~DevicePool() {
    std::lock_guard<std::mutex> lk(c_->mu);
    release_locked();
  }

  void* get(size_t bytes) {
    bytes = round(bytes);
    std::lock_guard<std::mutex> lk(c_->mu);
    Backend::MemoryStats& st = c_->stats;
    st.in_use += bytes;
    st.peak = std::max(st.peak, st.in_use);
    auto it = free_.find(bytes);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      return p;
    }
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {  // release cached blocks and try once more
      release_locked();
      e = cudaMalloc(&p, bytes);
      if (e != cudaSuccess) {
        st.in_use -= bytes;
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        fail("CUDA out of memory: ", bytes >> 20, " MiB requested with ", st.in_use >> 20,
             " MiB in use by mmada, ", free_b >> 20, " of ", total_b >> 20, " MiB free on the device (",
             cudaGetErrorString(e), ")");
      }
    }
    st.reserved += bytes;
    return p;
  }
  void put(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lk(c_->mu);
    c_->stats.in_use -= round(bytes);
    free_[round(bytes)].push_back(p);
  }
  // Gives the cached free blocks back to the driver (cudaFree waits for the device first).
  void trim() {
    std::lock_guard<std::mutex> lk(c_->mu);
    release_locked();
  }

 private:
  static size_t round(size_t b) {
    const size_t q = b < (1u << 20) ? 4096 : (2u << 20);
    return (b + q - 1) / q * q;
  }
  void release_locked() {
    for (auto& kv : free_)
      for (void* p : kv.second) cudaFree(p), c_->stats.reserved -= kv.first;
    free_.clear();
  }
  std::shared_ptr<MemoryCounter> c_;
  std::map<size_t, std::vector<void*>> free_;
};

class CudaBackend : public Backend {
 public:
  CudaBackend(int device, const BackendOptions& opt) : device_(device), weights_(opt.weights) {
    int n = 0;
    MMADA_CUDA_CHECK(cudaGetDeviceCount(&n));
    MMADA_CHECK(device >= 0 && device < n, "CUDA device ", device, " requested, ", n, " present");
    MMADA_CUDA_CHECK(cudaSetDevice(device));
    MMADA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    MMADA_CUBLAS_CHECK(cublasLtCreate(&lt_));
    workspace_bytes_ = 64u << 20;
    MMADA_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
    cudaDeviceProp prop;
    MMADA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    name_ = std::string("cuda:") + std::to_string(device) + " (" + prop.name + ")";
    if (weights_ != GpuWeights::BF16) {
      // E4M3 tensor cores: Ada (8.9), Hopper (9.0) and newer.
      MMADA_CHECK(prop.major * 10 + prop.minor >= 89, "--gpu-weights ", gpu_weights_name(weights_),
                  " needs FP8 tensor cores (compute capability 8.9 or newer); ", name_, " has ",
                  prop.major, ".", prop.minor);
      name_ += ", " + gpu_weights_name(weights_) + " weights";
      const char* fast = std::getenv("MMADA_CUDA_FP8_FAST_ACCUM");
      fp8_fast_accum_ = fast && std::string(fast) == "1";
    }
    // "flash" (default: fused kernel, no L x L buffer) or "gemm" (batched cuBLASLt GEMMs around
    // a float32 score matrix; kept for comparison).
    const char* attn = std::getenv("MMADA_CUDA_ATTENTION");
    MMADA_CHECK(!attn || std::string(attn) == "flash" || std::string(attn) == "gemm",
                "MMADA_CUDA_ATTENTION must be flash or gemm, got '", attn, "'");
    use_flash_ = !attn || std::string(attn) == "flash";
  }

  std::string name() const override { return name_; }

  Tensor alloc(DType dtype, Shape shape) override { return alloc_with_tail(dtype, std::move(shape), 0); }

  // A tensor with `tail` more bytes after its elements (an FP8 weight's scale).
  Tensor alloc_with_tail(DType dtype, Shape shape, size_t tail) {
    Tensor t;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.strides.assign(t.shape.size(), 1);
    for (size_t i = t.shape.size(); i-- > 1;) t.strides[i - 1] = t.strides[i] * t.shape[i];
    const size_t bytes = std::max<size_t>(t.nbytes() + tail, 1);
    // While a graph is recorded, memory comes from that graph's own pool: blocks freed during
    // the recording are reused by later recorded ops (stream order holds inside the graph too),
    // and none of them is ever handed to work outside the graph.
    std::shared_ptr<DevicePool> pool = capturing_ ? capture_pool_ : pool_;
    void* p = pool->get(bytes);
    // The deleter keeps the pool alive: tensors may outlive the backend (static caches).
    t.owner = std::shared_ptr<void>(p, [pool, bytes](void* q) { pool->put(q, bytes); });
    t.data = p;
    return t;
  }

  Tensor upload(const Tensor& host) override {
    MMADA_CHECK(host.contiguous(), "upload of a non-contiguous tensor");
    Tensor d = alloc(host.dtype, host.shape);
    MMADA_CUDA_CHECK(cudaMemcpyAsync(d.data, host.data, host.nbytes(), cudaMemcpyHostToDevice, stream_));
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host buffer may be temporary
    return d;
  }
  void download(const void* src, void* dst, size_t bytes) override {
    MMADA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy(const void* src, void* dst, size_t bytes) override {
    MMADA_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }
  void sync() override { MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  void* native_stream() override { return stream_; }
  MemoryStats memory_stats() const override {
    std::lock_guard<std::mutex> lk(memory_->mu);
    return memory_->stats;
  }
  void reset_memory_peak() override {
    std::lock_guard<std::mutex> lk(memory_->mu);
    memory_->stats.peak = memory_->stats.in_use;
  }

  void embedding(const Tensor& table, const int64_t* ids, int64_t n, float* out) override {
    if (dtype_is_quantized(table.dtype))
      return cuda::quant_embedding(quant_type(table.dtype), table.ptr<uint8_t>(), table.size(1),
                                   dtype_nbytes(table.dtype, table.size(1)), ids, n, out, stream_);
    const cuda::TableType tt = table.dtype == DType::F32 ? cuda::TableType::F32
                               : table.dtype == DType::BF16 ? cuda::TableType::BF16
                                                            : cuda::TableType::F16;
    cuda::embedding(table.data, tt, table.size(1), ids, n, out, stream_);
  }
  void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps) override {
    cuda::rmsnorm(x, w, y, rows, n, eps, stream_);
  }
  void rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, double theta,
            const int64_t* positions, int64_t n_positions) override {
    const int64_t need = std::max(L, n_positions);
    if (rope_L_ < need || rope_d_ != d || rope_theta_ != theta) {
      // Built on the host exactly as the CPU backend builds it, then uploaded once.
      const cpu::RopeTable t = cpu::make_rope_table(std::max<int64_t>(need, 4096), d, theta);
      rope_cos_ = upload(Tensor::view(DType::F32, {t.L, d}, t.cos.data(), nullptr));
      rope_sin_ = upload(Tensor::view(DType::F32, {t.L, d}, t.sin.data(), nullptr));
      rope_L_ = t.L, rope_d_ = d, rope_theta_ = theta;
    }
    cuda::rope(x, B, L, heads, d, positions, rope_cos_.ptr<float>(), rope_sin_.ptr<float>(), stream_);
  }
  void silu_gate(const float* gu, int64_t rows, int64_t F, float* out) override {
    cuda::silu_gate(gu, rows, F, out, stream_);
  }
  void copy_cols(const float* src, int64_t rows, int64_t ld, int64_t col0, int64_t n, float* dst) override {
    if (rows == 0 || n == 0) return;
    MMADA_CUDA_CHECK(cudaMemcpy2DAsync(dst, size_t(n) * 4, src + col0, size_t(ld) * 4, size_t(n) * 4,
                                       size_t(rows), cudaMemcpyDeviceToDevice, stream_));
  }
  bool fuse_projections() const override { return true; }

  // --gpu-weights fp8: E4M3 bytes [N, K] row-major (the layout FP8 GEMMs need: "TN"), padded to
  // 16 bytes, then the float32 dequantisation scale (w ≈ scale · q) in the same allocation, so
  // the tensor carries its scale wherever the model passes it.
  Tensor linear_weight(Tensor w, bool lm_head) override {
    if (weights_ == GpuWeights::BF16 || (lm_head && weights_ != GpuWeights::FP8_ALL)) return w;
    // cuBLASLt's FP8 kernels need rows of a multiple of 16 bytes; other shapes stay as they are.
    if (w.dim() != 2 || (w.dtype != DType::BF16 && w.dtype != DType::F32) || w.size(1) % 16 != 0) return w;
    const int64_t n = w.numel();
    Tensor q = alloc_with_tail(DType::F8_E4M3, w.shape, fp8_bytes(n) - size_t(n) + 16);
    Tensor partial = alloc(DType::F32, {cuda::kFp8AmaxParts});
    if (w.dtype == DType::BF16)
      cuda::quantize_fp8(w.ptr<__nv_bfloat16>(), n, q.ptr<uint8_t>(), fp8_scale(q), partial.ptr<float>(), stream_);
    else
      cuda::quantize_fp8(w.ptr<float>(), n, q.ptr<uint8_t>(), fp8_scale(q), partial.ptr<float>(), stream_);
    // The wider original goes back to the driver, not to the pool's cache: the model would
    // otherwise hold both copies' memory until an allocation failed.
    w = Tensor();
    partial = Tensor();
    if (!capturing_) pool_->trim();
    return q;
  }

  bool supports_graphs() const override { return !std::getenv("MMADA_CUDA_NO_GRAPHS"); }
  void capture_begin() override {
    capture_pool_ = std::make_shared<DevicePool>(memory_);
    capturing_ = true;
    MMADA_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
  }
  std::shared_ptr<void> capture_end() override {
    cudaGraph_t graph = nullptr;
    const cudaError_t e = cudaStreamEndCapture(stream_, &graph);
    capturing_ = false;
    MMADA_CUDA_CHECK(e);
    auto c = std::make_shared<Captured>();
    const cudaError_t ie = cudaGraphInstantiate(&c->exec, graph, 0);
    cudaGraphDestroy(graph);
    MMADA_CUDA_CHECK(ie);
    c->pool = std::move(capture_pool_);
    return std::shared_ptr<void>(c, c.get());
  }
  void graph_launch(const std::shared_ptr<void>& g) override {
    MMADA_CUDA_CHECK(cudaGraphLaunch(static_cast<Captured*>(g.get())->exec, stream_));
  }
  void upload_into(void* dst, const void* host, size_t bytes) override {
    MMADA_CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_));
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host buffer may be temporary
  }
  void gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t d, float* out) override {
    cuda::gather_rows(x, rows, n, d, out, stream_);
  }
  void pick_tokens(const float* logits, int64_t R, int64_t V, double t, uint64_t seed,
                   const uint64_t* streams, bool bf16_logits, int64_t* tokens, double* probs) override {
    if (R == 0) return;
    Tensor st = upload(Tensor::view(DType::I64, {R}, streams, nullptr));
    Tensor tok = alloc(DType::I64, {R}), pr = alloc(DType::F64, {R});
    cuda::pick_tokens(logits, R, V, t, seed, reinterpret_cast<const uint64_t*>(st.data), bf16_logits,
                      tok.ptr<int64_t>(), pr.ptr<double>(), stream_);
    download(tok.data, tokens, size_t(R) * 8);
    download(pr.data, probs, size_t(R) * 8);
  }
  void t2i_draw(const float* cond, const float* uncond, int64_t R, int64_t C, double guidance,
                bool bf16, const int64_t* fixed, uint64_t seed, const uint64_t* streams,
                float* guided, int64_t* codes, float* probs) override {
    if (R == 0) return;
    // One upload of the per-slot keys (fixed codes or streams), one download of codes + probs.
    Tensor keys = upload(Tensor::view(DType::I64, {R}, fixed ? static_cast<const void*>(fixed) : streams, nullptr));
    Tensor out = alloc(DType::I64, {R + (R + 1) / 2});  // codes, then R floats
    int64_t* dcodes = out.ptr<int64_t>();
    float* dprobs = reinterpret_cast<float*>(dcodes + R);
    cuda::t2i_draw(cond, uncond, R, C, guidance, bf16, fixed ? keys.ptr<int64_t>() : nullptr, seed,
                   fixed ? nullptr : reinterpret_cast<const uint64_t*>(keys.data), guided, dcodes,
                   dprobs, stream_);
    std::vector<int64_t> host(static_cast<size_t>(out.numel()));
    download(out.data, host.data(), host.size() * 8);
    std::memcpy(codes, host.data(), size_t(R) * 8);
    std::memcpy(probs, host.data() + R, size_t(R) * 4);
  }

  void attention(const float* q, const float* k, const float* v, float* out, int64_t B, int64_t L,
                 int64_t q0, int64_t Lq, int64_t H, int64_t KVH, int64_t d, const uint8_t* mask,
                 cpu::MaskMode mode, bool bf16) override {
    MMADA_CHECK(q0 >= 0 && Lq >= 1 && q0 + Lq <= L, "attention: query span [", q0, ", ", q0 + Lq,
                ") outside the row [0, ", L, ")");
    const int md = mode == cpu::MaskMode::Pair ? 0 : 1;
    if (!bf16 || !cuda::attention_bf16_supports(d)) {
      cuda::attention_f32(q, k, v, out, B, L, q0, Lq, H, KVH, d, mask, md, stream_);
      return;
    }
    Tensor qb = alloc(DType::BF16, {B * Lq * H * d}), kb = alloc(DType::BF16, {B * L * KVH * d}),
           vb = alloc(DType::BF16, {B * L * KVH * d});
    cuda::f32_to_bf16(q, qb.ptr<__nv_bfloat16>(), qb.numel(), stream_);
    cuda::f32_to_bf16(k, kb.ptr<__nv_bfloat16>(), kb.numel(), stream_);
    cuda::f32_to_bf16(v, vb.ptr<__nv_bfloat16>(), vb.numel(), stream_);
    if (use_flash_) {
      cuda::attention_bf16(qb.ptr<__nv_bfloat16>(), kb.ptr<__nv_bfloat16>(), vb.ptr<__nv_bfloat16>(), out,
                           B, L, q0, Lq, H, KVH, d, mask, md, stream_);
    } else {
      attention_gemm(qb.ptr<__nv_bfloat16>(), kb.ptr<__nv_bfloat16>(), vb.ptr<__nv_bfloat16>(), out, B, L,
                     q0, Lq, H, KVH, d, mask, md);
    }
  }

  void linear(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t n1,
              float* y, int64_t ldy, bool accumulate) override {
    MMADA_CHECK(W.dim() == 2 && W.size(1) == K, "linear: weight ", shape_str(W.shape),
                " does not take inputs of width ", K);
    const int64_t N = n1 - n0;
    if (M == 0 || N == 0) return;
    if (W.dtype == DType::F8_E4M3) return linear_fp8(x, M, K, W, n0, N, y, ldy, accumulate);
    if (dtype_is_quantized(W.dtype)) return linear_quant(x, M, K, W, n0, N, y, ldy, accumulate);
    const bool bf16 = W.dtype == DType::BF16;
    MMADA_CHECK(bf16 || W.dtype == DType::F32, "CUDA linear: weights must be BF16, F32, block-quantized or FP8 (made by --gpu-weights fp8), got ",
                dtype_name(W.dtype));
    const void* A = static_cast<const char*>(W.data) + n0 * K * int64_t(dtype_size(W.dtype));
    const void* B = x;
    Tensor xb;
    if (bf16) {
      xb = alloc(DType::BF16, {M * K});
      cuda::f32_to_bf16(x, xb.ptr<__nv_bfloat16>(), M * K, stream_);
      B = xb.data;
    }
    // Row-major y[M,N] = x[M,K]·Wᵀ is column-major yᵀ[N,M] = (W as K×N col-major)ᵀ · xᵀ.
    gemm(GemmShape{true, false, N, M, K, K, K, ldy, bf16 ? kBF16 : kF32, 1, 0, 0, 0}, A, B, y,
         accumulate ? 1.0f : 0.0f);
  }

 private:
  static size_t fp8_bytes(int64_t n) { return (size_t(n) + 15) / 16 * 16; }
  static float* fp8_scale(const Tensor& w) {
    return reinterpret_cast<float*>(w.ptr<uint8_t>() + fp8_bytes(w.numel()));
  }

  static cuda::QuantType quant_type(DType t) {
    switch (t) {
      case DType::Q8_0: return cuda::QuantType::Q8_0;
      case DType::Q4_0: return cuda::QuantType::Q4_0;
      case DType::Q4_K: return cuda::QuantType::Q4_K;
      case DType::Q6_K: return cuda::QuantType::Q6_K;
      default: throw Error("CUDA: " + std::string(dtype_name(t)) + " is not a block-quantized type");
    }
  }

  // y = x · W[n0 : n0 + N]ᵀ with W block-quantized (weight-only): few input rows read the blocks
  // directly (quant_linear_small: the weights' bytes are the cost, 2-4x fewer than bf16); more
  // rows dequantise the slice into a bf16 tile and take the tensor-core GEMM (compute-bound,
  // where the extra pass over the weights is small beside the product).
  void linear_quant(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t N, float* y,
                    int64_t ldy, bool accumulate) {
    const size_t row_bytes = dtype_nbytes(W.dtype, K);
    const uint8_t* A = W.ptr<uint8_t>() + size_t(n0) * row_bytes;
    if (M <= cuda::kQuantSmallM) {
      const int64_t scratch = cuda::quant_small_scratch(M, K, N);
      Tensor part = scratch ? alloc(DType::F32, {scratch}) : Tensor();
      return cuda::quant_linear_small(quant_type(W.dtype), A, row_bytes, x, M, K, N, y, ldy, accumulate,
                                      scratch ? part.ptr<float>() : nullptr, stream_);
    }
    Tensor wb = alloc(DType::BF16, {N * K}), xb = alloc(DType::BF16, {M * K});
    cuda::quant_to_bf16(quant_type(W.dtype), A, N, K, row_bytes, wb.ptr<__nv_bfloat16>(), stream_);
    cuda::f32_to_bf16(x, xb.ptr<__nv_bfloat16>(), M * K, stream_);
    gemm(GemmShape{true, false, N, M, K, K, K, ldy, kBF16, 1, 0, 0, 0}, wb.data, xb.data, y, accumulate ? 1.0f : 0.0f);
  }

  // y = x · W[n0 : n0 + N]ᵀ with W in E4M3: x is quantised to E4M3 with its own dynamic scale,
  // then one FP8 GEMM (float32 accumulation) multiplies by both scales and writes float32 y.
  void linear_fp8(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t N, float* y,
                  int64_t ldy, bool accumulate) {
    const uint8_t* A = W.ptr<uint8_t>() + n0 * K;
    const float* w_scale = fp8_scale(W);
    const float beta = accumulate ? 1.0f : 0.0f;
    // The FP8 kernels want 16-byte aligned pointers and leading dimensions; where y is not (a
    // head slice of odd width), the slice is widened to bf16 and takes the bf16 GEMM.
    if (K % 16 != 0 || ldy % 4 != 0 || reinterpret_cast<uintptr_t>(y) % 16 != 0) {
      Tensor wb = alloc(DType::BF16, {N * K}), xb = alloc(DType::BF16, {M * K});
      cuda::fp8_to_bf16(A, w_scale, N * K, wb.ptr<__nv_bfloat16>(), stream_);
      cuda::f32_to_bf16(x, xb.ptr<__nv_bfloat16>(), M * K, stream_);
      gemm(GemmShape{true, false, N, M, K, K, K, ldy, kBF16, 1, 0, 0, 0}, wb.data, xb.data, y, beta);
      return;
    }
    const size_t qbytes = fp8_bytes(M * K);
    Tensor buf = alloc(DType::U8, {int64_t(qbytes) + 16 + 4 * cuda::kFp8AmaxParts});
    uint8_t* xq = buf.ptr<uint8_t>();
    float* x_scale = reinterpret_cast<float*>(xq + qbytes);
    cuda::quantize_fp8(x, M * K, xq, x_scale, x_scale + 4, stream_);
    gemm(GemmShape{true, false, N, M, K, K, K, ldy, kFP8, 1, 0, 0, 0}, A, xq, y, beta, w_scale, x_scale);
  }

  struct Captured {
    cudaGraphExec_t exec = nullptr;
    std::shared_ptr<DevicePool> pool;  // every block the recorded ops touch
    ~Captured() {
      if (exec) cudaGraphExecDestroy(exec);
    }
  };

  // Column-major C[m,n] = op(A)·op(B) (+ beta·C), A/B of type `ab`, C f32; `batch` strided
  // products with element strides sa, sb, sc. FP8 operands come with device scales (per call).
  enum Operands : int { kF32, kBF16, kFP8 };
  struct GemmShape {
    bool ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    Operands ab;
    int64_t batch, sa, sb, sc;
    using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int,
                           int64_t, int64_t, int64_t, int64_t>;
    Key key() const { return Key(ta, tb, m, n, k, lda, ldb, ldc, ab, batch, sa, sb, sc); }
  };
  struct Plan {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    bool algo_ok = false;
  };

  void gemm(const GemmShape& g, const void* A, const void* B, float* C, float beta,
            const float* a_scale = nullptr, const float* b_scale = nullptr) {
    const Plan& p = plan(g);
    const float alpha = 1.0f;
    if (g.ab == kFP8) {  // D = scale_a · scale_b · A·B (+ beta·C); pointers are read at launch
      MMADA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof a_scale));
      MMADA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof b_scale));
    }
    MMADA_CUBLAS_CHECK(cublasLtMatmul(lt_, p.desc, &alpha, A, p.a, B, p.b, &beta, C, p.c, C, p.c,
                                      p.algo_ok ? &p.algo : nullptr, workspace_, workspace_bytes_,
                                      stream_));
  }

  static void set_batch(cublasLtMatrixLayout_t l, int64_t batch, int64_t stride) {
    if (batch <= 1) return;
    const int32_t n = int32_t(batch);
    MMADA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &n, sizeof n));
    MMADA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }

  // One cached plan (descriptors + heuristic algorithm) per GEMM shape.
  const Plan& plan(const GemmShape& g) {
    std::lock_guard<std::mutex> lk(plan_mu_);
    auto it = plans_.find(g.key());
    if (it != plans_.end()) return it->second;
    Plan p;
    const cudaDataType_t ab = g.ab == kFP8 ? CUDA_R_8F_E4M3 : g.ab == kBF16 ? CUDA_R_16BF : CUDA_R_32F;
    MMADA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    if (g.ab == kFP8) {
      // Off by default: the partial sums are then promoted to float32 periodically (the
      // accurate mode); MMADA_CUDA_FP8_FAST_ACCUM=1 trades that for speed.
      const int8_t fast = fp8_fast_accum_ ? 1 : 0;
      MMADA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof fast));
    }
    const cublasOperation_t ta = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    MMADA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    MMADA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    // Stored shapes: A is (ta ? k×m : m×k), B is (tb ? n×k : k×n), column-major.
    MMADA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, ab, uint64_t(g.ta ? g.k : g.m), uint64_t(g.ta ? g.m : g.k), g.lda));
    MMADA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, ab, uint64_t(g.tb ? g.n : g.k), uint64_t(g.tb ? g.k : g.n), g.ldb));
    MMADA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, uint64_t(g.m), uint64_t(g.n), g.ldc));
    set_batch(p.a, g.batch, g.sa);
    set_batch(p.b, g.batch, g.sb);
    set_batch(p.c, g.batch, g.sc);
    cublasLtMatmulPreference_t pref;
    MMADA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    MMADA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_, sizeof workspace_bytes_));
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    if (cublasLtMatmulAlgoGetHeuristic(lt_, p.desc, p.a, p.b, p.c, p.c, pref, 1, &res, &found) ==
            CUBLAS_STATUS_SUCCESS && found > 0) {
      p.algo = res.algo;
      p.algo_ok = true;
    }
    cublasLtMatmulPreferenceDestroy(pref);
    return plans_.emplace(g.key(), p).first->second;
  }

 public:
  // Attention through batched cuBLAS GEMMs: S = Q·Kᵀ for all heads of a sequence (float32
  // scores), a masked softmax writing bf16 P, then O = P·V. Faster than the wmma flash kernel
  // at every MMaDA length measured (docs/cuda.md), at the cost of an H×Lq×L score buffer.
  // Queries are positions [q0, q0 + Lq) of each row (Lq rows of q and out per sequence).
  void attention_gemm(const __nv_bfloat16* qb, const __nv_bfloat16* kb, const __nv_bfloat16* vb,
                      float* out, int64_t B, int64_t L, int64_t q0, int64_t Lq, int64_t H,
                      int64_t KVH, int64_t d, const uint8_t* mask, int mode) {
    const int64_t group = H / KVH, qs = H * d, ks = KVH * d;
    Tensor S = alloc(DType::F32, {H * Lq * L});
    Tensor P = alloc(DType::BF16, {H * Lq * L});
    for (int64_t b = 0; b < B; ++b) {
      const __nv_bfloat16* q = qb + b * Lq * qs;
      const __nv_bfloat16* k = kb + b * L * ks;
      const __nv_bfloat16* v = vb + b * L * ks;
      // Batched over kv heads g (one call when there is no GQA); head h = g·group + r.
      for (int64_t r = 0; r < group; ++r) {
        // Sᵀ(col-major, L_j × Lq_i) = K_g(d×L col-major)ᵀ · Q_h(d×Lq): S row-major [i][j].
        gemm(GemmShape{true, false, L, Lq, d, ks, qs, L, kBF16, KVH, d, group * d, group * Lq * L},
             k, q + r * d, S.ptr<float>() + r * Lq * L, 0.0f);
      }
      cuda::masked_softmax_rows(S.ptr<float>(), P.ptr<__nv_bfloat16>(), H, L, q0, Lq,
                                mask ? mask + b * L : nullptr, mode, 1.0f / sqrtf(float(d)), stream_);
      for (int64_t r = 0; r < group; ++r) {
        // Oᵀ(d × Lq_i, ld H·d) = V_g(d×L_j col-major) · Pᵀ(L_j×Lq_i col-major = P row-major).
        gemm(GemmShape{false, false, d, Lq, L, ks, L, qs, kBF16, KVH, d, group * Lq * L, group * d},
             v, P.ptr<__nv_bfloat16>() + r * Lq * L, out + b * Lq * qs + r * d, 0.0f);
      }
    }
  }

 private:
  int device_;
  GpuWeights weights_ = GpuWeights::BF16;
  bool fp8_fast_accum_ = false;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::shared_ptr<MemoryCounter> memory_ = std::make_shared<MemoryCounter>();
  std::shared_ptr<DevicePool> pool_ = std::make_shared<DevicePool>(memory_);
  std::shared_ptr<DevicePool> capture_pool_;  // while recording a graph
  std::mutex plan_mu_;
  std::map<GemmShape::Key, Plan> plans_;
  Tensor rope_cos_, rope_sin_;
  bool use_flash_ = true;
  bool capturing_ = false;
  int64_t rope_L_ = 0, rope_d_ = 0;
  double rope_theta_ = 0;
};

}  // namespace

std::shared_ptr<Backend> cuda_backend(int device, const BackendOptions& opt) {
  static std::mutex mu;
  static std::map<std::pair<int, GpuWeights>, std::shared_ptr<Backend>> backends;
  std::lock_guard<std::mutex> lk(mu);
  const auto key = std::make_pair(device, opt.weights);
  auto it = backends.find(key);
  if (it == backends.end()) it = backends.emplace(key, std::make_shared<CudaBackend>(device, opt)).first;
  return it->second;
}

bool cuda_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace mmada
