// Which block type each tensor of the model gets for `--type q8|q4|q4_0` (mmada quantize and
// bench --quant), written once so the tool and the benchmark agree.
//
//   q8    every matrix, the embedding table and the LM head: Q8_0 (8.5 bits/weight)
//   q4    layer matrices and the embedding: Q4_K (4.5 bits); the LM head: Q6_K (6.56 bits),
//         as llama.cpp's Q4_K_M keeps its output matrix, the most sensitive one, at 6 bits
//   q4_0  every matrix, embedding and head: Q4_0 (4.5 bits; the simpler scheme, for comparison)
//
// Norm vectors are never quantized. Rows whose length is not a multiple of 256 (small test
// models) cannot hold the 256-weight super-blocks: Q4_K falls back to Q4_0 and Q6_K to Q8_0.
// Tensors whose Hugging Face name matches a --keep glob (`*` and `?`) stay as they are.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/weights.h"

namespace mmada {

struct QuantRecipe {
  DType matrix = DType::Q8_0, embedding = DType::Q8_0, head = DType::Q8_0;
  std::vector<std::string> keep;  // name globs left unquantized

  static QuantRecipe from_name(const std::string& type);  // q8, q4, q4_0
  // The type tensor `s` gets (its own dtype if it stays); `row` is its row length.
  DType target(const TensorSlot& s, DType current) const;
  // `t` converted as the recipe says (or returned as is).
  Tensor apply(const TensorSlot& s, const Tensor& t) const;
};

bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace mmada
