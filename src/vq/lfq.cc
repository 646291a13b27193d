#include "vq/lfq.h"

#include "core/error.h"

namespace mmada {

Tensor lfq_encode(const Tensor& z) {
  MMADA_CHECK(z.dim() == 4 && z.dtype == DType::F32 && z.contiguous(),
              "lfq_encode: latent must be float32 [B, bits, h, w], got ", shape_str(z.shape));
  const int64_t b = z.size(0), bits = z.size(1), hw = z.size(2) * z.size(3);
  MMADA_CHECK(bits >= 1 && bits <= 62, "lfq_encode: ", bits, " bits not supported");
  Tensor codes = Tensor::empty(DType::I64, {b, hw});
  for (int64_t i = 0; i < b; ++i)
    for (int64_t p = 0; p < hw; ++p)
      codes.ptr<int64_t>()[i * hw + p] = lfq_code(z.ptr<float>() + i * bits * hw + p, bits, hw);
  return codes;
}

Tensor lfq_decode(const Tensor& codes, int64_t bits, int64_t h, int64_t w) {
  MMADA_CHECK(codes.dim() == 2 && codes.contiguous() &&
                  (codes.dtype == DType::I64 || codes.dtype == DType::I32),
              "lfq_decode: codes must be int64/int32 [B, h*w], got ", shape_str(codes.shape));
  MMADA_CHECK(h > 0 && w > 0 && codes.size(1) == h * w, "lfq_decode: ", codes.size(1),
              " codes per image do not fill a ", h, "x", w, " grid");
  const int64_t b = codes.size(0), hw = h * w, size = int64_t(1) << bits;
  Tensor z = Tensor::empty(DType::F32, {b, bits, h, w});
  for (int64_t i = 0; i < b; ++i)
    for (int64_t p = 0; p < hw; ++p) {
      const int64_t k = codes.dtype == DType::I64 ? codes.ptr<int64_t>()[i * hw + p]
                                                  : codes.ptr<int32_t>()[i * hw + p];
      MMADA_CHECK(k >= 0 && k < size, "lfq_decode: code ", k, " at image ", i, " position ", p,
                  " outside the codebook [0, ", size, ")");
      for (int64_t c = 0; c < bits; ++c)
        z.ptr<float>()[(i * bits + c) * hw + p] = ((k >> (bits - 1 - c)) & 1) ? 1.f : -1.f;
    }
  return z;
}

Tensor lfq_codebook(int64_t bits) {
  const int64_t size = int64_t(1) << bits;
  Tensor e = Tensor::empty(DType::F32, {size, bits});
  for (int64_t k = 0; k < size; ++k)
    for (int64_t c = 0; c < bits; ++c)
      e.ptr<float>()[k * bits + c] = ((k >> (bits - 1 - c)) & 1) ? 1.f : -1.f;
  return e;
}

}  // namespace mmada
