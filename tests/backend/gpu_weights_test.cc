// --gpu-weights: the names, and the backends that refuse what they cannot run (the FP8 linear
// itself is checked on a GPU by `mmada check-backend`, against the CPU's float32 linear).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "backend/backend.h"
#include "core/error.h"
#include "test_util.h"

namespace mmada {
namespace {

using test::error_of;

TEST(GpuWeights, NamesRoundTrip) {
  for (GpuWeights w : {GpuWeights::BF16, GpuWeights::FP8, GpuWeights::FP8_ALL})
    EXPECT_EQ(gpu_weights_from_name(gpu_weights_name(w)), w);
  EXPECT_EQ(gpu_weights_from_name("fp8"), GpuWeights::FP8);
}

TEST(GpuWeights, UnknownNameIsAClearError) {
  for (const char* bad : {"int3", "", "FP8", "fp8,bf16"})
    EXPECT_NE(error_of([&] { gpu_weights_from_name(bad); }).find("unknown --gpu-weights '" + std::string(bad) + "' (use bf16, fp8 or fp8-all)"),
              std::string::npos) << bad;
}

TEST(GpuWeights, CpuBackendRefusesFp8) {
  for (GpuWeights w : {GpuWeights::FP8, GpuWeights::FP8_ALL}) {
    const std::string e = error_of([&] { make_backend("cpu", BackendOptions{w}); });
    EXPECT_NE(e.find("--gpu-weights " + gpu_weights_name(w) + " needs a GPU with FP8 tensor cores"), std::string::npos) << e;
  }
  EXPECT_EQ(make_backend("cpu", BackendOptions{GpuWeights::BF16}), cpu_backend());
}

TEST(GpuWeights, CpuLinearWeightIsTheTensorItself) {
  Tensor w = Tensor::empty(DType::BF16, {4, 32});
  const Tensor got = cpu_backend()->linear_weight(w, false);
  EXPECT_EQ(got.data, w.data);
  EXPECT_EQ(got.dtype, DType::BF16);
}

TEST(GpuWeights, MalformedDeviceNameIsAClearError) {
  for (const char* bad : {"cuda:", "cuda:x", "cuda:99999", "gpu"})
    EXPECT_NE(error_of([&] { make_backend(bad); }).find("unknown backend '" + std::string(bad) + "'"), std::string::npos)
        << bad;
}

}  // namespace
}  // namespace mmada
