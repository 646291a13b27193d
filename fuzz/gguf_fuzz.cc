// libFuzzer target for the GGUF parser. A malformed input must raise mmada::Error; anything
// else (other exceptions, ASan/UBSan reports) is a bug. Every accepted tensor's bytes are read
// (and the block types dequantised) so an out-of-range view is caught by ASan.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/quant.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Copy into an exact-size heap block so reads past the end are ASan-visible.
  std::vector<unsigned char> buf(data, data + size);
  try {
    auto g = mmada::GgufFile::parse(buf.data(), buf.size(), "fuzz");
    uint64_t sum = 0;
    for (const auto& name : g->names()) {
      const mmada::Tensor& t = g->get(name);
      const auto* p = static_cast<const unsigned char*>(t.data);
      const size_t n = t.nbytes();
      if (n > 0 && (p < buf.data() || p + n > buf.data() + buf.size())) __builtin_trap();
      for (size_t i = 0; i < n; ++i) sum += p[i];
      if (mmada::dtype_is_quantized(t.dtype) && t.numel() > 0 && t.numel() <= (1 << 16)) {
        std::vector<float> out(static_cast<size_t>(t.numel()));
        mmada::dequantize(t.dtype, t.data, out.data(), t.numel());
        sum += out.empty() ? 0 : uint64_t(out[0] == out[0]);
      }
    }
    for (const auto& k : g->keys()) sum += k.size() + g->find(k)->arr.size();
    volatile uint64_t sink = sum;
    (void)sink;
  } catch (const mmada::Error&) {
    // Expected for malformed input.
  }
  return 0;
}
