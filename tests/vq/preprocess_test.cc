// Pillow-compatible bicubic resize, torchvision's centre crop and the [-1, 1] tensor, checked
// against values worked out by hand from the algorithm (vq.md §6).
#include "vq/preprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "train/image_data.h"

namespace mmada {
namespace {

RgbImage pattern(int w, int h) {
  RgbImage img(w, h);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = uint8_t((x * 7 + y * 13 + c * 50) & 255);
  return img;
}

TEST(Preprocess, AlreadyTargetSizeIsUntouched) {
  const RgbImage img = pattern(512, 512);
  EXPECT_EQ(resize_and_center_crop(img, 512).rgb, img.rgb);
  EXPECT_EQ(resize_squash(img, 512).rgb, img.rgb);
  const Tensor t = preprocess_image(img, 512);
  EXPECT_EQ(t.shape, (Shape{1, 3, 512, 512}));
  // channel 1 of pixel (x=2, y=1): (14 + 13 + 50) = 77 -> 77/255*2-1
  EXPECT_FLOAT_EQ(t.ptr<float>()[1 * 512 * 512 + 1 * 512 + 2], (77.f / 255.f - 0.5f) / 0.5f);
}

TEST(Preprocess, TwoToOneCropsTheCentre) {
  const RgbImage img = pattern(1024, 512);  // shorter side already 512: no resampling
  const RgbImage out = resize_and_center_crop(img, 512);
  ASSERT_EQ(out.width, 512);
  for (int y : {0, 100, 511})
    EXPECT_EQ(0, std::memcmp(out.row(y), img.row(y) + 256 * 3, 512 * 3));
  const RgbImage tall = pattern(512, 1024);
  EXPECT_EQ(0, std::memcmp(resize_and_center_crop(tall, 512).row(0), tall.row(256), 512 * 3));
}

TEST(Preprocess, CropOffsetRoundsHalfToEven) {
  EXPECT_EQ(center_crop_offset(512, 512), 0);
  EXPECT_EQ(center_crop_offset(513, 512), 0);  // round(0.5) = 0
  EXPECT_EQ(center_crop_offset(514, 512), 1);
  EXPECT_EQ(center_crop_offset(515, 512), 2);  // round(1.5) = 2
  EXPECT_EQ(center_crop_offset(517, 512), 2);  // round(2.5) = 2
  EXPECT_EQ(center_crop_offset(519, 512), 4);  // round(3.5) = 4
}

TEST(Preprocess, ConstantImageStaysConstant) {
  for (auto [w, h] : {std::pair{300, 200}, std::pair{1000, 700}, std::pair{37, 911}}) {
    RgbImage img(w, h);
    std::fill(img.rgb.begin(), img.rgb.end(), uint8_t(173));
    const RgbImage out = resize_and_center_crop(img, 64);
    ASSERT_EQ(out.width, 64);
    ASSERT_EQ(out.height, 64);
    for (uint8_t v : out.rgb) ASSERT_EQ(v, 173) << w << "x" << h;
  }
}

// 2 -> 4 upscale: scale 0.5, support 2. Output x=0 reads inputs {0, 1} with bicubic(0.25),
// bicubic(1.25) = 111/128, -9/128, normalised to 111/102, -9/102; x=1 reads bicubic(-0.25),
// bicubic(0.75) = 111/128, 29/128 -> 111/140, 29/140; x=2, 3 mirror them. In 22-bit fixed
// point: 4564390, -370086 and 3325485, 868820; out = (sum + 2^21) >> 22, clipped to 0..255.
TEST(Preprocess, BicubicUpscaleMatchesHandComputation) {
  RgbImage img(2, 2);
  const uint8_t row[6] = {0, 100, 0, 255, 200, 255};  // channels: (0, 255), (100, 200), (0, 255)
  std::memcpy(img.row(0), row, 6);
  std::memcpy(img.row(1), row, 6);
  const RgbImage out = resize_bicubic(img, 4, 4);
  ASSERT_EQ(out.width, 4);
  ASSERT_EQ(out.height, 4);
  const int want_c0[4] = {0, 53, 202, 255};    // 255 * -370086 < 0 -> 0; 1166016602 >> 22 = 278 -> 255
  const int want_c1[4] = {91, 121, 179, 209};  // 100/200 mixed
  for (int y = 0; y < 4; ++y)  // rows are equal, and the vertical weights sum to 1
    for (int x = 0; x < 4; ++x) {
      EXPECT_EQ(out.row(y)[x * 3 + 0], want_c0[x]) << x << "," << y;
      EXPECT_EQ(out.row(y)[x * 3 + 1], want_c1[x]) << x << "," << y;
      EXPECT_EQ(out.row(y)[x * 3 + 2], want_c0[x]) << x << "," << y;
    }
}

TEST(Preprocess, DownscaleAveragesWithWidenedKernel) {
  // 4 -> 1 along x: filterscale 4, support 8 covers every input; weights are symmetric, so a
  // 0/255 alternating row gives about the mean.
  RgbImage img(4, 1);
  for (int x = 0; x < 4; ++x)
    for (int c = 0; c < 3; ++c) img.row(0)[x * 3 + c] = x % 2 ? 255 : 0;
  const RgbImage out = resize_bicubic(img, 1, 1);
  EXPECT_NEAR(out.rgb[0], 127, 10);
}

TEST(Preprocess, SquashKeepsNoAspectRatio) {
  const RgbImage out = resize_squash(pattern(100, 50), 64);
  EXPECT_EQ(out.width, 64);
  EXPECT_EQ(out.height, 64);
  const Tensor t = preprocess_image(pattern(100, 50), 32, ResizeMode::Squash);
  EXPECT_EQ(t.shape, (Shape{1, 3, 32, 32}));
}

TEST(Preprocess, PixelsRoundTrip) {
  const RgbImage img = pattern(16, 16);
  const std::vector<RgbImage> back = pixels_to_images(images_to_pixels({img}));
  ASSERT_EQ(back.size(), 1u);
  // Truncation after float scaling may land one below (vq.md §7 truncates, never rounds).
  for (size_t i = 0; i < img.rgb.size(); ++i) ASSERT_NEAR(int(back[0].rgb[i]), int(img.rgb[i]), 1) << i;
}

// mmada train's canvas (train/image_data.h): a 28x28 grey image centred, unscaled, on a black
// 32x32 canvas. A PNG of that image through the "pad" fit must give the trainer's tensor bit
// for bit, so `mmada describe` sees Fashion-MNIST as training did.
TEST(Preprocess, PadMatchesTheTrainersCanvas) {
  train::LabelledImages d;
  d.count = 1;
  d.height = d.width = 28;
  for (int i = 0; i < 28 * 28; ++i) d.pixels.push_back(uint8_t((i * 37 + 11) % 256));
  d.labels = {0};
  RgbImage img(28, 28);
  for (int y = 0; y < 28; ++y)
    for (int x = 0; x < 28; ++x)
      for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = d.pixels[size_t(y * 28 + x)];
  const Tensor want = train::grey_to_pixels(d, 0, 1, 32);
  const Tensor got = preprocess_image(img, 32, ResizeMode::Pad);
  ASSERT_EQ(got.shape, want.shape);
  EXPECT_EQ(std::memcmp(got.ptr<float>(), want.ptr<float>(), size_t(want.numel()) * sizeof(float)), 0);
  // A 32x32 image is the canvas itself; MMaDA's crop would have resized the 28x28 one instead.
  EXPECT_EQ(pad_to_canvas(pattern(32, 32), 32).rgb, pattern(32, 32).rgb);
  EXPECT_NE(resize_and_center_crop(img, 32).rgb, pad_to_canvas(img, 32).rgb);
}

TEST(Preprocess, PadShrinksLargerImagesToFit) {
  const RgbImage wide = pattern(64, 32);
  const RgbImage out = pad_to_canvas(wide, 32);
  ASSERT_EQ(out.width, 32);
  ASSERT_EQ(out.height, 32);
  const RgbImage shrunk = resize_bicubic(wide, 32, 16);  // aspect kept: 32x16, rows 8..23
  for (int y = 0; y < 32; ++y) {
    if (y >= 8 && y < 24) {
      EXPECT_EQ(std::memcmp(out.row(y), shrunk.row(y - 8), 32 * 3), 0) << "row " << y;
    } else {
      EXPECT_TRUE(std::all_of(out.row(y), out.row(y) + 32 * 3, [](uint8_t v) { return v == 0; })) << "row " << y;
    }
  }
}

TEST(Preprocess, FitNames) {
  EXPECT_EQ(resize_mode_from_name("crop"), ResizeMode::CropCenter);
  EXPECT_EQ(resize_mode_from_name("squash"), ResizeMode::Squash);
  EXPECT_EQ(resize_mode_from_name("pad"), ResizeMode::Pad);
  try {
    resize_mode_from_name("stretch");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("crop, squash or pad"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmada
