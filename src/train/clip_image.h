// CLIPImageProcessor (transformers, the PIL path) on an 8-bit RGB image: the shortest side
// resized to `shortest_edge` with Pillow's bicubic (the longer side int(s · long / short)),
// a centre crop whose offsets are floor((have − want) / 2) (transformers' center_crop, not
// torchvision's rounded ones), then (v · rescale_factor − mean) / std per channel.
#pragma once
#include <vector>

#include "io/image.h"
#include "train/clip_config.h"

namespace mmada::train {

// [3, crop_height, crop_width] float32, channel-major.
std::vector<float> clip_preprocess(const RgbImage& image, const ClipPreprocessConfig& p);

}  // namespace mmada::train
