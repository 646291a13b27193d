#include "model/quant_recipe.h"

#include "core/error.h"
#include "core/quant.h"

namespace mmada {

QuantRecipe QuantRecipe::from_name(const std::string& type) {
  QuantRecipe r;
  if (type == "q8") {
    r.matrix = r.embedding = r.head = DType::Q8_0;
  } else if (type == "q4") {
    r.matrix = r.embedding = DType::Q4_K;
    r.head = DType::Q6_K;
  } else if (type == "q4_0") {
    r.matrix = r.embedding = r.head = DType::Q4_0;
  } else {
    fail("unknown quantization type '", type, "' (use q8, q4 or q4_0)");
  }
  return r;
}

bool glob_match(const std::string& p, const std::string& s) {
  // Iterative matcher with one backtrack point for the last '*'.
  size_t i = 0, j = 0, star = std::string::npos, mark = 0;
  while (j < s.size()) {
    if (i < p.size() && (p[i] == '?' || p[i] == s[j])) {
      ++i, ++j;
    } else if (i < p.size() && p[i] == '*') {
      star = i++, mark = j;
    } else if (star != std::string::npos) {
      i = star + 1, j = ++mark;
    } else {
      return false;
    }
  }
  while (i < p.size() && p[i] == '*') ++i;
  return i == p.size();
}

DType QuantRecipe::target(const TensorSlot& s, DType current) const {
  if (s.role == TensorRole::Norm || s.shape.size() != 2) return current;
  for (const auto& g : keep)
    if (glob_match(g, s.name)) return current;
  const bool is_head = s.name == "model.transformer.ff_out.weight";
  DType t = s.role == TensorRole::Embedding ? embedding : is_head ? head : matrix;
  const int64_t K = s.shape[1];
  if (K % dtype_block_elems(t) != 0) t = t == DType::Q6_K ? DType::Q8_0 : DType::Q4_0;
  MMADA_CHECK(K % dtype_block_elems(t) == 0, "tensor '", s.name, "': rows of ", K,
              " weights are not a multiple of 32; cannot quantize (use --keep)");
  return t;
}

Tensor QuantRecipe::apply(const TensorSlot& s, const Tensor& t) const {
  const DType want = target(s, t.dtype);
  if (want == t.dtype) return t;
  return quantize_tensor(dtype_is_quantized(t.dtype) ? t.to_f32() : t, want);
}

}  // namespace mmada
