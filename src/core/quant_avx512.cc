// AVX-512 dequantisation into bf16 for the GEMM's tiles (dispatched at run time from
// core/quant.cc; the build's baseline is AVX2). Same arithmetic as the portable loops: a
// product (Q8_0) or a fused multiply-add (Q4_K) in float32, then round-to-nearest-even bf16.
#include <immintrin.h>

// GCC 12 reports its own intrinsics' undefined pass-through operands as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/quant.h"

#define MMADA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,f16c")))

namespace mmada::detail {

namespace {
inline float f16_at(const uint8_t* p) { return f16_to_f32(uint16_t(p[0] | (p[1] << 8))); }
// The same value by the F16C instruction (exact, subnormals included), for the per-row loops.
MMADA_AVX512 inline float f16_at_fast(const uint8_t* p) { return _cvtsh_ss(uint16_t(p[0] | (p[1] << 8))); }

MMADA_AVX512 inline void store_bf16x32(uint16_t* y, __m512 lo, __m512 hi) {
  _mm512_storeu_si512(y, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}
}  // namespace

MMADA_AVX512 void dequant_q8_0_bf16_avx512(const void* src, uint16_t* dst, int64_t blocks) {
  const auto* b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < blocks; ++i, b += 34, dst += 32) {
    const __m512 d = _mm512_set1_ps(f16_at(b));
    const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2));
    const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 18));
    store_bf16x32(dst, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0))),
                  _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1))));
  }
}

MMADA_AVX512 void dequant_q4_k_bf16_avx512(const void* src, uint16_t* dst, int64_t blocks) {
  const auto* b = static_cast<const uint8_t*>(src);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  for (int64_t i = 0; i < blocks; ++i, b += 144, dst += 256) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    const uint8_t* s = b + 4;
    int sc[8], m[8];
    for (int j = 0; j < 4; ++j) {
      sc[j] = s[j] & 63, m[j] = s[j + 4] & 63;
      sc[j + 4] = (s[j + 8] & 0xF) | ((s[j] >> 6) << 4);
      m[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4);
    }
    for (int c = 0; c < 4; ++c) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16 + 32 * c));
      const __m256i lo = _mm256_and_si256(q, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
      for (int half = 0; half < 2; ++half) {  // sub-block 2c (low nibbles), 2c+1 (high)
        const __m256i v = half ? hi : lo;
        const int j = 2 * c + half;
        const __m512 dj = _mm512_set1_ps(d * float(sc[j]));
        const __m512 oj = _mm512_set1_ps(dmin * float(m[j]));
        const __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(v)));
        const __m512 f1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(v, 1)));
        store_bf16x32(dst + 64 * c + 32 * half, _mm512_fmsub_ps(dj, f0, oj), _mm512_fmsub_ps(dj, f1, oj));
      }
    }
  }
}

MMADA_AVX512 float quantize_row_s8_avx512(const float* x, int64_t K, int8_t* q) {
  __m512 m = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
  float amax = _mm512_reduce_max_ps(m);
  for (int64_t t = k; t < K; ++t) amax = std::max(amax, std::fabs(x[t]));
  const float inv = amax > 0 ? 127.0f / amax : 0.0f;
  const __m512 vinv = _mm512_set1_ps(inv);
  for (k = 0; k + 16 <= K; k += 16) {  // cvtps rounds to nearest even, as nearbyint does
    const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + k), vinv));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k), _mm512_cvtsepi32_epi8(v));
  }
  for (; k < K; ++k) q[k] = int8_t(std::clamp(int(std::nearbyint(x[k] * inv)), -127, 127));
  return amax / 127.0f;
}

MMADA_AVX512 float requantize_q8_0_row_avx512(const void* src, int64_t K, int8_t* q) {
  const auto* b = static_cast<const uint8_t*>(src);
  const int64_t blocks = K / 32;
  float s = 0;
  for (int64_t i = 0; i < blocks; ++i) s = std::max(s, std::fabs(f16_at_fast(b + 34 * i)));
  for (int64_t i = 0; i < blocks; ++i, b += 34, q += 32) {
    const float r = s > 0 ? f16_at_fast(b) / s : 0.0f;
    if (r == 1.0f) {  // the row's own scale: the quants as they are
      std::memcpy(q, b + 2, 32);
      continue;
    }
    const __m512 vr = _mm512_set1_ps(r);
    for (int h = 0; h < 2; ++h) {
      const __m128i qi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 + 16 * h));
      const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(qi)), vr);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16 * h), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(f)));
    }
  }
  return s;
}

}  // namespace mmada::detail
