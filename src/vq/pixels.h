// Conversions between uint8 images and the float pixel tensors MAGVIT-v2 reads and writes.
#pragma once
#include "core/tensor.h"

namespace mmada {

// uint8 [B, H, W, C] -> float32 [B, C, H, W]: (x / 255 - 0.5) / 0.5, as torchvision's
// ToTensor + Normalize(0.5, 0.5) (vq.md §6 steps 3-4).
Tensor pixels_from_uint8_nhwc(const Tensor& img);

// float32 [B, C, H, W] -> uint8 [B, H, W, C]: clamp((x + 1) / 2, 0, 1) * 255 in float32, then
// truncation toward zero, as inference_t2i.py (vq.md §7). NaN becomes 0.
Tensor image_to_uint8_nhwc(const Tensor& img);

}  // namespace mmada
