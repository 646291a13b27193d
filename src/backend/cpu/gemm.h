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
// A Q8_0 weight runs in integer arithmetic: x quantized to int8 per row, W's rows requantized
// to int8 with one scale per row, an int8 GEMM (AMX-INT8 / VNNI) into int32, then scaled.
// Other block-quantized weights (core/quant.h), and Q8_0 with MMADA_Q8_KERNEL=bf16, are
// dequantised a chunk of rows at a time into bf16 and multiplied like a BF16 one. Either way
// only the quantized bytes stream from memory.
void linear(const float* x, int64_t M, int64_t K, const Tensor& W, float* y,
            bool accumulate = false);
// Same with rows [n0, n1) of W only: y[M, n1-n0] (the head restricted to some vocab columns).
void linear_rows(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0, int64_t n1,
                 float* y, int64_t ldy);

// MMADA_Q8_KERNEL's value (null: the default) -> whether Q8_0 uses the int8 kernel ("int8",
// the default on CPUs with VNNI) or bf16 tiles ("bf16": slower, no activation quantization;
// the default without VNNI). Throws otherwise.
bool q8_kernel_is_int8(const char* value);
// AVX-VNNI or AVX512-VNNI: what the int8 kernel needs to be right.
bool cpu_has_vnni();

// The test oracle for quantized weights: W's rows [n0, n1) dequantised to float32, then a
// float32 GEMM with x unrounded.
void linear_rows_reference(const float* x, int64_t M, int64_t K, const Tensor& W, int64_t n0,
                           int64_t n1, float* y, int64_t ldy);

}  // namespace mmada::cpu
