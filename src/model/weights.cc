#include "model/weights.h"

namespace mmada {

void for_each_tensor(const ModelConfig& c, ModelWeights& w,
                     const std::function<void(const TensorSlot&)>& fn) {
  const int64_t D = c.d_model, F = c.mlp_hidden, KV = c.kv_dim();
  w.layers.resize(size_t(c.n_layers));
  fn({"model.transformer.wte.weight", {c.vocab, D}, TensorRole::Embedding, &w.wte});
  for (int64_t i = 0; i < c.n_layers; ++i) {
    LayerWeights& l = w.layers[size_t(i)];
    const std::string p = "model.transformer.blocks." + std::to_string(i) + ".";
    fn({p + "attn_norm.weight", {D}, TensorRole::Norm, &l.attn_norm});
    fn({p + "q_proj.weight", {D, D}, TensorRole::Matrix, &l.q_proj});
    fn({p + "k_proj.weight", {KV, D}, TensorRole::Matrix, &l.k_proj});
    fn({p + "v_proj.weight", {KV, D}, TensorRole::Matrix, &l.v_proj});
    fn({p + "attn_out.weight", {D, D}, TensorRole::Matrix, &l.attn_out});
    fn({p + "ff_norm.weight", {D}, TensorRole::Norm, &l.ff_norm});
    fn({p + "ff_proj.weight", {F, D}, TensorRole::Matrix, &l.ff_proj});
    fn({p + "up_proj.weight", {F, D}, TensorRole::Matrix, &l.up_proj});
    fn({p + "ff_out.weight", {D, F}, TensorRole::Matrix, &l.ff_out});
  }
  fn({"model.transformer.ln_f.weight", {D}, TensorRole::Norm, &w.ln_f});
  fn({"model.transformer.ff_out.weight", {c.vocab, D}, TensorRole::Matrix, &w.head});
}

}  // namespace mmada
