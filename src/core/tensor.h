// A small tensor: dtype, shape, strides (in elements) and a pointer into storage that is
// either owned (64-byte aligned heap buffer) or borrowed from a memory-mapped file.
// Views share the owner, so a view keeps its storage alive.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace mmada {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);  // throws on overflow or negative dims

// 64-byte aligned, zero-initialised heap block shared by the tensors that view it.
std::shared_ptr<void> aligned_alloc64(size_t bytes);

struct Tensor {
  DType dtype = DType::F32;
  Shape shape;
  Shape strides;
  void* data = nullptr;
  std::shared_ptr<void> owner;

  static Tensor empty(DType dtype, Shape shape);
  static Tensor view(DType dtype, Shape shape, const void* data, std::shared_ptr<void> owner);

  int64_t dim() const { return int64_t(shape.size()); }
  int64_t size(int64_t d) const { return shape.at(size_t(d < 0 ? d + dim() : d)); }
  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return dtype_nbytes(dtype, numel()); }
  bool contiguous() const;
  bool defined() const { return data != nullptr || numel() == 0; }

  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }

  // View of rows [begin, end) along dimension 0.
  Tensor slice0(int64_t begin, int64_t end) const;
  // Same storage, new shape; the tensor must be contiguous.
  Tensor reshape(Shape new_shape) const;
  // Owned contiguous float32 copy (from F32/F16/BF16/F64/I64/I32/U8/BOOL and the
  // block-quantized types, dequantised).
  Tensor to_f32() const;
  // Owned contiguous bf16 copy (from F32/F16/BF16 and the block-quantized types).
  Tensor to_bf16() const;
};

}  // namespace mmada
