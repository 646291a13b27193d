// Block formats (core/quant.h): round-trip error within what each format guarantees, the byte
// layout against hand-built GGUF blocks, and the quantized GEMM against its float32 oracle.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "core/quant.h"

namespace mmada {
namespace {

// Weights like a trained layer's: mostly small, a few outliers per row.
std::vector<float> weights(int64_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = nd(g);
  for (int64_t i = 0; i < n; i += 97) x[size_t(i)] *= 12.0f;
  return x;
}

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  std::vector<uint8_t> q(dtype_nbytes(t, int64_t(x.size())));
  quantize(t, x.data(), q.data(), int64_t(x.size()));
  std::vector<float> y(x.size());
  dequantize(t, q.data(), y.data(), int64_t(y.size()));
  return y;
}

float amax(const float* x, int n) {
  float a = 0;
  for (int i = 0; i < n; ++i) a = std::max(a, std::fabs(x[i]));
  return a;
}

// Q8_0: w = d·q with d = amax/127 stored as f16, so |error| ≤ d/2 plus the f16 rounding of d
// (relative 2^-11) carried over 127 steps: ≤ amax/254 + amax/1024.
TEST(Quant, Q8_0RoundTripWithinHalfAStep) {
  const auto x = weights(32 * 200, 1);
  const auto y = round_trip(DType::Q8_0, x);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    const float a = amax(&x[b * 32], 32), bound = a / 254 + a / 1024 + 1e-12f;
    for (size_t i = b * 32; i < b * 32 + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), bound) << i;
  }
}

// Q4_0: the largest weight maps to -8 exactly; the others round to the nearest of 16 steps of
// d = amax/8, except that +8·d clamps to +7·d: |error| ≤ d = amax/8 (plus f16 rounding of d).
TEST(Quant, Q4_0RoundTripWithinOneStep) {
  const auto x = weights(32 * 200, 2);
  const auto y = round_trip(DType::Q4_0, x);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    const float a = amax(&x[b * 32], 32), bound = a / 8 * (1 + 1.0f / 512) + 1e-12f;
    for (size_t i = b * 32; i < b * 32 + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), bound) << i;
  }
}

// Q4_K: sub-block j of 32 spans [lo, hi] (lo = min(x, 0)) in 15 steps s_j = (hi - lo)/15; the
// 6-bit scale is rounded up (step ≤ s_j + d, d = max s/63) so nothing clamps, and the 6-bit
// min is off by ≤ dmin/2 (dmin = max(-lo)/63): |error| ≤ (s_j + d)/2 + dmin/2, plus f16
// rounding of d and dmin (relative 2^-11; where the largest scale or min clamps at 63 that
// costs ≤ 2^-10 of the range or min).
TEST(Quant, Q4_KRoundTripWithinItsSubBlockStep) {
  const auto x = weights(256 * 40, 3);
  const auto y = round_trip(DType::Q4_K, x);
  for (size_t b = 0; b < x.size() / 256; ++b) {
    float s[8], maxs = 0, maxm = 0, range = 0;
    for (int j = 0; j < 8; ++j) {
      float lo = 0, hi = -1e30f;
      for (int l = 0; l < 32; ++l) lo = std::min(lo, x[b * 256 + 32 * j + l]), hi = std::max(hi, x[b * 256 + 32 * j + l]);
      s[j] = (hi - lo) / 15, maxs = std::max(maxs, s[j]), maxm = std::max(maxm, -lo);
      range = std::max(range, hi - lo);
    }
    for (int j = 0; j < 8; ++j) {
      const float bound = (s[j] + maxs / 63) / 2 + maxm / 126 + (range + maxm) / 1024;
      for (int l = 0; l < 32; ++l) {
        const size_t i = b * 256 + 32 * j + l;
        ASSERT_LE(std::fabs(x[i] - y[i]), bound) << i;
      }
    }
  }
}

