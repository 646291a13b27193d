// GEMM rates for the 8B model's shapes (M tokens x K -> N): oneDNN bf16, oneDNN f32 and
// OpenBLAS sgemm, next to this machine's measured FMA and AMX peaks; and block-quantized
// weights (Q8_0, Q4_K: bf16 tiles dequantised on the fly, then oneDNN bf16).
//   ./build/gemm_bench                      (all)
//   ./build/gemm_bench --benchmark_filter=bf16
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <cstdio>
#include <vector>

#include "backend/cpu/gemm.h"
#include "backend/cpu/peak.h"
#include "core/quant.h"
#include "core/tensor.h"

namespace {

using mmada::DType;
using mmada::Tensor;

struct Shape3 {
  const char* name;
  int64_t N, K;
};
// Linear layers of one 8B block, and the LM head.
const Shape3 kShapes[] = {{"qkvo_4096x4096", 4096, 4096}, {"gate_up_12288x4096", 12288, 4096},
                          {"down_4096x12288", 4096, 12288}, {"head_134656x4096", 134656, 4096}};

Tensor random_tensor(DType dt, int64_t rows, int64_t cols) {
  Tensor t = Tensor::empty(DType::F32, {rows, cols});
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = float((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
  if (mmada::dtype_is_quantized(dt)) return mmada::quantize_tensor(t, dt);
  return dt == DType::BF16 ? t.to_bf16() : t;
}

void set_counters(benchmark::State& st, int64_t M, int64_t N, int64_t K) {
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(M) * double(N) * double(K),
                                              benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

void BM_Linear(benchmark::State& st, DType wdt, Shape3 s) {
  const int64_t M = st.range(0);
  Tensor W = random_tensor(wdt, s.N, s.K);
  Tensor x = random_tensor(DType::F32, M, s.K);
  std::vector<float> y(size_t(M * s.N));
  for (auto _ : st) mmada::cpu::linear(x.ptr<float>(), M, s.K, W, y.data());
  set_counters(st, M, s.N, s.K);
}

void BM_OpenBlasSgemm(benchmark::State& st, Shape3 s) {
  const int64_t M = st.range(0);
  Tensor W = random_tensor(DType::F32, s.N, s.K);
  Tensor x = random_tensor(DType::F32, M, s.K);
  std::vector<float> y(size_t(M * s.N));
  for (auto _ : st)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(s.N), int(s.K), 1.0f,
                x.ptr<float>(), int(s.K), W.ptr<float>(), int(s.K), 0.0f, y.data(), int(s.N));
  set_counters(st, M, s.N, s.K);
}

void BM_PeakFp32Fma(benchmark::State& st) {
  double g = 0;
  for (auto _ : st) g = mmada::cpu::measure_peak_fp32_gflops(omp_get_max_threads());
  st.counters["GFLOP/s"] = g;
}

void BM_PeakBf16(benchmark::State& st) {
  double g = 0;
  for (auto _ : st) g = mmada::cpu::measure_peak_bf16_gflops(omp_get_max_threads());
  st.counters["GFLOP/s"] = g;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("peak/fp32_fma", BM_PeakFp32Fma)->Iterations(1)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("peak/avx512_bf16_dot", BM_PeakBf16)->Iterations(1)->Unit(benchmark::kMillisecond);
  for (const Shape3& s : kShapes) {
    const bool head = s.N > 100000;
    auto reg = [&](const std::string& name, auto fn) {
      auto* b = benchmark::RegisterBenchmark(name.c_str(), fn)->Unit(benchmark::kMillisecond)->UseRealTime();
      b->Arg(512);
      if (!head) b->Arg(64)->Arg(1024);
    };
    reg(std::string("onednn_bf16/") + s.name, [s](benchmark::State& st) { BM_Linear(st, DType::BF16, s); });
    reg(std::string("q8_0/") + s.name, [s](benchmark::State& st) { BM_Linear(st, DType::Q8_0, s); });
    reg(std::string("q4_k/") + s.name, [s](benchmark::State& st) { BM_Linear(st, DType::Q4_K, s); });
    reg(std::string("onednn_f32/") + s.name, [s](benchmark::State& st) { BM_Linear(st, DType::F32, s); });
    reg(std::string("openblas_f32/") + s.name, [s](benchmark::State& st) { BM_OpenBlasSgemm(st, s); });
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
