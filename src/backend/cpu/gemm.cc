#include "backend/cpu/gemm.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <cpuid.h>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/quant.h"

namespace mmada::cpu {

namespace {

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

dnnl::memory::data_type dnnl_type(DType t) {
  switch (t) {
    case DType::F32: return dnnl::memory::data_type::f32;
    case DType::BF16: return dnnl::memory::data_type::bf16;
    default: fail("matmul: unsupported operand dtype ", dtype_name(t));
  }
}

// Thread-local bf16 staging buffers: slot 0 for linear()'s activations, slot 1 for matmul()'s
// mixed-dtype operand, slots 2 and 3 for its strided A and B made dense, so none overwrites
// another.
uint16_t* bf16_scratch(size_t n, int slot) {
  thread_local std::vector<uint16_t> buf[4];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

// A matmul's shape, types, strides and post-op: what its oneDNN primitive depends on.
struct MatmulKey {
  int64_t M, N, K;
  dnnl::memory::data_type a, b, c;
  int64_t a_s0, a_s1, b_s0, b_s1, ldc;
  bool accumulate;
  auto operator<=>(const MatmulKey&) const = default;
};

// oneDNN primitives by key. Building one (implementation search, kernel set-up) costs far
// more than a small GEMM (attention runs 64 per layer), and the shapes of a run repeat. One
// cache per calling thread: the attention heads run their GEMMs from several threads at once,
// and one primitive executed concurrently gave wrong results.
dnnl::matmul cached_matmul(const MatmulKey& k) {
  thread_local std::map<MatmulKey, dnnl::matmul> cache;
  if (auto it = cache.find(k); it != cache.end()) return it->second;
  if (cache.size() >= 512) cache.clear();  // shapes that vary without end (e.g. growing rows)
  using dims = dnnl::memory::dims;
  dnnl::memory::desc a_md({k.M, k.K}, k.a, dims{k.a_s0, k.a_s1});
  dnnl::memory::desc b_md({k.K, k.N}, k.b, dims{k.b_s0, k.b_s1});
  dnnl::memory::desc c_md({k.M, k.N}, k.c, dims{k.ldc, 1});
  dnnl::primitive_attr attr;
  if (k.accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, cpu_engine());
  return cache.emplace(k, dnnl::matmul(pd)).first->second;
}

void run_matmul(const MatmulKey& k, const void* A, const void* B, void* C);

// oneDNN 2.6 has no bf16 matmul for some layouts on CPUs without AVX-512 (an AVX2-only machine
// throws "could not create a primitive descriptor iterator"): widen both operands to dense f32
// (exact) and multiply those; the products are the same, only the summation order may differ.
void run_matmul_widened(const MatmulKey& k, const void* A, const void* B, void* C) {
  auto widen = [](const void* p, int64_t rows, int64_t cols, int64_t s0, int64_t s1, std::vector<float>& out) {
    out.resize(size_t(rows * cols));
    const auto* src = static_cast<const uint16_t*>(p);
    for (int64_t r = 0; r < rows; ++r) {
      float* o = out.data() + r * cols;
      if (s1 == 1) {
        convert_bf16_to_f32(src + r * s0, o, size_t(cols));
      } else {
        for (int64_t c = 0; c < cols; ++c) o[c] = bf16_to_f32(src[r * s0 + c * s1]);
      }
    }
  };
  thread_local std::vector<float> fa, fb;
  widen(A, k.M, k.K, k.a_s0, k.a_s1, fa);
  widen(B, k.K, k.N, k.b_s0, k.b_s1, fb);
  const auto f32 = dnnl::memory::data_type::f32;
  run_matmul(MatmulKey{k.M, k.N, k.K, f32, f32, k.c, k.K, 1, k.N, 1, k.ldc, k.accumulate}, fa.data(), fb.data(), C);
}

void run_matmul(const MatmulKey& k, const void* A, const void* B, void* C) {
  using dims = dnnl::memory::dims;
  const auto bf16 = dnnl::memory::data_type::bf16;
  // Keys oneDNN could not build: trying again costs an implementation search every call.
  thread_local std::set<MatmulKey> unbuildable;
  if (unbuildable.count(k)) return run_matmul_widened(k, A, B, C);
  dnnl::matmul prim;
  try {
    prim = cached_matmul(k);
  } catch (const dnnl::error&) {
    if (k.a != bf16 || k.b != bf16) throw;
    if (unbuildable.size() >= 512) unbuildable.clear();
    unbuildable.insert(k);
    return run_matmul_widened(k, A, B, C);
  }
  auto& eng = cpu_engine();
  dnnl::memory a_mem({{k.M, k.K}, k.a, dims{k.a_s0, k.a_s1}}, eng, const_cast<void*>(A));
  dnnl::memory b_mem({{k.K, k.N}, k.b, dims{k.b_s0, k.b_s1}}, eng, const_cast<void*>(B));
  dnnl::memory c_mem({{k.M, k.N}, k.c, dims{k.ldc, 1}}, eng, C);
  dnnl::stream s(eng);
  prim.execute(s, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  s.wait();
}

}  // namespace

void matmul(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc,
            bool accumulate) {
  if (M == 0 || N == 0) return;
  // A bf16 x f32 mix is not a oneDNN matmul; stage the f32 side in bf16.
  if (A.dtype != B.dtype) {
    MatRef& f = A.dtype == DType::F32 ? A : B;
    const int64_t rows = &f == &A ? (A.trans ? K : M) : (B.trans ? N : K);
    const int64_t cols = &f == &A ? (A.trans ? M : K) : (B.trans ? K : N);
    uint16_t* s = bf16_scratch(size_t(rows * cols), 1);
    const float* src = static_cast<const float*>(f.data);
#pragma omp parallel for if (rows * cols > 65536)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) s[r * cols + c] = f32_to_bf16(src[r * f.ld + c]);
    f = MatRef{s, DType::BF16, cols, f.trans};
  }
  // oneDNN 2.6 runs bf16 on the AMX tiles (brgemm) only for dense operands; a strided one
  // (a head's columns of q/k/v, a projection writing into part of a wider row) sends it to
  // gemm:jit at a third of the rate. Copying the operands dense (and C back) costs far less.
  // The products and their float32 sums are the same; only the summation order may differ.
  float* C_out = C;
  const int64_t ldc_out = ldc;
  bool stage_c = false;
  if (A.dtype == DType::BF16 && B.dtype == DType::BF16) {
    auto densify = [](MatRef& m, int64_t rows, int64_t cols, int slot) {  // rows x cols at ld
      if (m.ld == cols) return;
      uint16_t* d = bf16_scratch(size_t(rows * cols), slot);
      const auto* src = static_cast<const uint16_t*>(m.data);
#pragma omp parallel for if (rows * cols > 65536)
      for (int64_t r = 0; r < rows; ++r) std::memcpy(d + r * cols, src + r * m.ld, size_t(cols) * 2);
      m = MatRef{d, DType::BF16, cols, m.trans};
    };
    densify(A, A.trans ? K : M, A.trans ? M : K, 2);
    densify(B, B.trans ? N : K, B.trans ? K : N, 3);
    if (ldc != N) {
      thread_local std::vector<float> cbuf;
      if (cbuf.size() < size_t(M * N)) cbuf.resize(size_t(M * N));
      C = cbuf.data();
      ldc = N;
      stage_c = true;
    }
  }
  const MatmulKey key{M, N, K, dnnl_type(A.dtype), dnnl_type(B.dtype), dnnl::memory::data_type::f32,
                      A.trans ? 1 : A.ld, A.trans ? A.ld : 1, B.trans ? 1 : B.ld, B.trans ? B.ld : 1,
                      ldc, accumulate && !stage_c};
  run_matmul(key, A.data, B.data, C);
  if (stage_c) {  // C_out (+)= C, the same single rounding as oneDNN's sum post-op
#pragma omp parallel for if (M * N > 65536)
    for (int64_t i = 0; i < M; ++i) {
      float* o = C_out + i * ldc_out;
      const float* c = C + i * N;
      if (accumulate)
        for (int64_t j = 0; j < N; ++j) o[j] += c[j];
      else
        std::memcpy(o, c, size_t(N) * 4);
    }
  }
}

namespace {

void check_weight(const Tensor& W, int64_t K, int64_t n0, int64_t n1) {
  MMADA_CHECK(W.dim() == 2 && W.size(1) == K && W.contiguous(), "linear: weight of shape ",
              shape_str(W.shape), " does not take inputs of width ", K);
  MMADA_CHECK(0 <= n0 && n0 <= n1 && n1 <= W.size(0), "linear: rows [", n0, ", ", n1,
              ") outside weight ", shape_str(W.shape));
}

// Rows of a quantized weight dequantised at a time: up to 64 MiB of bf16, 128 of float32 (a
// whole 8B layer matrix but the 12288-row ones; the LM head in 12 pieces), so oneDNN sees GEMMs
// as large as the bf16 path's and packs the activations as rarely.
int64_t chunk_rows(int64_t K) { return std::max<int64_t>(16, ((int64_t(32) << 20) / K) / 16 * 16); }

// y[:, n0:n1] (ld ldy) = x · W[n0:n1]ᵀ (+ y) for a block-quantized W: each chunk of rows is
// dequantised by all threads, into bf16 (x rounded to bf16 too, oneDNN's bf16 GEMM) or, where
// the CPU has no bf16 GEMM, into float32 (x as it is: the float32 oracle's arithmetic). Only
// the quantized bytes come from the (memory-mapped) weights; the chunk buffer is reused.
void linear_quantized(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                      int64_t n1, float* y, int64_t ldy, bool accumulate, bool f32) {
  const int64_t C = std::min(chunk_rows(K), n1 - n0);
  const size_t row_bytes = dtype_nbytes(W.dtype, K);
  const auto* w = static_cast<const uint8_t*>(W.data);
  MatRef A{x, DType::F32, K};
  if (!f32) {
    uint16_t* xb = bf16_scratch(size_t(M * K), 0);
    convert_f32_to_bf16(x, xb, size_t(M * K));
    A = MatRef{xb, DType::BF16, K};
  }
  thread_local std::vector<uint16_t> chunk;
  thread_local std::vector<float> chunk_f32;
  if (f32 && chunk_f32.size() < size_t(C * K)) chunk_f32.resize(size_t(C * K));
  if (!f32 && chunk.size() < size_t(C * K)) chunk.resize(size_t(C * K));
  // This thread's buffer, filled by the whole team below (by pointer: inside the parallel
  // region the thread_local names would be each worker's own).
  float* cf = chunk_f32.data();
  uint16_t* cb = chunk.data();
  for (int64_t t0 = n0; t0 < n1; t0 += C) {
    const int64_t rows = std::min(C, n1 - t0);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* src = w + size_t(t0 + r) * row_bytes;
      if (f32) dequantize(W.dtype, src, cf + r * K, K);
      else dequantize_bf16(W.dtype, src, cb + r * K, K);
    }
    const MatRef B = f32 ? MatRef{cf, DType::F32, K, true} : MatRef{cb, DType::BF16, K, true};
    matmul(M, rows, K, A, B, y + (t0 - n0), ldy, accumulate);
  }
}

// Rows of a Q8_0 weight re-quantized at a time: up to 64 Mi int8 weights, so every matrix of
// an 8B layer is one GEMM (the LM head takes 9).
int64_t int8_chunk_rows(int64_t K) { return std::max<int64_t>(16, ((int64_t(64) << 20) / K) / 16 * 16); }

// y[:, n0:n1] (ld ldy) = x · W[n0:n1]ᵀ (+ y) for a Q8_0 W, in integer arithmetic: x is
// quantized to int8 with one scale per row, each chunk of W's rows to int8 with one scale per
// row (requantize_q8_0_row), oneDNN multiplies int8 × int8 into int32 (AMX-INT8 tiles or VNNI,
// twice the bf16 rate), and y = acc · s_x[i] · s_w[j]. Error against the float product of
// the Q8_0 weights: ≤ ½·s_w[j]·Σ|x| + ½·s_x[i]·Σ|ŵ| (tests/core/quant_test.cc).
void linear_q8_0_int8(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                      int64_t n1, float* y, int64_t ldy, bool accumulate) {
  // |acc| ≤ K·127·128 must fit int32.
  MMADA_CHECK(K <= 131072, "int8 linear: rows of ", K, " weights could overflow the int32 sums");
  thread_local std::vector<int8_t> xq, wq;
  thread_local std::vector<float> xs, ws;
  thread_local std::vector<int32_t> acc;
  const int64_t C = std::min(int8_chunk_rows(K), n1 - n0);
  if (xq.size() < size_t(M * K)) xq.resize(size_t(M * K));
  if (xs.size() < size_t(M)) xs.resize(size_t(M));
  if (wq.size() < size_t(C * K)) wq.resize(size_t(C * K));
  if (ws.size() < size_t(C)) ws.resize(size_t(C));
  if (acc.size() < size_t(M * C)) acc.resize(size_t(M * C));
  int8_t *xqp = xq.data(), *wqp = wq.data();  // this thread's buffers, filled by the team below
  float *xsp = xs.data(), *wsp = ws.data();
  int32_t* accp = acc.data();
#pragma omp parallel for schedule(static) if (M * K > 65536)
  for (int64_t r = 0; r < M; ++r) xsp[r] = quantize_row_s8(x + r * K, K, xqp + r * K);
  const size_t row_bytes = dtype_nbytes(W.dtype, K);
  const auto* w = static_cast<const uint8_t*>(W.data);
  using dt = dnnl::memory::data_type;
  for (int64_t t0 = n0; t0 < n1; t0 += C) {
    const int64_t rows = std::min(C, n1 - t0);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      wsp[r] = requantize_q8_0_row(w + size_t(t0 + r) * row_bytes, K, wqp + r * K);
    run_matmul(MatmulKey{M, rows, K, dt::s8, dt::s8, dt::s32, K, 1, 1, K, rows, false}, xqp, wqp, accp);
    float* yc = y + (t0 - n0);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; ++i) {
      const int32_t* a = accp + i * rows;
      float* yi = yc + i * ldy;
      const float sx = xsp[i];
      if (accumulate)
        for (int64_t j = 0; j < rows; ++j) yi[j] += float(a[j]) * (sx * wsp[j]);
      else
        for (int64_t j = 0; j < rows; ++j) yi[j] = float(a[j]) * (sx * wsp[j]);
    }
  }
}

// The quantized GEMM for W's dtype and this CPU (quant_kernel).
void linear_block_quantized(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                            int64_t n1, float* y, int64_t ldy, bool accumulate) {
  const QuantKernel k = quant_kernel(W.dtype);
  if (k == QuantKernel::Int8) return linear_q8_0_int8(x, M, K, W, n0, n1, y, ldy, accumulate);
  linear_quantized(x, M, K, W, n0, n1, y, ldy, accumulate, k == QuantKernel::F32);
}

}  // namespace

QuantKernel quant_kernel(DType t) {
  static const QuantKernel q8 = q8_kernel(std::getenv("MMADA_Q8_KERNEL"));
  return t == DType::Q8_0 ? q8 : cpu_has_bf16_gemm() ? QuantKernel::BF16 : QuantKernel::F32;
}

bool cpu_has_vnni() {
  unsigned a, b, c, d;
  const bool avx_vnni = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
  return avx_vnni || __builtin_cpu_supports("avx512vnni");
}

bool cpu_has_bf16_gemm() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return yes;
}

