// The quantized-weights check that `mmada check-backend` runs on a GPU, run here on the CPU
// backend: its quantized kernels (cpu::quant_kernel: int8, bf16 or float32) against the
// float32 linear on the dequantised weights, within the 2e-2 the check states for the CPU;
// embedding rows exact.
#include <gtest/gtest.h>

#include "backend/backend_check.h"
#include "backend/cpu/gemm.h"

namespace mmada {
namespace {

TEST(QuantizedCheck, CpuKernelsMatchDequantisedFloat32) {
  const auto cpu = cpu_backend();
  const std::vector<OpCheck> res = check_quantized_weights(*cpu, *cpu, 7, 2e-2, 2e-2);
  ASSERT_EQ(res.size(), 4u * 7u);  // four block types x (six linear shapes + embedding)
  for (const OpCheck& r : res) {
    EXPECT_TRUE(r.passed()) << r.op << ": " << r.rel_error << " > " << r.tolerance;
    // Quantised arithmetic (int8, bf16) differs from float32 somewhere; the float32 kernel is
    // the oracle's arithmetic, and the embedding rows are copies.
    for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
      if (r.op.rfind("linear " + std::string(dtype_name(t)) + " ", 0) != 0) continue;
      if (cpu::quant_kernel(t) == cpu::QuantKernel::F32) {
        EXPECT_EQ(r.rel_error, 0.0) << r.op;
      } else {
        EXPECT_GT(r.rel_error, 0.0) << r.op;
      }
    }
  }
}

}  // namespace
}  // namespace mmada
