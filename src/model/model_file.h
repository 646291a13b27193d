// A model on disk, whatever its container: a Hugging Face folder (config.json + safetensors,
// possibly with quantized tensors), or a GGUF file of architecture "mmada" (ours, written by
// `mmada quantize --format gguf`) or "llada" (llama.cpp's LLaDA-8B conversions). Either way the
// result is our ModelConfig and the tensors under their Hugging Face names, as views into the
// memory-mapped file(s) where the bytes can be used as they are.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace mmada {

struct ModelFile {
  std::string path;
  ModelConfig config;
  std::map<std::string, Tensor> tensors;  // by Hugging Face checkpoint name
  std::string format;                     // "safetensors" or "gguf:<architecture>"

  // `path`: a model folder with config.json, a .gguf file, or a folder holding one .gguf.
  static ModelFile open(const std::string& path);
};

// GGUF tensor name of a Hugging Face checkpoint name (llama.cpp's names: token_embd.weight,
// blk.N.attn_q.weight, ...) and back; empty if the name is not one of the model's.
std::string gguf_tensor_name(const std::string& hf_name);
std::string hf_tensor_name(const std::string& gguf_name);

// Writes a model as GGUF, architecture "mmada": config keys under "mmada.", the full
// config.json text under "mmada.config_json", tensors under llama.cpp's names in our (Hugging
// Face) RoPE layout. `tensors` are by Hugging Face name, of any dtype GGUF holds.
void write_model_gguf(const std::string& path, const ModelConfig& cfg,
                      const std::vector<std::pair<std::string, Tensor>>& tensors);

}  // namespace mmada
