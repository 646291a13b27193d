#include "backend/cpu/peak.h"

#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstring>

namespace mmada::cpu {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The sum of the 16 lanes (not _mm512_reduce_add_ps: g++ 12 warns inside its header).
__attribute__((target("avx512f"))) float sum_lanes(__m512 s) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float sum = 0;
  for (float v : lanes) sum += v;
  return sum;
}

// 12 independent accumulators hide the 4-cycle FMA latency on two FMA ports.
__attribute__((target("avx512f"))) float fma_loop_avx512(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t n = 0; n < iters; ++n)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  return sum_lanes(s);
}

bool has_avx512f() { return __builtin_cpu_supports("avx512f"); }

bool has_avx512_bf16() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1);
}

// vdpbf16ps: 16 lanes x 2 products x 2 flops per instruction.
__attribute__((target("avx512f,avx512bf16"))) float dpbf16_loop(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
  for (int64_t n = 0; n < iters; ++n)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  return sum_lanes(s);
}

template <typename Body>
double timed_parallel(int threads, double flops_per_iter, Body body) {
  int64_t iters = 1 << 16;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    body(iters);
    const double s = seconds_since(t0);
    if (s > 0.2) return double(iters) * flops_per_iter * threads / s / 1e9;
    iters *= 4;
  }
}

}  // namespace

double measure_peak_fp32_gflops(int threads) {
  if (!has_avx512f()) return 0;
  volatile float sink = 0;
  return timed_parallel(threads, 12.0 * 16 * 2, [&](int64_t it) { sink = sink + fma_loop_avx512(it); });
}

double measure_peak_bf16_gflops(int threads) {
  if (!has_avx512_bf16()) return 0;
  volatile float sink = 0;
  return timed_parallel(threads, 12.0 * 16 * 2 * 2, [&](int64_t it) { sink = sink + dpbf16_loop(it); });
}

}  // namespace mmada::cpu
