// Block-quantized weights: the byte layouts of GGUF's Q8_0, Q4_0, Q4_K and Q6_K, so a tensor
// read from a GGUF file is used in place and ours can be written to one unchanged.
//
//   Q8_0  32 weights in 34 bytes:  f16 d, int8 q[32];                 w = d·q
//   Q4_0  32 weights in 18 bytes:  f16 d, 16 bytes of nibbles;        w = d·(q − 8)
//         (byte j holds weight j in its low nibble and weight j+16 in its high one)
//   Q4_K  256 weights in 144 bytes: f16 d, f16 dmin, 12 bytes of eight 6-bit scales and
//         eight 6-bit mins, 128 bytes of nibbles; sub-block j of 32: w = d·sc_j·q − dmin·m_j
//   Q6_K  256 weights in 210 bytes: 128 bytes low nibbles, 64 bytes high 2-bit pairs,
//         int8 scales[16] (one per 16 weights), f16 d;                w = d·sc_j·(q − 32)
//
// A quantized tensor has its logical shape [N, K] (K a multiple of the block) and is stored
// row after row, so a row range is a byte range.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/tensor.h"

namespace mmada {

// n elements (a multiple of the block) from block-aligned `src` into float32 / bf16.
void dequantize(DType t, const void* src, float* dst, int64_t n);
void dequantize_bf16(DType t, const void* src, uint16_t* dst, int64_t n);
// n elements (a multiple of the block) of `src` into blocks of type t at `dst`.
void quantize(DType t, const float* src, void* dst, int64_t n);

// A 2-D [N, K] float tensor (F32/BF16/F16) quantized row by row (multithreaded). Throws if K
// is not a multiple of the block.
Tensor quantize_tensor(const Tensor& src, DType t);

// Operands of the integer GEMM for Q8_0 weights (backend/cpu/gemm.cc): one scale per row, so
// an int8 matrix product followed by a row × column scaling gives the float product.
//
// K floats as symmetric int8, x ≈ s·q with s = max|x|/127, q = nearest(x·127/max|x|).
// Returns s (0 for an all-zero row).
float quantize_row_s8(const float* x, int64_t K, int8_t* q);
// One Q8_0 row of K weights re-quantized to a single scale s = the row's largest block |d|:
// w ≈ s·q' with q' = nearest(q·d/s). Blocks whose d is the row's keep their quants exactly;
// the others gain an error ≤ s/2 per weight (the price of one scale per row). Returns s.
float requantize_q8_0_row(const void* src, int64_t K, int8_t* q);

namespace detail {
// AVX-512 + AVX512-BF16 versions of dequantize_bf16 (core/quant_avx512.cc); the same bits as
// the portable loops. Call only where the CPU has those extensions.
void dequant_q8_0_bf16_avx512(const void* src, uint16_t* dst, int64_t blocks);
void dequant_q4_k_bf16_avx512(const void* src, uint16_t* dst, int64_t blocks);
// The same bits as quantize_row_s8 / requantize_q8_0_row's portable loops.
float quantize_row_s8_avx512(const float* x, int64_t K, int8_t* q);
float requantize_q8_0_row_avx512(const void* src, int64_t K, int8_t* q);
}  // namespace detail

}  // namespace mmada
