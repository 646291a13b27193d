// Compares every op of one backend with another (normally CUDA against the CPU reference) on
// fresh random inputs, like llama.cpp's test-backend-ops: error = ‖test − ref‖ / ‖ref‖.
#pragma once
#include <string>
#include <vector>

#include "backend/backend.h"

namespace mmada {

struct OpCheck {
  std::string op;     // op and shape, e.g. "attention bf16 pair B2 L77 H4/2 d64"
  double rel_error;   // ‖test − ref‖ / ‖ref‖
  double tolerance;
  bool passed() const { return rel_error <= tolerance; }  // NaN fails
};

std::vector<OpCheck> check_backend(Backend& ref, Backend& test, uint64_t seed);

// linear() with the weight in the test backend's own form (Backend::linear_weight, e.g. FP8)
// against the reference's float32 linear; `tag` names the form in the op names.
std::vector<OpCheck> check_linear_weights(Backend& ref, Backend& test, uint64_t seed, const std::string& tag,
                                          double tolerance);

// linear() and embedding() on block-quantized weights (Q8_0, Q4_0, Q4_K, Q6_K) in the test
// backend against the reference's float32 ops on the dequantised weights; calls with <= 16
// input rows are held to small_tolerance, larger ones to large_tolerance.
std::vector<OpCheck> check_quantized_weights(Backend& ref, Backend& test, uint64_t seed, double small_tolerance,
                                             double large_tolerance);

}  // namespace mmada