// Q6_K: symmetric steps s_j = amax_j/31 per sub-block of 16, int8 scale rounded up against
// d = max s/127: |error| ≤ (s_j + d)/2 (+ the f16 rounding of d where the largest scale
// clamps at 127: ≤ 31 steps of 2^-10).
TEST(Quant, Q6_KRoundTripWithinItsSubBlockStep) {
  const auto x = weights(256 * 40, 4);
  const auto y = round_trip(DType::Q6_K, x);
  for (size_t b = 0; b < x.size() / 256; ++b) {
    float maxs = 0;
    for (int j = 0; j < 16; ++j) maxs = std::max(maxs, amax(&x[b * 256 + 16 * j], 16) / 31);
    for (int j = 0; j < 16; ++j) {
      const float sj = amax(&x[b * 256 + 16 * j], 16) / 31, bound = (sj + maxs / 127) / 2 + maxs * 31 / 1024;
      for (int l = 0; l < 16; ++l) {
        const size_t i = b * 256 + 16 * j + l;
        ASSERT_LE(std::fabs(x[i] - y[i]), bound) << i;
      }
    }
  }
}

// The bf16 path (AVX-512 where the CPU has it) gives the float path's values rounded to bf16.
TEST(Quant, Bf16DequantisationIsTheFloatOneRounded) {
  const auto x = weights(256 * 16, 5);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    std::vector<uint8_t> q(dtype_nbytes(t, int64_t(x.size())));
    quantize(t, x.data(), q.data(), int64_t(x.size()));
    std::vector<float> f(x.size());
    std::vector<uint16_t> h(x.size());
    dequantize(t, q.data(), f.data(), int64_t(x.size()));
    dequantize_bf16(t, q.data(), h.data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(h[i], f32_to_bf16(f[i])) << dtype_name(t) << " " << i;
  }
}

