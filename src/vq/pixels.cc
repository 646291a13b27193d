#include "vq/pixels.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace mmada {

Tensor pixels_from_uint8_nhwc(const Tensor& img) {
  MMADA_CHECK(img.dim() == 4 && img.dtype == DType::U8 && img.contiguous(),
              "pixels_from_uint8_nhwc: expected uint8 [B, H, W, C], got ", shape_str(img.shape));
  const int64_t b = img.size(0), h = img.size(1), w = img.size(2), c = img.size(3);
  Tensor x = Tensor::empty(DType::F32, {b, c, h, w});
  const uint8_t* src = img.ptr<uint8_t>();
  float* dst = x.ptr<float>();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t p = 0; p < h * w; ++p)
      for (int64_t ch = 0; ch < c; ++ch)
        dst[(i * c + ch) * h * w + p] = (float(src[(i * h * w + p) * c + ch]) / 255.f - 0.5f) / 0.5f;
  return x;
}

Tensor image_to_uint8_nhwc(const Tensor& img) {
  MMADA_CHECK(img.dim() == 4 && img.dtype == DType::F32 && img.contiguous(),
              "image_to_uint8_nhwc: expected float32 [B, C, H, W], got ", shape_str(img.shape));
  const int64_t b = img.size(0), c = img.size(1), h = img.size(2), w = img.size(3);
  Tensor out = Tensor::empty(DType::U8, {b, h, w, c});
  const float* src = img.ptr<float>();
  uint8_t* dst = out.ptr<uint8_t>();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) {
        float v = (src[(i * c + ch) * h * w + p] + 1.f) / 2.f;
        v = std::isnan(v) ? 0.f : std::clamp(v, 0.f, 1.f) * 255.f;
        dst[(i * h * w + p) * c + ch] = uint8_t(v);  // truncation, v in [0, 255]
      }
  return out;
}

}  // namespace mmada
