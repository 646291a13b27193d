// libFuzzer target for the safetensors header validator. A malformed input must raise
// mmada::Error; anything else (other exceptions, ASan/UBSan reports) is a bug. Every accepted
// tensor's bytes are read so an out-of-range view is caught by ASan.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Copy into an exact-size heap block so reads past the end are ASan-visible.
  std::vector<unsigned char> buf(data, data + size);
  try {
    auto st = mmada::SafeTensorsFile::parse(buf.data(), buf.size(), "fuzz");
    uint64_t sum = 0;
    for (const auto& name : st->names()) {
      const mmada::Tensor& t = st->get(name);
      if (!t.contiguous()) __builtin_trap();
      const auto* p = static_cast<const unsigned char*>(t.data);
      const size_t n = t.nbytes();
      // Every view must lie within the input buffer.
      if (n > 0 && (p < buf.data() || p + n > buf.data() + buf.size())) __builtin_trap();
      for (size_t i = 0; i < n; ++i) sum += p[i];
    }
    for (const auto& kv : st->metadata()) sum += kv.first.size() + kv.second.size();
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const mmada::Error&) {
    // Expected for malformed input.
  }
  return 0;
}
