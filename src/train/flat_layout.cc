#include "train/flat_layout.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace mmada::train {

FlatLayout FlatLayout::of(const ModelConfig& cfg, int world) {
  MMADA_CHECK(world >= 1, "world size ", world, " must be at least 1");
  FlatLayout l;
  l.world = world;
  ModelWeights shapes;
  for_each_tensor(cfg, shapes, [&](const TensorSlot& s) {
    int64_t n = 1;
    for (int64_t d : s.shape) n *= d;
    l.tensors.push_back({s.name, l.total, n, s.role});
    l.total += n;
  });
  l.padded = (l.total + world - 1) / world * world;
  return l;
}

void FlatLayout::pack(const ModelConfig& cfg, ModelWeights& w, float* flat) const {
  size_t i = 0;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) {
    const FlatTensor& t = tensors.at(i++);
    MMADA_CHECK(s.tensor->dtype == DType::F32 && s.tensor->numel() == t.numel, "flat layout: ",
                s.name, " must be a float32 tensor of ", t.numel, " elements");
    std::memcpy(flat + t.offset, s.tensor->ptr<float>(), size_t(t.numel) * sizeof(float));
  });
  std::fill(flat + total, flat + padded, 0.0f);
}

void FlatLayout::unpack(const ModelConfig& cfg, const float* flat, ModelWeights& w) const {
  size_t i = 0;
  for_each_tensor(cfg, w, [&](const TensorSlot& s) {
    const FlatTensor& t = tensors.at(i++);
    if (s.tensor->dtype != DType::F32 || s.tensor->shape != s.shape)
      *s.tensor = Tensor::empty(DType::F32, s.shape);
    std::memcpy(s.tensor->ptr<float>(), flat + t.offset, size_t(t.numel) * sizeof(float));
  });
}

}  // namespace mmada::train
