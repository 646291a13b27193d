// Image -> MAGVIT-v2 input tensor, as MMaDA's image_transform / image_transform_squash
// (spec/vq.md §6): Pillow-compatible bicubic resize, centre crop, [-1, 1] NCHW float32.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/image.h"

namespace mmada {

// Pillow's Image.resize(size, BICUBIC) without reducing_gap: separable, antialiased (the
// kernel support grows with the down-scale factor), 22-bit fixed-point weights, horizontal
// pass into an 8-bit image, then vertical pass. Same size -> copy. The result is meant to be
// bit-identical to Pillow's 8-bit RGB path (the same arithmetic, reimplemented).
RgbImage resize_bicubic(const RgbImage& src, int out_w, int out_h);

// torchvision's Resize(size) on a PIL image: the shorter side becomes `size`, the longer
// int(size * long / short) (truncated), then CenterCrop(size) with Python-round offsets.
RgbImage resize_and_center_crop(const RgbImage& src, int size);
// The "squash" variant: both sides resized to `size`, aspect ratio not kept, no crop.
RgbImage resize_squash(const RgbImage& src, int size);

// Crop offset of CenterCrop for an axis of length `have` to `want`:
// round((have - want) / 2) with ties to even, as Python's round.
int center_crop_offset(int have, int want);

// mmada train's canvas (train/image_data.h): an image no larger than `size` is centred on a
// black size x size canvas, unscaled (28x28 Fashion-MNIST -> a 2-pixel border on 32x32); a
// larger one is first shrunk (bicubic, aspect kept) until its longer side is `size`.
RgbImage pad_to_canvas(const RgbImage& src, int size);

enum class ResizeMode { CropCenter, Squash, Pad };
// "crop", "squash", "pad"; throws mmada::Error naming the choices otherwise.
ResizeMode resize_mode_from_name(const std::string& name);

// Images of equal size -> float32 [B, 3, H, W] in [-1, 1].
Tensor images_to_pixels(const std::vector<RgbImage>& images);
// One image resized to size x size by `mode`, as [1, 3, size, size].
Tensor preprocess_image(const RgbImage& img, int size, ResizeMode mode = ResizeMode::CropCenter);

// float32 [B, 3, H, W] decoder output -> RGB images (vq.md §7: clamp, scale, truncate).
std::vector<RgbImage> pixels_to_images(const Tensor& pixels);

}  // namespace mmada
