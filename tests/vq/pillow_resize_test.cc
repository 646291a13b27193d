// Our Pillow-compatible resize / centre crop / squash against vectors made by real Pillow
// (scripts/make-resize-vectors.py, Pillow 9.4.0; spec/vq.md §6). Byte-for-byte equality.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"
#include "vq/preprocess.h"

namespace mmada {
namespace {

using test::read_bytes;

std::string data_dir() {
  std::string here = __FILE__;  // .../tests/vq/pillow_resize_test.cc
  here.resize(here.find_last_of('/'));
  return here.substr(0, here.find_last_of('/')) + "/data/resize/";
}

// The generator of make-resize-vectors.py: 32-bit LCG, one byte (the top 8 bits) per step.
std::vector<uint8_t> lcg_bytes(uint32_t seed, size_t n) {
  std::vector<uint8_t> out(n);
  uint32_t s = seed;
  for (size_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    out[i] = uint8_t(s >> 24);
  }
  return out;
}

TEST(PillowResize, MatchesPillowByteForByte) {
  std::ifstream idx(data_dir() + "index.json");
  ASSERT_TRUE(idx.good()) << "missing " << data_dir() << "index.json";
  const nlohmann::json index = nlohmann::json::parse(idx);
  ASSERT_GE(index["cases"].size(), 10u);
  for (const auto& c : index["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const int w = c["width"], h = c["height"], ow = c["out_width"], oh = c["out_height"];
    RgbImage src(w, h);
    src.rgb = lcg_bytes(uint32_t(c["seed"]), size_t(w) * size_t(h) * 3);
    if (c.contains("input")) {
      ASSERT_EQ(read_bytes(data_dir() + std::string(c["input"])), src.rgb);
    }

    const std::string op = c["op"];
    RgbImage ours;
    if (op == "crop") ours = resize_and_center_crop(src, int(c["size"]));
    else if (op == "squash") ours = resize_squash(src, int(c["size"]));
    else ours = resize_bicubic(src, ow, oh);
    ASSERT_EQ(ours.width, ow);
    ASSERT_EQ(ours.height, oh);

    const std::vector<uint8_t> want = read_bytes(data_dir() + std::string(c["output"]));
    ASSERT_EQ(want.size(), ours.rgb.size());
    int max_diff = 0;
    size_t differing = 0, first = want.size();
    for (size_t i = 0; i < want.size(); ++i) {
      const int d = std::abs(int(ours.rgb[i]) - int(want[i]));
      if (d && first == want.size()) first = i;
      differing += d != 0;
      max_diff = std::max(max_diff, d);
    }
    EXPECT_EQ(max_diff, 0) << differing << " of " << want.size() << " bytes differ, first at byte "
                           << first << " (x=" << first / 3 % size_t(ow) << ", y=" << first / 3 / size_t(ow)
                           << ", channel " << first % 3 << ")";
  }
}

// The squash and crop paths through preprocess_image give the same bytes as [-1, 1] floats.
TEST(PillowResize, PreprocessImageUsesThePillowPixels) {
  std::ifstream idx(data_dir() + "index.json");
  ASSERT_TRUE(idx.good());
  const nlohmann::json index = nlohmann::json::parse(idx);
  for (const auto& c : index["cases"]) {
    const std::string op = c["op"];
    if (op == "resize") continue;
    SCOPED_TRACE(std::string(c["name"]));
    const int w = c["width"], h = c["height"], size = c["size"];
    RgbImage src(w, h);
    src.rgb = lcg_bytes(uint32_t(c["seed"]), size_t(w) * size_t(h) * 3);
    const Tensor t =
        preprocess_image(src, size, op == "squash" ? ResizeMode::Squash : ResizeMode::CropCenter);
    ASSERT_EQ(t.shape, (Shape{1, 3, size, size}));
    const std::vector<uint8_t> want = read_bytes(data_dir() + std::string(c["output"]));
    const float* p = t.ptr<float>();
    for (int ch = 0; ch < 3; ++ch)
      for (int i = 0; i < size * size; ++i)
        ASSERT_FLOAT_EQ(p[size_t(ch) * size * size + i], (want[size_t(i) * 3 + ch] / 255.f - 0.5f) / 0.5f)
            << "channel " << ch << " pixel " << i;
  }
}

}  // namespace
}  // namespace mmada
