#include "train/clip_image.h"

#include <algorithm>

#include "core/error.h"
#include "vq/preprocess.h"

namespace mmada::train {

std::vector<float> clip_preprocess(const RgbImage& image, const ClipPreprocessConfig& p) {
  MMADA_CHECK(image.width > 0 && image.height > 0, "clip: empty image");
  RgbImage resized = image;
  if (p.do_resize) {
    const int64_t s = p.shortest_edge, w = image.width, h = image.height;
    const int64_t shorter = std::min(w, h), longer = std::max(w, h);
    // Python's int(s * long / short): a float division, truncated.
    const int64_t other = int64_t(double(s) * double(longer) / double(shorter));
    const int64_t out_w = w <= h ? s : other, out_h = w <= h ? other : s;
    resized = resize_bicubic(image, int(out_w), int(out_h));
  }
  const int64_t ch = p.crop_height, cw = p.crop_width;
  MMADA_CHECK(resized.height >= ch && resized.width >= cw, "clip: a ", resized.width, "x", resized.height,
              " image is smaller than the ", cw, "x", ch, " crop");
  const int64_t top = (resized.height - ch) / 2, left = (resized.width - cw) / 2;
  std::vector<float> out(static_cast<size_t>(3 * ch * cw));
  for (int c = 0; c < 3; ++c) {
    const double scale = p.do_rescale ? p.rescale_factor : 1.0;
    const double mean = p.do_normalize ? p.mean[size_t(c)] : 0.0, sd = p.do_normalize ? p.std[size_t(c)] : 1.0;
    for (int64_t y = 0; y < ch; ++y) {
      const uint8_t* row = resized.row(int(top + y)) + left * 3;
      float* dst = out.data() + (c * ch + y) * cw;
      // transformers rescales to float32 first, then normalises in float32.
      for (int64_t x = 0; x < cw; ++x) dst[x] = (float(row[x * 3 + c] * scale) - float(mean)) / float(sd);
    }
  }
  return out;
}

}  // namespace mmada::train
