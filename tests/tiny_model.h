// Tiny random-model shapes and sampler settings shared by the transformer, KV-cache,
// fast-decoding, sampler, gradient-check and UniGRPO tests, so each suite does not rebuild its
// own copy.
#pragma once
#include <cstdint>

#include "model/config.h"
#include "sample/text_sampler.h"

namespace mmada::test {

struct TinyShape {
  int64_t d_model, n_heads, n_kv_heads, n_layers, mlp_hidden, vocab;
  double rope_theta = 10000.0;
};

// A LLaDA-shaped config of the given shape: [MASK] is the last id, EOS/pad the one before.
inline ModelConfig tiny_model_config(const TinyShape& s) {
  ModelConfig c;
  c.d_model = s.d_model;
  c.n_heads = s.n_heads;
  c.n_kv_heads = s.n_kv_heads;
  c.n_layers = s.n_layers;
  c.mlp_hidden = s.mlp_hidden;
  c.vocab = s.vocab;
  c.rope_theta = s.rope_theta;
  c.mask_token_id = s.vocab - 1;
  c.eos_token_id = c.pad_token_id = s.vocab - 2;
  return c;
}

// The forward-pass tests' model: d_model 32, 4 heads, 2 layers, MLP 48, 97 tokens ([MASK] 96),
// RoPE θ 500000 as LLaDA's; n_kv_heads 4 is plain multi-head attention, fewer is GQA.
inline ModelConfig small_model_config(int64_t n_kv_heads = 2) {
  return tiny_model_config({32, 4, n_kv_heads, 2, 48, 97, 500000.0});
}

// Text sampler settings with the geometry given and everything else at its default.
inline TextSamplerParams sampler_params(int64_t gen_length, int64_t block_length, int64_t steps,
                                        int64_t mask_id) {
  TextSamplerParams p;
  p.gen_length = gen_length;
  p.block_length = block_length;
  p.steps = steps;
  p.mask_id = mask_id;
  return p;
}

}  // namespace mmada::test
