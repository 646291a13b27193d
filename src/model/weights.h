// The transformer's tensors, described once: every loader, saver, random initialiser and
// (later) device upload walks this one table.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace mmada {

struct LayerWeights {
  Tensor attn_norm, q_proj, k_proj, v_proj, attn_out, ff_norm, ff_proj, up_proj, ff_out;
  // Backends that fuse projections hold [q; k; v] and [gate; up] stacked by rows instead of
  // the separate tensors (not in the checkpoint table: built at upload).
  Tensor qkv, gate_up;
};

struct ModelWeights {
  Tensor wte, ln_f, head;
  std::vector<LayerWeights> layers;
};

// What a table entry is: a norm vector (kept float32), a matrix, or the embedding table.
enum class TensorRole { Norm, Matrix, Embedding };

struct TensorSlot {
  std::string name;  // Hugging Face checkpoint name
  Shape shape;       // expected shape from the config
  TensorRole role;
  Tensor* tensor;
};

// Calls fn for every tensor of the model, in checkpoint order.
void for_each_tensor(const ModelConfig& cfg, ModelWeights& w,
                     const std::function<void(const TensorSlot&)>& fn);

}  // namespace mmada
