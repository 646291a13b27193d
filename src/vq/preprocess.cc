#include "vq/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "vq/pixels.h"

namespace mmada {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's 8-bit resampler: 22 fractional bits

// Keys' cubic convolution with a = -0.5 (Pillow's BICUBIC), support 2.
double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

// Per output pixel: the first input index and fixed-point weights for the inputs it reads.
struct AxisWeights {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;  // [out, ksize]
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size).
AxisWeights axis_weights(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);  // widen the kernel when shrinking
  const double support = 2.0 * filterscale;
  AxisWeights a;
  a.ksize = int(std::ceil(support)) * 2 + 1;
  a.first.resize(size_t(out_size));
  a.count.resize(size_t(out_size));
  a.k.assign(size_t(out_size) * size_t(a.ksize), 0);
  std::vector<double> w(size_t(a.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    const int xmin = std::max(int(center - support + 0.5), 0);  // int(): toward zero, as C
    const int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    double total = 0;
    for (int x = 0; x < xmax; ++x) total += (w[size_t(x)] = bicubic((x + xmin - center + 0.5) * ss));
    int32_t* k = &a.k[size_t(xx) * size_t(a.ksize)];
    for (int x = 0; x < xmax; ++x) {
      const double v = total != 0 ? w[size_t(x)] / total : w[size_t(x)];
      const double f = v * double(1 << kPrecisionBits);
      k[x] = int32_t(v < 0 ? -0.5 + f : 0.5 + f);  // round half away from zero
    }
    a.first[size_t(xx)] = xmin;
    a.count[size_t(xx)] = std::max(xmax, 0);
  }
  return a;
}

uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;  // arithmetic shift = floor, as Pillow
  return uint8_t(std::clamp(v, 0, 255));
}

// Horizontal pass over rows [y0, y1) of src into an out_w-wide image of y1 - y0 rows.
RgbImage resample_horizontal(const RgbImage& src, int out_w, int y0, int y1) {
  const AxisWeights a = axis_weights(src.width, out_w);
  RgbImage out(out_w, y1 - y0);
  for (int y = y0; y < y1; ++y) {
    const uint8_t* in = src.row(y);
    uint8_t* o = out.row(y - y0);
    for (int xx = 0; xx < out_w; ++xx) {
      const int32_t* k = &a.k[size_t(xx) * size_t(a.ksize)];
      const int x0 = a.first[size_t(xx)], n = a.count[size_t(xx)];
      for (int c = 0; c < 3; ++c) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < n; ++x) acc += int32_t(in[(x0 + x) * 3 + c]) * k[x];
        o[xx * 3 + c] = clip8(acc);
      }
    }
  }
  return out;
}

// Vertical pass: row yy of the output reads rows first[yy] - row_base ... of src.
RgbImage resample_vertical(const RgbImage& src, const AxisWeights& a, int out_h, int row_base) {
  RgbImage out(src.width, out_h);
  const size_t row_bytes = size_t(src.width) * 3;
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &a.k[size_t(yy) * size_t(a.ksize)];
    const int y0 = a.first[size_t(yy)] - row_base, n = a.count[size_t(yy)];
    uint8_t* o = out.row(yy);
    for (size_t i = 0; i < row_bytes; ++i) {
      int32_t acc = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < n; ++y) acc += int32_t(src.row(y0 + y)[i]) * k[y];
      o[i] = clip8(acc);
    }
  }
  return out;
}

}  // namespace

RgbImage resize_bicubic(const RgbImage& src, int out_w, int out_h) {
  MMADA_CHECK(src.width > 0 && src.height > 0 && out_w > 0 && out_h > 0, "resize: bad sizes ",
              src.width, "x", src.height, " -> ", out_w, "x", out_h);
  MMADA_CHECK(int64_t(out_w) <= kMaxImageSide && int64_t(out_h) <= kMaxImageSide,
              "resize: target ", out_w, "x", out_h, " over the image size limit");
  const bool horizontal = out_w != src.width, vertical = out_h != src.height;
  if (!horizontal && !vertical) return src;
  const AxisWeights v = axis_weights(src.height, out_h);
  // Like Pillow, the horizontal pass only covers the rows the vertical pass reads.
  const int y_first = vertical ? v.first[0] : 0;
  const int y_last = vertical ? v.first[size_t(out_h - 1)] + v.count[size_t(out_h - 1)] : src.height;
  RgbImage h = horizontal ? resample_horizontal(src, out_w, y_first, y_last) : RgbImage();
  if (!vertical) return h;
  return horizontal ? resample_vertical(h, v, out_h, y_first) : resample_vertical(src, v, out_h, 0);
}

