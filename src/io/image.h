// Reading PNG / JPEG files into 8-bit RGB and writing PNG, with the conversions Pillow's
// Image.convert("RGB") applies (grey replicated, palette looked up, alpha dropped — never
// composited) so the pixels match what the reference feeds MAGVIT-v2.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mmada {

// Limits checked from the file header, before any pixel memory is allocated: a hostile
// 30000x30000 header is refused instead of allocating gigabytes.
constexpr int64_t kMaxImageSide = 16384;
constexpr int64_t kMaxImagePixels = int64_t(64) << 20;  // 64 Mpixel (192 MiB as RGB)

// Interleaved 8-bit RGB, row-major, no padding: pixel (x, y) channel c is at
// rgb[(y * width + x) * 3 + c].
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;

  RgbImage() = default;
  RgbImage(int w, int h) : width(w), height(h), rgb(size_t(w) * size_t(h) * 3) {}
  uint8_t* row(int y) { return rgb.data() + size_t(y) * size_t(width) * 3; }
  const uint8_t* row(int y) const { return rgb.data() + size_t(y) * size_t(width) * 3; }
};

// Decodes PNG (8/16 bit, grey, grey+alpha, palette, RGB, RGBA, interlaced) or baseline /
// progressive JPEG (grey, YCbCr, RGB; CMYK is refused). 16-bit samples keep their high byte;
// gamma and colour-profile chunks are ignored, as Pillow does. Throws mmada::Error naming
// `name` for unknown formats, truncated or corrupt data and images over the limits.
RgbImage decode_image(const uint8_t* bytes, size_t size, const std::string& name);
RgbImage load_image(const std::string& path);

// PNG text chunk (tEXt, Latin-1 by the PNG spec; we store UTF-8 bytes as they are).
using PngText = std::vector<std::pair<std::string, std::string>>;

// 8-bit RGB PNG in memory / on disk (written to a temporary file then renamed).
std::vector<uint8_t> encode_png(const RgbImage& img, const PngText& text = {});
void write_png(const std::string& path, const RgbImage& img, const PngText& text = {});

// Reads back the tEXt chunks of a PNG in memory (for tests and `mmada vq`); throws on
// malformed data.
PngText read_png_text(const uint8_t* bytes, size_t size, const std::string& name);

}  // namespace mmada
