// libFuzzer target for the PNG / JPEG loader. Malformed input must raise mmada::Error; any
// other exception, a crash or an ASan/UBSan report is a bug. Accepted images are checked
// against the size limits and their pixels read so a short buffer shows up under ASan.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "io/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);  // exact-size block: overreads are visible
  try {
    const mmada::RgbImage img = mmada::decode_image(buf.data(), buf.size(), "fuzz");
    if (img.width <= 0 || img.height <= 0 || img.width > mmada::kMaxImageSide ||
        img.height > mmada::kMaxImageSide || int64_t(img.width) * img.height > mmada::kMaxImagePixels ||
        img.rgb.size() != size_t(img.width) * size_t(img.height) * 3)
      __builtin_trap();
    uint64_t sum = 0;
    for (uint8_t v : img.rgb) sum += v;
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const mmada::Error&) {
  }
  return 0;
}