QuantKernel q8_kernel(const char* value) {
  // Without VNNI oneDNN 2.6's s8 x s8 matmul came out wrong (relative error 0.29 on an
  // AVX2-only machine); without AVX-512 its bf16 products are float32 ones in disguise (each
  // operand widened on every call), so there the weights are dequantised to float32 directly.
  const std::string s = value ? value : cpu_has_vnni() ? "int8" : cpu_has_bf16_gemm() ? "bf16" : "f32";
  MMADA_CHECK(s == "int8" || s == "bf16" || s == "f32", "MMADA_Q8_KERNEL must be int8, bf16 or f32, not '", s, "'");
  return s == "int8" ? QuantKernel::Int8 : s == "bf16" ? QuantKernel::BF16 : QuantKernel::F32;
}

void linear_rows(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t n1,
                 float* y, int64_t ldy) {
  check_weight(W, K, n0, n1);
  if (dtype_is_quantized(W.dtype)) return linear_block_quantized(x, M, K, W, n0, n1, y, ldy, false);
  const char* w = static_cast<const char*>(W.data) + n0 * K * int64_t(dtype_size(W.dtype));
  MatRef A{x, DType::F32, K};
  if (W.dtype == DType::BF16) {
    uint16_t* xb = bf16_scratch(size_t(M * K), 0);
    convert_f32_to_bf16(x, xb, size_t(M * K));
    A = MatRef{xb, DType::BF16, K};
  }
  matmul(M, n1 - n0, K, A, MatRef{w, W.dtype, K, /*trans=*/true}, y, ldy);
}

void linear_rows_reference(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                           int64_t n1, float* y, int64_t ldy) {
  check_weight(W, K, n0, n1);
  const Tensor w = W.slice0(n0, n1).to_f32();
  matmul(M, n1 - n0, K, MatRef{x, DType::F32, K}, MatRef{w.data, DType::F32, K, true}, y, ldy);
}

void linear(const float* x, int64_t M, int64_t K, const Tensor& W, float* y, bool accumulate) {
  if (!accumulate) return linear_rows(x, M, K, W, 0, W.size(0), y, W.size(0));
  check_weight(W, K, 0, W.size(0));
  if (dtype_is_quantized(W.dtype)) return linear_block_quantized(x, M, K, W, 0, W.size(0), y, W.size(0), true);
  MatRef A{x, DType::F32, K};
  if (W.dtype == DType::BF16) {
    uint16_t* xb = bf16_scratch(size_t(M * K), 0);
    convert_f32_to_bf16(x, xb, size_t(M * K));
    A = MatRef{xb, DType::BF16, K};
  }
  matmul(M, W.size(0), K, A, MatRef{W.data, W.dtype, K, true}, y, W.size(0), true);
}

}  // namespace mmada::cpu