// Blocks built by hand from GGUF's layout (ggml-common.h), decoded by the formulas there.
TEST(Quant, DecodesHandBuiltGgufBlocks) {
  {  // Q4_0: d = 0.5; byte j: weight j low nibble, weight j+16 high nibble; w = d·(q - 8)
    uint8_t b[18] = {0x00, 0x38};  // f16 0.5
    for (int j = 0; j < 16; ++j) b[2 + j] = uint8_t(j | ((15 - j) << 4));
    float y[32];
    dequantize(DType::Q4_0, b, y, 32);
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(y[j], 0.5f * float(j - 8));
      EXPECT_EQ(y[j + 16], 0.5f * float(15 - j - 8));
    }
  }
  {  // Q4_K: d = 1, dmin = 0.5; 6-bit scales/mins with the high bits of j ≥ 4 in bytes 0-7.
    const int sc[8] = {1, 2, 3, 4, 17, 34, 51, 63}, m[8] = {5, 6, 7, 8, 20, 40, 60, 33};
    uint8_t b[144] = {0x00, 0x3C, 0x00, 0x38};
    for (int j = 0; j < 4; ++j) {
      b[4 + j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
      b[4 + j + 4] = uint8_t((m[j] & 63) | ((m[j + 4] >> 4) << 6));
      b[4 + j + 8] = uint8_t((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
    for (int i = 0; i < 128; ++i) b[16 + i] = uint8_t((i % 16) | (((i * 7) % 16) << 4));
    float y[256];
    dequantize(DType::Q4_K, b, y, 256);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const int i = 32 * c + l;
        EXPECT_EQ(y[64 * c + l], float(sc[2 * c]) * float(i % 16) - 0.5f * float(m[2 * c]));
        EXPECT_EQ(y[64 * c + 32 + l], float(sc[2 * c + 1]) * float((i * 7) % 16) - 0.5f * float(m[2 * c + 1]));
      }
  }
  {  // Q6_K: weight e of half h, l = e % 32, k = (e % 128) / 32: low nibble from ql[64h + l
     // + 32(k%2)] (high nibble if k ≥ 2), 2 bits from qh[32h + l] at 2k; scale e/16; d last.
    uint8_t b[210] = {};
    for (int i = 0; i < 128; ++i) b[i] = uint8_t(i * 37);
    for (int i = 0; i < 64; ++i) b[128 + i] = uint8_t(i * 91 + 5);
    for (int j = 0; j < 16; ++j) b[192 + j] = uint8_t(int8_t(j - 8));
    b[208] = 0x00, b[209] = 0x3C;  // d = 1
    float y[256];
    dequantize(DType::Q6_K, b, y, 256);
    for (int e = 0; e < 256; ++e) {
      const int h = e / 128, l = e % 32, k = (e % 128) / 32;
      const uint8_t ql = b[64 * h + l + 32 * (k % 2)], qh = b[128 + 32 * h + l];
      const int q = ((k < 2 ? ql & 0xF : ql >> 4) | (((qh >> (2 * k)) & 3) << 4)) - 32;
      EXPECT_EQ(y[e], float(e / 16 - 8) * float(q)) << e;
    }
  }
}

TEST(Quant, RowsMustBeWholeBlocks) {
  EXPECT_THROW(Tensor::empty(DType::Q4_K, {4, 96}), Error);
  const Tensor f = Tensor::empty(DType::F32, {4, 96});
  EXPECT_THROW(quantize_tensor(f, DType::Q4_K), Error);
  EXPECT_NO_THROW(quantize_tensor(f, DType::Q8_0));
}

TEST(Quant, QuantizedTensorSlicesAndExpands) {
  const auto x = weights(6 * 256, 6);
  const Tensor f = Tensor::view(DType::F32, {6, 256}, x.data(), nullptr);
  const Tensor q = quantize_tensor(f, DType::Q4_K);
  EXPECT_EQ(q.nbytes(), 6u * 144u);
  const Tensor all = q.to_f32(), rows = q.slice0(2, 5).to_f32();
  for (int64_t i = 0; i < rows.numel(); ++i) ASSERT_EQ(rows.ptr<float>()[i], all.ptr<float>()[2 * 256 + i]);
  EXPECT_EQ(q.to_bf16().ptr<uint16_t>()[7], f32_to_bf16(all.ptr<float>()[7]));
}

// Activations as int8 with one scale per row: |x - s·q| ≤ s/2, s = max|x|/127.
TEST(Quant, RowsToInt8WithinHalfAStep) {
  const auto x = weights(4 * 1000 + 7, 9);  // a length that is no multiple of the vector width
  const int64_t K = int64_t(x.size());
  std::vector<int8_t> q(x.size());
  const float s = quantize_row_s8(x.data(), K, q.data());
  EXPECT_FLOAT_EQ(s, amax(x.data(), int(K)) / 127);
  for (int64_t k = 0; k < K; ++k) ASSERT_LE(std::fabs(x[size_t(k)] - s * q[size_t(k)]), s / 2 * (1 + 1e-6f)) << k;
  std::vector<float> zero(64, 0.0f);
  EXPECT_EQ(quantize_row_s8(zero.data(), 64, q.data()), 0.0f);
  EXPECT_EQ(q[0], 0);
}

// A Q8_0 row re-quantized to one scale (the row's largest block d): blocks with that d keep
// their quants, the others are within s/2 of the Q8_0 value.
TEST(Quant, Q8_0RowRequantizedWithinHalfTheRowStep) {
  const int64_t K = 32 * 40;
  auto x = weights(K, 10);
  for (int64_t i = 0; i < K; i += 32 * 7) x[size_t(i)] *= 5;  // blocks of very different scales
  std::vector<uint8_t> b(dtype_nbytes(DType::Q8_0, K));
  quantize(DType::Q8_0, x.data(), b.data(), K);
  std::vector<float> w(x.size());
  dequantize(DType::Q8_0, b.data(), w.data(), K);
  std::vector<int8_t> q(x.size());
  const float s = requantize_q8_0_row(b.data(), K, q.data());
  float dmax = 0;
  for (int64_t i = 0; i < K / 32; ++i) dmax = std::max(dmax, std::fabs(f16_to_f32(uint16_t(b[34 * i] | (b[34 * i + 1] << 8)))));
  EXPECT_EQ(s, dmax);
  for (int64_t i = 0; i < K / 32; ++i) {
    const float d = f16_to_f32(uint16_t(b[34 * i] | (b[34 * i + 1] << 8)));
    for (int64_t l = 0; l < 32; ++l) {
      const size_t k = size_t(32 * i + l);
      if (d == s) {
        ASSERT_EQ(q[k], int8_t(b[34 * i + 2 + l])) << k;
      }
      ASSERT_LE(std::fabs(w[k] - s * q[k]), s / 2 * (1 + 1e-6f)) << k;
    }
  }
  EXPECT_THROW(requantize_q8_0_row(b.data(), 48, q.data()), Error);
}

// The quantized GEMM against the oracle (dequantise, float32 GEMM), for rows [n0, n1) and
// for the accumulating form (which adds onto what is there).
//  - bf16 kernel (Q4_0/Q4_K/Q6_K where the CPU has a bf16 GEMM): x and the dequantised
//    weights are each rounded to bf16 (relative 2^-9), so each product is off by ≤ 2^-8 of
//    |x||w|: |error| ≤ 2^-8·Σ|x||w|.
//  - f32 kernel (CPUs without one, e.g. AVX2 only): the oracle's own products; only the float32
//    summation order may differ: ≤ 2^-16·Σ|x||w|.
//  - int8 kernel (Q8_0 with VNNI): x̂ = s_x·q is within s_x/2 of x, ŵ = s_w·q' within s_w/2 of the
//    Q8_0 weight w, and the int32 sum is exact, so |x̂·ŵ − x·w| ≤ ½·s_w·Σ|x| + ½·s_x·Σ|ŵ|;
//    the final scaling and the oracle's float32 sums add ≤ 2^-16·Σ|x||w|.
TEST(Quant, GemmMatchesDequantisedReference) {
  // Two threads whatever OMP_NUM_THREADS says: the kernels fill one thread's chunk buffer with
  // the whole team (a worker writing through its own thread_local buffer once crashed here).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);
  struct Restore { int n; ~Restore() { omp_set_num_threads(n); } } restore{threads};
  const int64_t M = 7, K = 512, N = 70;
  const auto wv = weights(N * K, 7);
  const auto xv = weights(M * K, 8);
  const Tensor Wf = Tensor::view(DType::F32, {N, K}, wv.data(), nullptr);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    const Tensor W = quantize_tensor(Wf, t);
    const Tensor Wd = W.to_f32();
    const cpu::QuantKernel kernel = cpu::quant_kernel(t);
    const int64_t n0 = 3, n1 = 61, n = n1 - n0;
    std::vector<float> got(static_cast<size_t>(M * n)), want(got.size());
    cpu::linear_rows(xv.data(), M, K, W, n0, n1, got.data(), n);
    cpu::linear_rows_reference(xv.data(), M, K, W, n0, n1, want.data(), n);
    std::vector<float> acc(static_cast<size_t>(M * N), 1.0f), full(acc.size());
    cpu::linear(xv.data(), M, K, W, acc.data(), /*accumulate=*/true);
    cpu::linear_rows_reference(xv.data(), M, K, W, 0, N, full.data(), N);
    // Q8_0: the row scales and requantized weights the kernel uses.
    std::vector<float> sx(static_cast<size_t>(M)), sw(static_cast<size_t>(N)), wr(static_cast<size_t>(N * K));
    std::vector<int8_t> q(static_cast<size_t>(K));
    if (kernel == cpu::QuantKernel::Int8) {
      for (int64_t i = 0; i < M; ++i) sx[size_t(i)] = quantize_row_s8(&xv[size_t(i * K)], K, q.data());
      for (int64_t j = 0; j < N; ++j) {
        sw[size_t(j)] = requantize_q8_0_row(W.ptr<uint8_t>() + j * dtype_nbytes(t, K), K, q.data());
        for (int64_t k = 0; k < K; ++k) wr[size_t(j * K + k)] = sw[size_t(j)] * q[size_t(k)];
      }
    }
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double mag = 0, sum_x = 0, sum_wr = 0;
        for (int64_t k = 0; k < K; ++k) {
          mag += std::fabs(xv[size_t(i * K + k)] * Wd.ptr<float>()[j * K + k]);
          sum_x += std::fabs(xv[size_t(i * K + k)]);
          sum_wr += std::fabs(wr[size_t(j * K + k)]);
        }
        const double bound = kernel == cpu::QuantKernel::Int8
                                 ? 0.5 * sw[size_t(j)] * sum_x + 0.5 * sx[size_t(i)] * sum_wr + mag / 65536 + 1e-7
                             : kernel == cpu::QuantKernel::BF16 ? mag / 256 + 1e-7
                                                                : mag / 65536 + 1e-7;
        if (j >= n0 && j < n1) {
          ASSERT_NEAR(got[size_t(i * n + j - n0)], want[size_t(i * n + j - n0)], bound) << dtype_name(t);
        }
        ASSERT_NEAR(acc[size_t(i * N + j)], full[size_t(i * N + j)] + 1.0, bound) << dtype_name(t);
      }
  }
}

