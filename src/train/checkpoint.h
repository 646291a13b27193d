// Training checkpoints: a Hugging Face model folder the engine loads as is (config.json +
// model.safetensors in bf16 or f32, the tokenizer files when trained with a tokenizer folder),
// plus what an exact resume needs:
//   optimizer.safetensors   "m.<name>", "v.<name>" (f32 Adam moments) and, when the model file
//                           is bf16, "master.<name>" (the f32 master weights)
//   trainer_state.json      step, seed, micro_step (the data/noise RNG counter)
// The folder is written under "<dir>.tmp" and renamed into place, so `dir` is never
// half-written: it is the previous complete checkpoint or the new complete one.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "model/config.h"
#include "model/weights.h"
#include "train/optimizer.h"

namespace mmada::train {

struct TrainerState {
  int64_t step = 0;        // optimiser updates done
  uint64_t seed = 0;
  int64_t micro_step = 0;  // micro-batches drawn (the counter of every data and noise draw)
};

// The Hugging Face tokenizer files a checkpoint carries, so that it is a complete model folder.
inline constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json",
                                                  "special_tokens_map.json"};

// Writes the checkpoint folder atomically. `save_dtype` is F32 or BF16 (model.safetensors).
// With a tokenizer folder (or its tokenizer.json), its kTokenizerFiles are copied in.
void save_checkpoint(const std::string& dir, const ModelConfig& cfg, ModelWeights& params,
                     DType save_dtype, AdamW* opt, const TrainerState* state,
                     const std::string& tokenizer_dir = "");

// Loads float32 master weights from a model folder (checkpoint or any HF MMaDA/LLaDA folder),
// preferring optimizer.safetensors' "master.*" when present. Every tensor must exist with the
// shape `cfg` implies, else a clear error.
ModelWeights load_master_weights(const std::string& dir, const ModelConfig& cfg);

// Restores Adam moments and the trainer state. The checkpoint's config.json must describe the
// same network as `cfg` (a resume with a different config is an error naming the field).
void load_optimizer_state(const std::string& dir, const ModelConfig& cfg, AdamW& opt,
                          TrainerState& state);

// Throws, naming the first differing field, unless a and b describe the same network.
void require_same_architecture(const ModelConfig& a, const ModelConfig& b, const std::string& what);

}  // namespace mmada::train
