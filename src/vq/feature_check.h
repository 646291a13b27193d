// Compares MAGVIT-v2's layers on one FeatureBackend with another (normally CUDA against the CPU)
// on fresh random inputs, like check_backend does for the transformer's ops.
#pragma once
#include <cstdint>
#include <vector>

#include "backend/backend_check.h"
#include "vq/feature_backend.h"

namespace mmada {

// `tolerance` is the relative error allowed for the convolutions (float32 FMA math: 1e-5;
// TF32 tensor cores round operands to 10 mantissa bits: ~1e-3); the other ops are always exact
// float32 up to summation order.
std::vector<OpCheck> check_feature_backend(FeatureBackend& ref, FeatureBackend& test, uint64_t seed,
                                           double conv_tolerance);

}  // namespace mmada