TEST(Quant, Q8KernelChoice) {
  using cpu::QuantKernel;
  const QuantKernel fallback = cpu::cpu_has_bf16_gemm() ? QuantKernel::BF16 : QuantKernel::F32;
  EXPECT_EQ(cpu::q8_kernel(nullptr), cpu::cpu_has_vnni() ? QuantKernel::Int8 : fallback);
  EXPECT_EQ(cpu::quant_kernel(DType::Q4_K), fallback);
  EXPECT_EQ(cpu::q8_kernel("int8"), QuantKernel::Int8);
  EXPECT_EQ(cpu::q8_kernel("bf16"), QuantKernel::BF16);
  EXPECT_EQ(cpu::q8_kernel("f32"), QuantKernel::F32);
  EXPECT_THROW(cpu::q8_kernel("fp8"), Error);
  EXPECT_THROW(cpu::q8_kernel(""), Error);
}

// bf16 operands that are strided (a head's columns, a projection writing into part of a wider
// row) are made dense for oneDNN; the result is the float32 product of the same bf16 values.
TEST(Quant, StridedBf16MatmulMatchesFloat) {
  const int64_t M = 33, N = 40, K = 96, lda = 130, ldb = 150, ldc = 77;
  const auto av = weights(M * lda, 11), bv = weights(N * ldb, 12);
  std::vector<uint16_t> a(av.size()), b(bv.size());
  for (size_t i = 0; i < a.size(); ++i) a[i] = f32_to_bf16(av[i]);
  for (size_t i = 0; i < b.size(); ++i) b[i] = f32_to_bf16(bv[i]);
  for (bool accumulate : {false, true}) {
    std::vector<float> c(static_cast<size_t>(M * ldc), 0.5f);
    cpu::matmul(M, N, K, cpu::MatRef{a.data(), DType::BF16, lda}, cpu::MatRef{b.data(), DType::BF16, ldb, true},
                c.data(), ldc, accumulate);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < ldc; ++j) {
        if (j >= N) {  // columns past N are not written
          ASSERT_EQ(c[size_t(i * ldc + j)], 0.5f);
          continue;
        }
        double want = accumulate ? 0.5 : 0.0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double p = double(bf16_to_f32(a[size_t(i * lda + k)])) * bf16_to_f32(b[size_t(j * ldb + k)]);
          want += p, mag += std::fabs(p);
        }
        ASSERT_NEAR(c[size_t(i * ldc + j)], want, mag * 1e-6 + 1e-7);  // float32 sums of exact products
      }
  }
}

}  // namespace
}  // namespace mmada
