// Element types and the bf16 / f16 <-> f32 conversions (round to nearest even, as PyTorch).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace mmada {

// The block-quantized types (Q8_0, Q4_0, Q4_K, Q6_K) hold a weight matrix as rows of fixed-size
// blocks with their own scales, byte for byte the GGUF layouts of the same names (core/quant.h),
// so GGUF tensors map without copies. A tensor of such a type keeps its logical shape [N, K]
// (K a multiple of the block) and is stored row after row.
// F8_E4M3 (1 sign, 4 exponent, 3 mantissa bits, max 448) exists only in GPU memory: the CUDA
// backend's FP8 weights (--gpu-weights fp8); no file format here reads or writes it.
enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, Q8_0, Q4_0, Q4_K, Q6_K, F8_E4M3 };

size_t dtype_size(DType t);                    // bytes per element; 0 for block-quantized types
bool dtype_is_quantized(DType t);
int64_t dtype_block_elems(DType t);            // elements per block (1 for plain types)
size_t dtype_block_bytes(DType t);             // bytes per block (the element size for plain ones)
// Bytes of n elements; n must be a multiple of the block (callers check shapes first).
size_t dtype_nbytes(DType t, int64_t n);
std::string_view dtype_name(DType t);          // safetensors spelling: "BF16", "F32", ... or "Q8_0"
bool dtype_from_name(std::string_view s, DType* out);  // safetensors dtypes we read (not the blocks, not F8)
bool quant_type_from_name(std::string_view s, DType* out);  // "Q8_0", "Q4_0", "Q4_K", "Q6_K"

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float round_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Bulk conversions used by the loaders and the GEMM front end.
void convert_bf16_to_f32(const uint16_t* src, float* dst, size_t n);
void convert_f32_to_bf16(const float* src, uint16_t* dst, size_t n);
void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n);

}  // namespace mmada
