#include "core/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace mmada {

namespace {

uint16_t load_u16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
void store_u16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}
float load_f16(const uint8_t* p) { return f16_to_f32(load_u16(p)); }
// Stores v as f16 and returns the value actually stored, so the quants are made against it.
float store_f16(uint8_t* p, float v) {
  const uint16_t h = f32_to_f16(v);
  store_u16(p, h);
  return f16_to_f32(h);
}

template <typename Out>
inline void put(Out* y, int64_t i, float v) {
  if constexpr (sizeof(Out) == 4) y[i] = v;
  else y[i] = f32_to_bf16(v);
}

// The 6-bit scale and min of sub-block j of a Q4_K block (j < 4: low 6 bits of bytes j and
// j+4; j ≥ 4: a nibble of byte j+4 plus the top 2 bits of bytes j-4 and j).
inline void q4k_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

template <typename Out>
void dequant_q8_0(const uint8_t* b, Out* y) {
  const float d = load_f16(b);
  const int8_t* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int i = 0; i < 32; ++i) put(y, i, d * float(q[i]));
}

template <typename Out>
void dequant_q4_0(const uint8_t* b, Out* y) {
  const float d = load_f16(b);
  const uint8_t* q = b + 2;
  for (int i = 0; i < 16; ++i) {
    put(y, i, d * float(int(q[i] & 0xF) - 8));
    put(y, i + 16, d * float(int(q[i] >> 4) - 8));
  }
}

template <typename Out>
void dequant_q4_k(const uint8_t* b, Out* y) {
  const float d = load_f16(b), dmin = load_f16(b + 2);
  const uint8_t* s = b + 4;
  const uint8_t* q = b + 16;
  for (int c = 0; c < 4; ++c) {  // 64 weights: sub-blocks 2c (low nibbles) and 2c+1 (high)
    int sc0, m0, sc1, m1;
    q4k_scale_min(s, 2 * c, &sc0, &m0);
    q4k_scale_min(s, 2 * c + 1, &sc1, &m1);
    const float d0 = d * float(sc0), o0 = dmin * float(m0);
    const float d1 = d * float(sc1), o1 = dmin * float(m1);
    // Fused multiply-add, as the vector path does, so both give the same bits.
    for (int l = 0; l < 32; ++l) {
      put(y, 64 * c + l, std::fma(d0, float(q[32 * c + l] & 0xF), -o0));
      put(y, 64 * c + 32 + l, std::fma(d1, float(q[32 * c + l] >> 4), -o1));
    }
  }
}

