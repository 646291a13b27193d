// Test helper: writes torch.save-style checkpoints by hand (no Python here): the pickle
// opcodes a protocol-2 state dict uses, and the zip layout (libzip).
#pragma once
#include <zip.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mmada::test {

// Appends pickle opcodes to a byte string.
struct PickleWriter {
  std::string b;
  PickleWriter& op(char c) { return b.push_back(c), *this; }
  PickleWriter& proto() { return b += "\x80\x02", *this; }
  PickleWriter& str(const std::string& s) {  // BINUNICODE
    b += 'X';
    for (int i = 0; i < 4; ++i) b.push_back(char((s.size() >> (8 * i)) & 0xff));
    return b += s, *this;
  }
  PickleWriter& global(const std::string& module, const std::string& name) {
    return b += "c" + module + "\n" + name + "\n", *this;
  }
  PickleWriter& integer(int64_t v) {  // BININT1 / BININT / LONG1 as pickle chooses
    if (v >= 0 && v < 256) return b += 'K', b.push_back(char(v)), *this;
    if (v >= INT32_MIN && v <= INT32_MAX) {
      b += 'J';
      for (int i = 0; i < 4; ++i) b.push_back(char((uint32_t(v) >> (8 * i)) & 0xff));
      return *this;
    }
    b += "\x8a\x08";
    for (int i = 0; i < 8; ++i) b.push_back(char((uint64_t(v) >> (8 * i)) & 0xff));
    return *this;
  }
  PickleWriter& int_tuple(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  PickleWriter& empty_ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }

  // One _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) call.
  PickleWriter& tensor(const std::string& storage_class, const std::string& key, int64_t storage_numel,
                       int64_t offset, const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
    global("torch._utils", "_rebuild_tensor_v2");
    op('(');
    op('(').str("storage").global("torch", storage_class).str(key).str("cpu").integer(storage_numel).op('t');
    op('Q');
    integer(offset).int_tuple(size).int_tuple(stride);
    op('\x89');
    empty_ordered_dict();
    op('t');
    return op('R');
  }
};

inline const char* storage_class(DType t) {
  switch (t) {
    case DType::F64: return "DoubleStorage";
    case DType::F16: return "HalfStorage";
    case DType::BF16: return "BFloat16Storage";
    case DType::I64: return "LongStorage";
    case DType::I32: return "IntStorage";
    case DType::U8: return "ByteStorage";
    default: return "FloatStorage";
  }
}

// A zip with archive/data.pkl and archive/data/<key> entries; false on a libzip failure.
inline bool write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (!z) return false;
  for (const auto& [name, data] : entries) {
    zip_source_t* s = zip_source_buffer(z, data.data(), data.size(), 0);
    if (!s || zip_file_add(z, name.c_str(), s, ZIP_FL_OVERWRITE) < 0) {
      zip_source_free(s);
      zip_discard(z);
      return false;
    }
  }
  return zip_close(z) == 0;
}

// A state dict of contiguous tensors, one storage each, as torch.save writes it.
inline bool write_torch_checkpoint(const std::string& path,
                                   const std::vector<std::pair<std::string, Tensor>>& tensors) {
  PickleWriter p;
  p.proto().op('}').op('(');
  std::vector<std::pair<std::string, std::string>> entries;
  entries.emplace_back("archive/data.pkl", "");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i].second;
    std::vector<int64_t> stride(t.shape.size());
    int64_t s = 1;
    for (size_t d = t.shape.size(); d-- > 0;) stride[d] = s, s *= t.shape[d];
    p.str(tensors[i].first).tensor(storage_class(t.dtype), std::to_string(i), t.numel(), 0, t.shape, stride);
    entries.emplace_back("archive/data/" + std::to_string(i),
                         std::string(static_cast<const char*>(t.data), t.nbytes()));
  }
  p.op('u').op('.');
  entries[0].second = p.b;
  entries.emplace_back("archive/byteorder", "little");
  entries.emplace_back("archive/version", "3\n");
  return write_zip(path, entries);
}

}  // namespace mmada::test
