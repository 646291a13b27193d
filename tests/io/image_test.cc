// PNG / JPEG reading (Pillow's convert("RGB") rules), PNG writing with text, and refusal of
// oversized, truncated and foreign files.
#include "io/image.h"

#include <gtest/gtest.h>
#include <png.h>

#include <cstring>
#include <functional>

#include "core/error.h"

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>
#include "test_util.h"

namespace mmada {
namespace {

using test::error_of;

RgbImage decode(const std::vector<uint8_t>& b, const std::string& name = "mem.png") {
  return decode_image(b.data(), b.size(), name);
}

// A PNG of `format` (libpng's simplified writer) from raw samples.
std::vector<uint8_t> make_png(uint32_t format, int w, int h, const std::vector<uint8_t>& samples,
                              const std::vector<uint8_t>& colormap = {}, int colormap_entries = 0) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(w);
  img.height = png_uint_32(h);
  img.format = format;
  img.colormap_entries = png_uint_32(colormap_entries);
  png_alloc_size_t size = 0;
  EXPECT_TRUE(png_image_write_get_memory_size(img, size, 0, samples.data(), 0,
                                              colormap.empty() ? nullptr : colormap.data()));
  std::vector<uint8_t> out(size);
  EXPECT_TRUE(png_image_write_to_memory(&img, out.data(), &size, 0, samples.data(), 0,
                                        colormap.empty() ? nullptr : colormap.data()));
  out.resize(size);
  return out;
}

TEST(Image, RgbPngRoundTripWithText) {
  RgbImage img(5, 3);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t(i * 17);
  const auto png = encode_png(img, {{"parameters", "a cat\nSteps: 15"}, {"Software", "mmada.cpp"}});
  const RgbImage back = decode(png);
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.height, 3);
  EXPECT_EQ(back.rgb, img.rgb);
  const PngText text = read_png_text(png.data(), png.size(), "mem.png");
  ASSERT_EQ(text.size(), 2u);
  EXPECT_EQ(text[0].first, "parameters");
  EXPECT_EQ(text[0].second, "a cat\nSteps: 15");
}

TEST(Image, GreyIsReplicated) {
  const RgbImage g = decode(make_png(PNG_FORMAT_GRAY, 2, 1, {10, 200}));
  EXPECT_EQ(g.rgb, (std::vector<uint8_t>{10, 10, 10, 200, 200, 200}));
}

TEST(Image, AlphaIsDroppedNotComposited) {
  // Pillow's convert("RGB") keeps the colour of a fully transparent pixel.
  const RgbImage ga = decode(make_png(PNG_FORMAT_GA, 2, 1, {50, 0, 60, 255}));
  EXPECT_EQ(ga.rgb, (std::vector<uint8_t>{50, 50, 50, 60, 60, 60}));
  const RgbImage rgba = decode(make_png(PNG_FORMAT_RGBA, 2, 1, {1, 2, 3, 0, 4, 5, 6, 128}));
  EXPECT_EQ(rgba.rgb, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
}

TEST(Image, PaletteIsLookedUpAndTransparencyDropped) {
  const std::vector<uint8_t> rgb_map = {255, 0, 0, 0, 0, 255};
  const RgbImage p = decode(make_png(PNG_FORMAT_RGB_COLORMAP, 3, 1, {1, 0, 1}, rgb_map, 2));
  EXPECT_EQ(p.rgb, (std::vector<uint8_t>{0, 0, 255, 255, 0, 0, 0, 0, 255}));
  const std::vector<uint8_t> rgba_map = {10, 20, 30, 0, 40, 50, 60, 255};  // entry 0 transparent: tRNS
  const RgbImage t = decode(make_png(PNG_FORMAT_RGBA_COLORMAP, 2, 1, {0, 1}, rgba_map, 2));
  EXPECT_EQ(t.rgb, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));
}

std::vector<uint8_t> make_jpeg(int w, int h, int comp, uint8_t value) {
  std::vector<uint8_t> px(size_t(w * h * comp), value), out;
  stbi_write_jpg_to_func([](void* ctx, void* data, int n) {
    auto* o = static_cast<std::vector<uint8_t>*>(ctx);
    o->insert(o->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + n);
  }, &out, w, h, comp, px.data(), 95);
  return out;
}

TEST(Image, JpegDecodes) {
  for (int comp : {1, 3}) {
    const RgbImage j = decode(make_jpeg(16, 8, comp, 120), "x.jpg");
    EXPECT_EQ(j.width, 16);
    EXPECT_EQ(j.height, 8);
    for (uint8_t v : j.rgb) EXPECT_NEAR(int(v), 120, 2);
  }
}

// A PNG signature and an IHDR chunk (valid CRC) claiming w x h; no image data.
std::vector<uint8_t> png_header_only(uint32_t w, uint32_t h) {
  std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};
  std::vector<uint8_t> chunk = {'I', 'H', 'D', 'R'};
  for (uint32_t v : {w, h})
    for (int s = 24; s >= 0; s -= 8) chunk.push_back(uint8_t(v >> s));
  chunk.insert(chunk.end(), {8, 2, 0, 0, 0});
  uint32_t crc = 0xffffffffu;
  for (uint8_t c : chunk) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  crc ^= 0xffffffffu;
  b.insert(b.end(), chunk.begin(), chunk.end());
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(crc >> s));
  return b;
}

TEST(Image, SizeLimitsAreCheckedFromTheHeader) {
  EXPECT_NE(error_of([] { decode(png_header_only(30000, 30000), "huge.png"); }).find("larger than the limit"),
            std::string::npos);
  EXPECT_NE(error_of([] { decode(png_header_only(16000, 8000), "wide.png"); }).find("over the limit"),
            std::string::npos);
  // Within the limits, the missing image data is the error.
  EXPECT_NE(error_of([] { decode(png_header_only(100, 100), "short.png"); }).find("short.png"),
            std::string::npos);
}

TEST(Image, TruncatedAndForeignFilesAreRefused) {
  RgbImage img(64, 64);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t((i * 7919) >> 3);
  const auto png = encode_png(img);
  for (size_t n : {size_t(0), size_t(8), size_t(40), png.size() / 2, png.size() - 1}) {
    const std::vector<uint8_t> cut(png.begin(), png.begin() + long(n));
    EXPECT_NE(error_of([&] { decode(cut, "cut.png"); }).find("cut.png"), std::string::npos) << n;
  }
  const auto jpg = make_jpeg(64, 64, 3, 90);
  const std::vector<uint8_t> jcut(jpg.begin(), jpg.begin() + long(jpg.size() / 2));
  EXPECT_NE(error_of([&] { decode(jcut, "cut.jpg"); }).find("cut.jpg"), std::string::npos);
  const std::string text = "just some text, renamed .png";
  const std::vector<uint8_t> t(text.begin(), text.end());
  EXPECT_NE(error_of([&] { decode(t, "notes.png"); }).find("notes.png: not a PNG or JPEG file"), std::string::npos);
  EXPECT_NE(error_of([] { load_image("/nonexistent/dir/x.png"); }).find("/nonexistent/dir/x.png"), std::string::npos);
}

}  // namespace
}  // namespace mmada