template <typename Out>
void dequant_q6_k(const uint8_t* b, Out* y) {
  const float d = load_f16(b + 208);
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  int8_t v[256];  // the quants, unpacked in weight order (simple loops the compiler vectorises)
  for (int h = 0; h < 2; ++h) {  // two halves of 128 weights
    const uint8_t* ql = b + 64 * h;
    const uint8_t* qh = b + 128 + 32 * h;
    int8_t* o = v + 128 * h;
    for (int l = 0; l < 32; ++l) {
      o[l] = int8_t(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
      o[l + 32] = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      o[l + 64] = int8_t(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      o[l + 96] = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
  for (int j = 0; j < 16; ++j) {  // sub-blocks of 16 weights
    const float s = d * float(sc[j]);
    for (int l = 0; l < 16; ++l) put(y, 16 * j + l, s * float(v[16 * j + l]));
  }
}

template <typename Out>
void dequantize_any(DType t, const void* src, Out* dst, int64_t n) {
  const int64_t blk = dtype_block_elems(t);
  const size_t bytes = dtype_block_bytes(t);
  MMADA_CHECK(dtype_is_quantized(t) && n % blk == 0, "dequantize: ", n, " elements of ",
              dtype_name(t), " (not whole blocks)");
  const uint8_t* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / blk; ++i, b += bytes) {
    Out* y = dst + i * blk;
    switch (t) {
      case DType::Q8_0: dequant_q8_0(b, y); break;
      case DType::Q4_0: dequant_q4_0(b, y); break;
      case DType::Q4_K: dequant_q4_k(b, y); break;
      case DType::Q6_K: dequant_q6_k(b, y); break;
      default: break;
    }
  }
}

int clampi(int v, int lo, int hi) { return std::min(hi, std::max(lo, v)); }

void quant_q8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = store_f16(b, amax / 127.0f);
  const float id = d > 0 ? 1.0f / d : 0.0f;
  int8_t* q = reinterpret_cast<int8_t*>(b + 2);
  for (int i = 0; i < 32; ++i) q[i] = int8_t(clampi(int(std::nearbyint(x[i] * id)), -127, 127));
}

// The weight of largest magnitude maps to -8, so the full [-8, 7] range is used.
void quant_q4_0(const float* x, uint8_t* b) {
  float vmax = 0;
  for (int i = 0; i < 32; ++i)
    if (std::fabs(x[i]) > std::fabs(vmax)) vmax = x[i];
  const float d = store_f16(b, vmax / -8.0f);
  const float id = d != 0 ? 1.0f / d : 0.0f;
  uint8_t* q = b + 2;
  for (int i = 0; i < 16; ++i) {
    const int lo = clampi(int(std::nearbyint(x[i] * id)) + 8, 0, 15);
    const int hi = clampi(int(std::nearbyint(x[i + 16] * id)) + 8, 0, 15);
    q[i] = uint8_t(lo | (hi << 4));
  }
}

// Each sub-block of 32 gets the affine range [min(x, 0), max(x)] in 15 steps; the scales and
// mins are then quantized to 6 bits against the block's largest. Scales round up, so the
// quantized grid still covers the sub-block's range and no weight is clamped.
void quant_q4_k(const float* x, uint8_t* b) {
  float scale[8], mn[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float lo = 0, hi = -INFINITY;
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * j + l]);
      hi = std::max(hi, x[32 * j + l]);
    }
    hi = std::max(hi, lo);
    scale[j] = (hi - lo) / 15.0f;
    mn[j] = -lo;
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, mn[j]);
  }
  const float d = store_f16(b, max_scale / 63.0f);
  const float dmin = store_f16(b + 2, max_min / 63.0f);
  uint8_t* s = b + 4;
  std::memset(s, 0, 12);
  uint8_t* q = b + 16;
  for (int j = 0; j < 8; ++j) {
    const int sc = d > 0 ? clampi(int(std::ceil(scale[j] / d - 1e-4f)), 0, 63) : 0;
    const int m = dmin > 0 ? clampi(int(std::nearbyint(mn[j] / dmin)), 0, 63) : 0;
    if (j < 4) {
      s[j] |= uint8_t(sc);
      s[j + 4] |= uint8_t(m);
    } else {
      s[j + 4] |= uint8_t((sc & 0xF) | ((m & 0xF) << 4));
      s[j - 4] |= uint8_t((sc >> 4) << 6);
      s[j] |= uint8_t((m >> 4) << 6);
    }
    const float step = d * float(sc), off = dmin * float(m);
    const float inv = step > 0 ? 1.0f / step : 0.0f;
    const int c = j / 2, shift = (j % 2) * 4;
    for (int l = 0; l < 32; ++l) {
      const int v = clampi(int(std::nearbyint((x[32 * j + l] + off) * inv)), 0, 15);
      q[32 * c + l] |= uint8_t(v << shift);
    }
  }
}

// Symmetric 6-bit quants per sub-block of 16; the sub-block scales are int8 against the
// block's f16 d, rounded up like Q4_K's.
void quant_q6_k(const float* x, uint8_t* b) {
  float scale[16], max_scale = 0;
  for (int j = 0; j < 16; ++j) {
    float amax = 0;
    for (int l = 0; l < 16; ++l) amax = std::max(amax, std::fabs(x[16 * j + l]));
    scale[j] = amax / 31.0f;
    max_scale = std::max(max_scale, scale[j]);
  }
  const float d = store_f16(b + 208, max_scale / 127.0f);
  int8_t* sc = reinterpret_cast<int8_t*>(b + 192);
  uint8_t u[256];
  for (int j = 0; j < 16; ++j) {
    sc[j] = int8_t(d > 0 ? clampi(int(std::ceil(scale[j] / d - 1e-4f)), 0, 127) : 0);
    const float step = d * float(sc[j]);
    const float inv = step > 0 ? 1.0f / step : 0.0f;
    for (int l = 0; l < 16; ++l)
      u[16 * j + l] = uint8_t(clampi(int(std::nearbyint(x[16 * j + l] * inv)), -32, 31) + 32);
  }
  for (int h = 0; h < 2; ++h) {
    uint8_t* ql = b + 64 * h;
    uint8_t* qh = b + 128 + 32 * h;
    const uint8_t* v = u + 128 * h;
    for (int l = 0; l < 32; ++l) {
      ql[l] = uint8_t((v[l] & 0xF) | ((v[l + 64] & 0xF) << 4));
      ql[l + 32] = uint8_t((v[l + 32] & 0xF) | ((v[l + 96] & 0xF) << 4));
      qh[l] = uint8_t((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) |
                      ((v[l + 96] >> 4) << 6));
    }
  }
}

}  // namespace

void dequantize(DType t, const void* src, float* dst, int64_t n) { dequantize_any(t, src, dst, n); }

void dequantize_bf16(DType t, const void* src, uint16_t* dst, int64_t n) {
  // AVX-512 (with BF16 conversions) where the CPU has it for the two main types: the GEMM
  // dequantises every weight once per call, so this loop is on the hot path.
  static const bool avx512 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16");
  if (avx512 && (t == DType::Q8_0 || t == DType::Q4_K) && n % dtype_block_elems(t) == 0) {
    if (t == DType::Q8_0) detail::dequant_q8_0_bf16_avx512(src, dst, n / 32);
    else detail::dequant_q4_k_bf16_avx512(src, dst, n / 256);
    return;
  }
  dequantize_any(t, src, dst, n);
}

namespace {
bool cpu_has_avx512bw() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl");
  return yes;
}
}  // namespace

float quantize_row_s8(const float* x, int64_t K, int8_t* q) {
  if (cpu_has_avx512bw()) return detail::quantize_row_s8_avx512(x, K, q);
  float amax = 0;
  for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  const float inv = amax > 0 ? 127.0f / amax : 0.0f;
  for (int64_t k = 0; k < K; ++k) q[k] = int8_t(clampi(int(std::nearbyint(x[k] * inv)), -127, 127));
  return amax / 127.0f;
}

float requantize_q8_0_row(const void* src, int64_t K, int8_t* q) {
  MMADA_CHECK(K % 32 == 0, "requantize_q8_0_row: ", K, " weights are not whole Q8_0 blocks");
  if (cpu_has_avx512bw()) return detail::requantize_q8_0_row_avx512(src, K, q);
  const uint8_t* b = static_cast<const uint8_t*>(src);
  float s = 0;
  for (int64_t i = 0; i < K / 32; ++i) s = std::max(s, std::fabs(load_f16(b + 34 * i)));
  for (int64_t i = 0; i < K / 32; ++i, b += 34, q += 32) {
    const float r = s > 0 ? load_f16(b) / s : 0.0f;
    const int8_t* qb = reinterpret_cast<const int8_t*>(b + 2);
    // |r| ≤ 1, so only a file's −128 can reach the bounds; saturate as the vector path does.
    for (int l = 0; l < 32; ++l) q[l] = int8_t(clampi(int(std::nearbyint(float(qb[l]) * r)), -128, 127));
  }
  return s;
}

void quantize(DType t, const float* src, void* dst, int64_t n) {
  const int64_t blk = dtype_block_elems(t);
  const size_t bytes = dtype_block_bytes(t);
  MMADA_CHECK(dtype_is_quantized(t) && n % blk == 0, "quantize: ", n, " elements to ",
              dtype_name(t), " (not whole blocks of ", blk, ")");
  uint8_t* b = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n / blk; ++i, b += bytes) {
    const float* x = src + i * blk;
    std::memset(b, 0, bytes);
    switch (t) {
      case DType::Q8_0: quant_q8_0(x, b); break;
      case DType::Q4_0: quant_q4_0(x, b); break;
      case DType::Q4_K: quant_q4_k(x, b); break;
      case DType::Q6_K: quant_q6_k(x, b); break;
      default: break;
    }
  }
}

Tensor quantize_tensor(const Tensor& src, DType t) {
  MMADA_CHECK(dtype_is_quantized(t), "quantize_tensor: ", dtype_name(t), " is not a block type");
  MMADA_CHECK(src.dim() == 2 && src.contiguous(), "quantize_tensor: need a contiguous matrix, got ",
              shape_str(src.shape));
  MMADA_CHECK(src.dtype == DType::F32 || src.dtype == DType::BF16 || src.dtype == DType::F16,
              "quantize_tensor: cannot quantize ", dtype_name(src.dtype));
  const int64_t N = src.size(0), K = src.size(1), blk = dtype_block_elems(t);
  MMADA_CHECK(K % blk == 0, "quantize_tensor: rows of ", K, " weights are not whole ",
              dtype_name(t), " blocks of ", blk);
  Tensor out = Tensor::empty(t, src.shape);
  const size_t row_bytes = dtype_nbytes(t, K);
#pragma omp parallel
  {
    std::vector<float> row(static_cast<size_t>(K));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N; ++r) {
      const float* x = row.data();
      switch (src.dtype) {
        case DType::F32: x = src.ptr<float>() + r * K; break;
        case DType::BF16:
          for (int64_t k = 0; k < K; ++k) row[size_t(k)] = bf16_to_f32(src.ptr<uint16_t>()[r * K + k]);
          break;
        default:
          for (int64_t k = 0; k < K; ++k) row[size_t(k)] = f16_to_f32(src.ptr<uint16_t>()[r * K + k]);
          break;
      }
      quantize(t, x, out.ptr<uint8_t>() + size_t(r) * row_bytes, K);
    }
  }
  return out;
}

}  // namespace mmada