int center_crop_offset(int have, int want) {
  const int d = have - want;
  if (d % 2 == 0) return d / 2;
  const int lo = (d - 1) / 2;  // d / 2 = lo + 0.5: Python rounds to the even neighbour
  return lo % 2 == 0 ? lo : lo + 1;
}

RgbImage resize_and_center_crop(const RgbImage& src, int size) {
  MMADA_CHECK(size > 0, "preprocess: target size must be positive, got ", size);
  int w, h;
  // torchvision: new_long = int(size * long / short) in Python floats.
  if (src.width <= src.height) {
    w = size;
    h = int(double(size) * double(src.height) / double(src.width));
  } else {
    h = size;
    w = int(double(size) * double(src.width) / double(src.height));
  }
  const RgbImage r = resize_bicubic(src, w, h);
  const int top = center_crop_offset(h, size), left = center_crop_offset(w, size);
  RgbImage out(size, size);
  for (int y = 0; y < size; ++y)
    std::memcpy(out.row(y), r.row(top + y) + size_t(left) * 3, size_t(size) * 3);
  return out;
}

RgbImage resize_squash(const RgbImage& src, int size) {
  MMADA_CHECK(size > 0, "preprocess: target size must be positive, got ", size);
  return resize_bicubic(src, size, size);
}

RgbImage pad_to_canvas(const RgbImage& src, int size) {
  MMADA_CHECK(size > 0, "preprocess: target size must be positive, got ", size);
  MMADA_CHECK(src.width > 0 && src.height > 0, "preprocess: empty image");
  if (src.width > size || src.height > size) {
    const bool wide = src.width >= src.height;
    const int w = wide ? size : std::max(1, int(int64_t(size) * src.width / src.height));
    const int h = wide ? std::max(1, int(int64_t(size) * src.height / src.width)) : size;
    return pad_to_canvas(resize_bicubic(src, w, h), size);
  }
  RgbImage out(size, size);  // zero = black, as grey_to_pixels' border
  const int top = (size - src.height) / 2, left = (size - src.width) / 2;
  for (int y = 0; y < src.height; ++y)
    std::memcpy(out.row(top + y) + size_t(left) * 3, src.row(y), size_t(src.width) * 3);
  return out;
}

ResizeMode resize_mode_from_name(const std::string& name) {
  if (name == "crop") return ResizeMode::CropCenter;
  if (name == "squash") return ResizeMode::Squash;
  if (name == "pad") return ResizeMode::Pad;
  fail("unknown image fit '", name, "' (crop, squash or pad)");
}

Tensor images_to_pixels(const std::vector<RgbImage>& images) {
  MMADA_CHECK(!images.empty(), "preprocess: no images");
  const int w = images[0].width, h = images[0].height;
  Tensor u8 = Tensor::empty(DType::U8, {int64_t(images.size()), h, w, 3});
  const size_t bytes = size_t(w) * size_t(h) * 3;
  for (size_t b = 0; b < images.size(); ++b) {
    MMADA_CHECK(images[b].width == w && images[b].height == h, "preprocess: image ", b, " is ",
                images[b].width, "x", images[b].height, ", expected ", w, "x", h);
    std::memcpy(u8.ptr<uint8_t>() + b * bytes, images[b].rgb.data(), bytes);
  }
  return pixels_from_uint8_nhwc(u8);
}

Tensor preprocess_image(const RgbImage& img, int size, ResizeMode mode) {
  switch (mode) {
    case ResizeMode::Squash: return images_to_pixels({resize_squash(img, size)});
    case ResizeMode::Pad: return images_to_pixels({pad_to_canvas(img, size)});
    case ResizeMode::CropCenter: break;
  }
  return images_to_pixels({resize_and_center_crop(img, size)});
}

std::vector<RgbImage> pixels_to_images(const Tensor& pixels) {
  MMADA_CHECK(pixels.dim() == 4 && pixels.size(1) == 3, "pixels_to_images: expected [B, 3, H, W], got ",
              shape_str(pixels.shape));
  const Tensor u8 = image_to_uint8_nhwc(pixels);
  const int64_t B = u8.size(0), H = u8.size(1), W = u8.size(2);
  std::vector<RgbImage> out;
  for (int64_t b = 0; b < B; ++b) {
    RgbImage img{int(W), int(H)};
    std::memcpy(img.rgb.data(), u8.ptr<uint8_t>() + b * H * W * 3, size_t(H * W * 3));
    out.push_back(std::move(img));
  }
  return out;
}

}  // namespace mmada
