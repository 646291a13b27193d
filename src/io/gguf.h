// GGUF (the llama.cpp container, version 2 and 3): memory-mapped, zero-copy reader with every
// count, length, offset and type checked, and a writer.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 metadata count; the
// metadata (string key, u32 value type, value; arrays are u32 element type, u64 count,
// elements; strings are u64 length + bytes); the tensor infos (name, u32 n_dims, u64 dims
// innermost first, u32 ggml type, u64 offset); padding to general.alignment (default 32); the
// data section, every tensor at an aligned offset relative to its start.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace mmada {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8,
  ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

// One metadata value. Integers keep their sign in `i` or `u` (both set when in range),
// floats in `f`; arrays hold their elements (never arrays themselves).
struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType elem_type = GgufType::U32;  // arrays only
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  std::vector<GgufValue> arr;

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue f32(float v);
  static GgufValue str(std::string v);
  static GgufValue boolean(bool v);
  static GgufValue strings(const std::vector<std::string>& v);
};

// Largest ggml type id we know; names of the block types we do not run, for messages.
std::string ggml_type_name(uint32_t id);
// Our DType for a ggml type id (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K); false otherwise.
bool dtype_from_ggml(uint32_t id, DType* out);
uint32_t ggml_from_dtype(DType t);  // throws for a dtype GGUF cannot hold

class GgufFile {
 public:
  static std::shared_ptr<GgufFile> open(const std::string& path);
  // Same checks on bytes in memory (the fuzzer); tensors then point into `bytes`.
  static std::shared_ptr<GgufFile> parse(const unsigned char* bytes, size_t size,
                                         const std::string& name,
                                         std::shared_ptr<void> owner = nullptr);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }

  bool has_key(const std::string& key) const { return kv_.count(key) != 0; }
  const GgufValue* find(const std::string& key) const;
  // Typed getters: throw naming the key if absent or of another kind. get_int accepts any
  // integer type whose value fits int64; get_float accepts floats and integers.
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  std::vector<std::string> keys() const;

  // Tensors by GGUF name, with our shape order (outermost first: a [N, K] matrix has
  // GGUF dims {K, N}).
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const Tensor& get(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::map<std::string, Tensor> tensors_;
};

// Writes a GGUF v3 file (via a temporary file and rename). Tensors must be contiguous and of a
// dtype GGUF holds; metadata is written in the order given.
void write_gguf(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& kv,
                const std::vector<std::pair<std::string, Tensor>>& tensors, uint32_t alignment = 32);

}  // namespace mmada
