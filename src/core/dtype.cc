#include "core/dtype.h"

#include <cmath>

namespace mmada {

namespace {
struct DTypeInfo {
  DType t;
  const char* name;
  size_t size;          // bytes per block
  int64_t block = 1;    // elements per block
  bool in_files = true; // read from safetensors files
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
    // Block layouts of core/quant.h (GGUF's).
    {DType::Q8_0, "Q8_0", 34, 32}, {DType::Q4_0, "Q4_0", 18, 32},
    {DType::Q4_K, "Q4_K", 144, 256}, {DType::Q6_K, "Q6_K", 210, 256},
    {DType::F8_E4M3, "F8_E4M3", 1, 1, false},
};
const DTypeInfo* info(DType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return &d;
  return nullptr;
}
}  // namespace

size_t dtype_size(DType t) {
  const DTypeInfo* d = info(t);
  return d && d->block == 1 ? d->size : 0;
}

bool dtype_is_quantized(DType t) { return dtype_block_elems(t) > 1; }

int64_t dtype_block_elems(DType t) {
  const DTypeInfo* d = info(t);
  return d ? d->block : 1;
}

size_t dtype_block_bytes(DType t) {
  const DTypeInfo* d = info(t);
  return d ? d->size : 0;
}

size_t dtype_nbytes(DType t, int64_t n) {
  const DTypeInfo* d = info(t);
  if (!d || n <= 0) return 0;
  return size_t(n / d->block) * d->size;
}

std::string_view dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.name;
  return "?";
}

bool dtype_from_name(std::string_view s, DType* out) {
  for (const auto& d : kDTypes)
    if (d.block == 1 && d.in_files && s == d.name) {
      *out = d.t;
      return true;
    }
  return false;
}

bool quant_type_from_name(std::string_view s, DType* out) {
  for (const auto& d : kDTypes)
    if (d.block > 1 && s == d.name) {
      *out = d.t;
      return true;
    }
  return false;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: value = man * 2^-24
      float f = std::ldexp(float(man), -24);
      std::memcpy(&u, &f, 4);
      u |= sign;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000);
  const uint32_t au = u & 0x7fffffffu;
  if (au > 0x7f800000u) return sign | 0x7e00;           // NaN
  if (au >= 0x477ff000u) return sign | 0x7c00;          // overflow -> inf
  if (au < 0x38800000u) {                               // subnormal or zero in f16
    float a;
    std::memcpy(&a, &au, 4);
    return sign | uint16_t(std::nearbyint(a * 16777216.0f));  // 2^24, ties to even
  }
  uint32_t r = au + 0xfffu + ((au >> 13) & 1u);
  return sign | uint16_t((r - 0x38000000u) >> 13);
}

void convert_bf16_to_f32(const uint16_t* src, float* dst, size_t n) {
#pragma omp parallel for if (n > (1u << 16)) schedule(static)
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
}

void convert_f32_to_bf16(const float* src, uint16_t* dst, size_t n) {
#pragma omp parallel for if (n > (1u << 16)) schedule(static)
  for (size_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

void convert_f16_to_f32(const uint16_t* src, float* dst, size_t n) {
#pragma omp parallel for if (n > (1u << 16)) schedule(static)
  for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
}

}  // namespace mmada
