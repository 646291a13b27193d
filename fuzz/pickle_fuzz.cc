// libFuzzer target for the restricted torch.save unpickler (bytes of data.pkl, no zip).
// Anything it cannot accept must raise mmada::Error; accepted entries must be well formed.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "io/torch_pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);
  try {
    const auto entries = mmada::parse_torch_pickle(buf.data(), buf.size(), "fuzz.pkl");
    for (const auto& t : entries) {
      if (t.shape.size() != t.stride.size() || t.storage_offset < 0) __builtin_trap();
      for (int64_t d : t.shape)
        if (d < 0) __builtin_trap();
      (void)mmada::shape_numel(t.shape);  // must not overflow: checked by the parser
    }
  } catch (const mmada::Error&) {
  }
  return 0;
}
