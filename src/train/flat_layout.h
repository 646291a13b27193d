// The model's tensors laid end to end in one flat float32 buffer, in the tensor table's order
// (weights.h for_each_tensor): how the GPU trainer keeps master weights, gradients and AdamW
// moments, and how ZeRO-1 cuts them into one shard per rank. Offsets are described here once.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace mmada::train {

struct FlatTensor {
  std::string name;
  int64_t offset = 0, numel = 0;
  TensorRole role = TensorRole::Matrix;
};

struct FlatLayout {
  std::vector<FlatTensor> tensors;
  int64_t total = 0;   // Σ numel
  int64_t padded = 0;  // total rounded up to a multiple of the world size (zero tail)
  int world = 1;

  static FlatLayout of(const ModelConfig& cfg, int world);

  int64_t shard_size() const { return padded / world; }
  int64_t shard_begin(int rank) const { return int64_t(rank) * shard_size(); }

  // Host copies between a ModelWeights of F32 tensors and a flat buffer of `padded` floats
  // (pack zero-fills the tail; unpack allocates missing tensors).
  void pack(const ModelConfig& cfg, ModelWeights& w, float* flat) const;
  void unpack(const ModelConfig& cfg, const float* flat, ModelWeights& w) const;
};

}  // namespace mmada::train
