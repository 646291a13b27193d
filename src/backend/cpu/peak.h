// Measured compute ceilings of this CPU, to put GEMM rates in context.
#pragma once

namespace mmada::cpu {

// GFLOP/s of a register-only AVX-512 (else AVX2) FMA loop on `threads` threads.
double measure_peak_fp32_gflops(int threads);
// GFLOP/s of a register-only AVX512-BF16 dot-product (vdpbf16ps) loop; 0 without AVX512-BF16.
// oneDNN may use AMX tiles where the CPU has them, which can exceed this figure; a user-level
// AMX probe is not used because tile state needs per-thread kernel permission.
double measure_peak_bf16_gflops(int threads);

}  // namespace mmada::cpu
