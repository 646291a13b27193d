// MAGVIT-v2 with the real showlab/magvitv2 shapes (95.4 M random parameters built in memory):
// decode of 32x32 tokens -> 512x512 and encode of 512x512 -> 32x32 codes, plus single
// convolutions through both paths (arg 0 = oneDNN, 1 = im2col + SGEMM).
#include <benchmark/benchmark.h>

#include <ctime>
#include <random>

#include "vq/conv2d.h"
#include "vq/magvit.h"

namespace mmada {
namespace {

const Magvit& real_model() {
  static const Magvit m = Magvit::random(MagvitConfig::real(), 1234);
  return m;
}

Tensor random_f32(Shape shape, uint32_t seed) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return t;
}

// CPU seconds of all threads of the process: on a shared machine, proc_cpu_s / threads is
// what the run would take with the cores to itself.
double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

void set_impl(const benchmark::State& state) {
  set_conv_impl(state.range(0) == 0 ? ConvImpl::OneDnn : ConvImpl::Im2colGemm);
}

void BM_MagvitDecode32x32To512(benchmark::State& state) {
  set_impl(state);
  const Magvit& m = real_model();
  Tensor codes = Tensor::empty(DType::I64, {1, 1024});
  std::mt19937 rng(7);
  for (int64_t i = 0; i < 1024; ++i) codes.ptr<int64_t>()[i] = int64_t(rng() % 8192);
  m.decode(codes, 32, 32);  // warm-up: primitive creation and weight re-layout
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) benchmark::DoNotOptimize(m.decode(codes, 32, 32).data);
  state.counters["proc_cpu_s"] = (process_cpu_seconds() - cpu0) / double(state.iterations());
  set_conv_impl(ConvImpl::OneDnn);
}

void BM_MagvitEncode512(benchmark::State& state) {
  set_impl(state);
  const Magvit& m = real_model();
  const Tensor x = random_f32({1, 3, 512, 512}, 8);
  m.encode(x);
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) benchmark::DoNotOptimize(m.encode(x).data);
  state.counters["proc_cpu_s"] = (process_cpu_seconds() - cpu0) / double(state.iterations());
  set_conv_impl(ConvImpl::OneDnn);
}

// One 3x3 pad-1 convolution C -> C at S x S on NHWC maps (args: impl, C, S).
void BM_Conv3x3(benchmark::State& state) {
  set_impl(state);
  const int64_t c = state.range(1), s = state.range(2);
  const Conv2d conv(random_f32({c, c, 3, 3}, 1), random_f32({c}, 2), 1, 1, 1);
  const Tensor x = random_f32({1, s, s, c}, 3);  // NHWC
  conv(x);
  for (auto _ : state) benchmark::DoNotOptimize(conv(x).data);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * c * c * 9 * s * s * state.iterations(),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  set_conv_impl(ConvImpl::OneDnn);
}

BENCHMARK(BM_Conv3x3)->Args({0, 128, 512})->Args({1, 128, 512})->Args({0, 512, 32})
    ->Args({1, 512, 32})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MagvitDecode32x32To512)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kSecond)
    ->UseRealTime();
BENCHMARK(BM_MagvitEncode512)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace
}  // namespace mmada

BENCHMARK_MAIN();
