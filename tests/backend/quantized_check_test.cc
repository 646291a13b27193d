// The quantized-weights check that `mmada check-backend` runs on a GPU, run here on the CPU
// backend: its Q8_0 (int8 inputs) and bf16-tile kernels against the float32 linear on the
// dequantised weights, within the 2e-2 the check states for the CPU; embedding rows exact.
#include <gtest/gtest.h>

#include "backend/backend_check.h"

namespace mmada {
namespace {

TEST(QuantizedCheck, CpuKernelsMatchDequantisedFloat32) {
  const auto cpu = cpu_backend();
  const std::vector<OpCheck> res = check_quantized_weights(*cpu, *cpu, 7, 2e-2, 2e-2);
  ASSERT_EQ(res.size(), 4u * 7u);  // four block types x (six linear shapes + embedding)
  for (const OpCheck& r : res) {
    EXPECT_TRUE(r.passed()) << r.op << ": " << r.rel_error << " > " << r.tolerance;
    // Quantised arithmetic differs from float32 somewhere, except for the embedding's copies.
    if (r.op.rfind("linear", 0) == 0) {
      EXPECT_GT(r.rel_error, 0.0) << r.op;
    }
  }
}

}  // namespace
}  // namespace mmada
