#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/quant.h"

namespace mmada {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    MMADA_CHECK(d >= 0, "negative dimension in shape ", shape_str(s));
    MMADA_CHECK(d == 0 || n <= INT64_MAX / d, "shape ", shape_str(s), " overflows 64 bits");
    n *= d;
  }
  return n;
}

std::shared_ptr<void> aligned_alloc64(size_t bytes) {
  size_t padded = (bytes + 63) / 64 * 64;
  if (padded == 0) padded = 64;
  void* p = std::aligned_alloc(64, padded);
  if (!p) fail("out of memory allocating ", bytes, " bytes");
  std::memset(p, 0, padded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

static Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

// A block-quantized tensor is stored row by row: its rows must be whole blocks.
static void check_blocks(DType dtype, const Shape& shape) {
  if (!dtype_is_quantized(dtype)) return;
  MMADA_CHECK(!shape.empty() && shape.back() % dtype_block_elems(dtype) == 0, "a ",
              dtype_name(dtype), " tensor needs rows of whole ", dtype_block_elems(dtype),
              "-weight blocks, not shape ", shape_str(shape));
}

Tensor Tensor::empty(DType dtype, Shape shape) {
  check_blocks(dtype, shape);
  Tensor t;
  t.dtype = dtype;
  t.strides = contiguous_strides(shape);
  t.shape = std::move(shape);
  t.owner = aligned_alloc64(t.nbytes());
  t.data = t.owner.get();
  return t;
}

Tensor Tensor::view(DType dtype, Shape shape, const void* data, std::shared_ptr<void> owner) {
  check_blocks(dtype, shape);
  Tensor t;
  t.dtype = dtype;
  t.strides = contiguous_strides(shape);
  t.shape = std::move(shape);
  t.data = const_cast<void*>(data);
  t.owner = std::move(owner);
  return t;
}

bool Tensor::contiguous() const { return strides == contiguous_strides(shape); }

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  MMADA_CHECK(dim() >= 1 && 0 <= begin && begin <= end && end <= shape[0], "slice [", begin, ", ",
              end, ") out of range for shape ", shape_str(shape));
  Tensor t = *this;
  t.shape[0] = end - begin;
  // Block-quantized rows are whole blocks, so the byte offset of a row is exact.
  t.data = static_cast<char*>(data) + dtype_nbytes(dtype, begin * strides[0]);
  return t;
}

Tensor Tensor::reshape(Shape new_shape) const {
  MMADA_CHECK(contiguous(), "reshape of a non-contiguous tensor");
  MMADA_CHECK(shape_numel(new_shape) == numel(), "cannot reshape ", shape_str(shape), " to ",
              shape_str(new_shape));
  check_blocks(dtype, new_shape);
  Tensor t = *this;
  t.strides = contiguous_strides(new_shape);
  t.shape = std::move(new_shape);
  return t;
}

namespace {
template <typename T>
T load_unaligned(const void* base, size_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(base) + i * sizeof(T), sizeof(T));
  return v;
}
}  // namespace

Tensor Tensor::to_f32() const {
  MMADA_CHECK(contiguous(), "to_f32 of a non-contiguous tensor");
  Tensor out = Tensor::empty(DType::F32, shape);
  const size_t n = size_t(numel());
  float* o = out.ptr<float>();
  switch (dtype) {
    case DType::F32: std::memcpy(o, data, n * 4); break;
    case DType::BF16: convert_bf16_to_f32(ptr<uint16_t>(), o, n); break;
    case DType::F16: convert_f16_to_f32(ptr<uint16_t>(), o, n); break;
    // Mapped files need not align their tensors: wide elements are read with memcpy.
    case DType::F64: for (size_t i = 0; i < n; ++i) o[i] = float(load_unaligned<double>(data, i)); break;
    case DType::I64: for (size_t i = 0; i < n; ++i) o[i] = float(load_unaligned<int64_t>(data, i)); break;
    case DType::I32: for (size_t i = 0; i < n; ++i) o[i] = float(load_unaligned<int32_t>(data, i)); break;
    case DType::U8:
    case DType::BOOL: for (size_t i = 0; i < n; ++i) o[i] = float(ptr<uint8_t>()[i]); break;
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K: dequantize(dtype, data, o, int64_t(n)); break;
    default: fail("cannot convert ", dtype_name(dtype), " to F32");
  }
  return out;
}

Tensor Tensor::to_bf16() const {
  MMADA_CHECK(contiguous(), "to_bf16 of a non-contiguous tensor");
  if (dtype == DType::BF16) {
    Tensor out = Tensor::empty(DType::BF16, shape);
    std::memcpy(out.data, data, nbytes());
    return out;
  }
  if (dtype_is_quantized(dtype)) {
    Tensor out = Tensor::empty(DType::BF16, shape);
    dequantize_bf16(dtype, data, out.ptr<uint16_t>(), numel());
    return out;
  }
  Tensor f = dtype == DType::F32 ? *this : to_f32();
  Tensor out = Tensor::empty(DType::BF16, shape);
  convert_f32_to_bf16(f.ptr<float>(), out.ptr<uint16_t>(), size_t(numel()));
  return out;
}

}  // namespace mmada
