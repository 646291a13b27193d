#include "backend/cpu/gemm.h"

#include <oneapi/dnnl/dnnl.hpp>
#include <algorithm>
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
// mixed-dtype operand, so one never overwrites the other.
uint16_t* bf16_scratch(size_t n, int slot) {
  thread_local std::vector<uint16_t> buf[2];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

}  // namespace

void matmul(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc,
            bool accumulate) {
  using dims = dnnl::memory::dims;
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
  const dims a_strides = A.trans ? dims{1, A.ld} : dims{A.ld, 1};
  const dims b_strides = B.trans ? dims{1, B.ld} : dims{B.ld, 1};
  dnnl::memory::desc a_md({M, K}, dnnl_type(A.dtype), a_strides);
  dnnl::memory::desc b_md({K, N}, dnnl_type(B.dtype), b_strides);
  dnnl::memory::desc c_md({M, N}, dnnl::memory::data_type::f32, dims{ldc, 1});
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  auto& eng = cpu_engine();
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, eng);
  dnnl::matmul prim(pd);
  dnnl::memory a_mem(a_md, eng, const_cast<void*>(A.data));
  dnnl::memory b_mem(b_md, eng, const_cast<void*>(B.data));
  dnnl::memory c_mem(c_md, eng, C);
  dnnl::stream s(eng);
  prim.execute(s, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
  s.wait();
}

namespace {

void check_weight(const Tensor& W, int64_t K, int64_t n0, int64_t n1) {
  MMADA_CHECK(W.dim() == 2 && W.size(1) == K && W.contiguous(), "linear: weight of shape ",
              shape_str(W.shape), " does not take inputs of width ", K);
  MMADA_CHECK(0 <= n0 && n0 <= n1 && n1 <= W.size(0), "linear: rows [", n0, ", ", n1,
              ") outside weight ", shape_str(W.shape));
}

// Rows of a quantized weight dequantised at a time: up to 64 MiB of bf16 (a whole 8B layer
// matrix but the 12288-row ones; the LM head in 12 pieces), so oneDNN sees GEMMs as large as
// the bf16 path's and packs the activations as rarely.
int64_t chunk_rows(int64_t K) { return std::max<int64_t>(16, ((int64_t(32) << 20) / K) / 16 * 16); }

// y[:, n0:n1] (ld ldy) = x · W[n0:n1]ᵀ (+ y) for a block-quantized W: each chunk of rows is
// dequantised into bf16 by all threads, then multiplied by oneDNN's bf16 GEMM. Only the
// quantized bytes come from the (memory-mapped) weights; the chunk buffer is reused.
void linear_quantized(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                      int64_t n1, float* y, int64_t ldy, bool accumulate) {
  uint16_t* xb = bf16_scratch(size_t(M * K), 0);
  convert_f32_to_bf16(x, xb, size_t(M * K));
  const int64_t C = std::min(chunk_rows(K), n1 - n0);
  const size_t row_bytes = dtype_nbytes(W.dtype, K);
  const auto* w = static_cast<const uint8_t*>(W.data);
  thread_local std::vector<uint16_t> chunk;
  if (chunk.size() < size_t(C * K)) chunk.resize(size_t(C * K));
  uint16_t* cp = chunk.data();  // this thread's buffer, filled by the whole team below
  for (int64_t t0 = n0; t0 < n1; t0 += C) {
    const int64_t rows = std::min(C, n1 - t0);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      dequantize_bf16(W.dtype, w + size_t(t0 + r) * row_bytes, cp + r * K, K);
    matmul(M, rows, K, MatRef{xb, DType::BF16, K}, MatRef{cp, DType::BF16, K, true},
           y + (t0 - n0), ldy, accumulate);
  }
}

}  // namespace

void linear_rows(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t n1,
                 float* y, int64_t ldy) {
  check_weight(W, K, n0, n1);
  if (dtype_is_quantized(W.dtype)) return linear_quantized(x, M, K, W, n0, n1, y, ldy, false);
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
  if (dtype_is_quantized(W.dtype)) return linear_quantized(x, M, K, W, 0, W.size(0), y, W.size(0), true);
  MatRef A{x, DType::F32, K};
  if (W.dtype == DType::BF16) {
    uint16_t* xb = bf16_scratch(size_t(M * K), 0);
    convert_f32_to_bf16(x, xb, size_t(M * K));
    A = MatRef{xb, DType::BF16, K};
  }
  matmul(M, W.size(0), K, A, MatRef{W.data, W.dtype, K, true}, y, W.size(0), true);
}

}  // namespace mmada::cpu
