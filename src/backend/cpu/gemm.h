// Matrix products for the CPU backend, through oneDNN's matmul (AMX / AVX-512-BF16 kernels
// where the CPU has them). All outputs are float32; bf16 inputs accumulate in float32.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace mmada::cpu {

// Strided row-major operand: element (r, c) at data[r*ld + c], or data[c*ld + r] if `trans`.
struct MatRef {
  const void* data;
  DType dtype;     // F32 or BF16
  int64_t ld;
  bool trans = false;
};

// C[M,N] = A[M,K] · B[K,N] (+ C if `accumulate`), C float32 with leading dimension ldc.
void matmul(int64_t M, int64_t N, int64_t K, MatRef A, MatRef B, float* C, int64_t ldc,
            bool accumulate = false);

// y[M,N] = x[M,K] · Wᵀ for a PyTorch Linear weight W [N, K] (F32, BF16 or block-quantized).
// With a BF16 weight, x is rounded to bf16 first (bf16 x bf16 -> f32, as the tensor cores do).
// A block-quantized weight streams only its quantized bytes from memory and is multiplied by
// the kernel quant_kernel() names: Q8_0's int8 kernel quantizes x to int8 per row, requantizes
// W's rows to int8 with one scale per row, multiplies int8 x int8 into int32 (AMX-INT8 / VNNI),
// then scales; the bf16 and f32 kernels dequantise a chunk of rows at a time into bf16 (x
// rounded to bf16, multiplied like a BF16 weight) or float32 (x as it is).
void linear(const float* x, int64_t M, int64_t K, const Tensor& W, float* y,
            bool accumulate = false);
// Same with rows [n0, n1) of W only: y[M, n1-n0] (the head restricted to some vocab columns).
void linear_rows(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t n1,
                 float* y, int64_t ldy);

enum class QuantKernel { Int8, BF16, F32 };
// MMADA_Q8_KERNEL's value (null: the default) -> Q8_0's kernel: "int8" (the default with
// VNNI), "bf16" (the default with AVX-512 but no VNNI; no activation quantization) or "f32"
// (the default elsewhere, e.g. AVX2 only). Throws otherwise. The other quantized types use
// bf16 where the CPU has a bf16 GEMM, f32 elsewhere.
QuantKernel q8_kernel(const char* value);
// The kernel a weight of block-quantized dtype t runs with here (MMADA_Q8_KERNEL read once).
QuantKernel quant_kernel(DType t);
// AVX-VNNI or AVX512-VNNI: what the int8 kernel needs to be right.
bool cpu_has_vnni();
// AVX-512 (F, BW, VL, DQ): where oneDNN 2.6 has bf16 matmul kernels. Elsewhere a bf16 product
// is computed by widening both operands to float32.
bool cpu_has_bf16_gemm();

// The test oracle for quantized weights: W's rows [n0, n1) dequantised to float32, then a
// float32 GEMM with x unrounded.
void linear_rows_reference(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                           int64_t n1, float* y, int64_t ldy);

}  // namespace mmada::cpu
