#include "io/gguf.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"

namespace mmada {

namespace {

constexpr uint32_t kMaxDims = 4;                  // ggml's GGML_MAX_DIMS
constexpr uint64_t kMaxString = uint64_t(1) << 30;  // no key or value is near this

struct GgmlType {
  uint32_t id;
  const char* name;
  bool ours;
  DType dtype;
};
// ggml's type ids (ggml.h); the ones we run map to a DType.
constexpr GgmlType kGgmlTypes[] = {
    {0, "F32", true, DType::F32},      {1, "F16", true, DType::F16},
    {2, "Q4_0", true, DType::Q4_0},    {3, "Q4_1", false, DType::U8},
    {6, "Q5_0", false, DType::U8},     {7, "Q5_1", false, DType::U8},
    {8, "Q8_0", true, DType::Q8_0},    {9, "Q8_1", false, DType::U8},
    {10, "Q2_K", false, DType::U8},    {11, "Q3_K", false, DType::U8},
    {12, "Q4_K", true, DType::Q4_K},   {13, "Q5_K", false, DType::U8},
    {14, "Q6_K", true, DType::Q6_K},   {15, "Q8_K", false, DType::U8},
    {16, "IQ2_XXS", false, DType::U8}, {17, "IQ2_XS", false, DType::U8},
    {18, "IQ3_XXS", false, DType::U8}, {19, "IQ1_S", false, DType::U8},
    {20, "IQ4_NL", false, DType::U8},  {21, "IQ3_S", false, DType::U8},
    {22, "IQ2_S", false, DType::U8},   {23, "IQ4_XS", false, DType::U8},
    {24, "I8", false, DType::U8},      {25, "I16", false, DType::U8},
    {26, "I32", false, DType::U8},     {27, "I64", false, DType::U8},
    {28, "F64", false, DType::U8},     {29, "IQ1_M", false, DType::U8},
    {30, "BF16", true, DType::BF16},   {34, "TQ1_0", false, DType::U8},
    {35, "TQ2_0", false, DType::U8},   {39, "MXFP4", false, DType::U8},
};

const char* value_type_name(uint32_t t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  return t < 13 ? names[t] : "?";
}

// Bounds-checked reader over the file's bytes; every failure names the file and the field.
struct Cursor {
  const unsigned char* p;
  size_t size, pos = 0;
  const std::string& name;

  size_t left() const { return size - pos; }
  void need(size_t n, const std::string& what) {
    MMADA_CHECK(n <= left(), name, ": truncated file: ", what, " needs ", n, " bytes at offset ",
                pos, " but only ", left(), " remain");
  }
  uint64_t uint(size_t n, const std::string& what) {
    need(n, what);
    uint64_t v = 0;
    for (size_t k = n; k-- > 0;) v = (v << 8) | p[pos + k];
    pos += n;
    return v;
  }
  std::string str(const std::string& what) {
    const uint64_t len = uint(8, what + " length");
    MMADA_CHECK(len <= kMaxString && len <= left(), name, ": ", what, " has length ", len,
                " which runs past the end of the file (", left(), " bytes remain)");
    std::string s(reinterpret_cast<const char*>(p + pos), size_t(len));
    pos += size_t(len);
    return s;
  }
};

// Smallest encoding of one value of type t (so a count can be checked against the bytes left
// before anything is reserved).
size_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::BOOL: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::STRING: case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::ARRAY: return 12;
  }
  return 1;
}

GgufValue read_value(Cursor& c, uint32_t type, const std::string& key, bool in_array) {
  MMADA_CHECK(type <= 12, c.name, ": metadata '", key, "' has unknown value type ", type);
  GgufValue v;
  v.type = GgufType(type);
  auto set_signed = [&](int64_t x) {
    v.i = x;
    v.u = x >= 0 ? uint64_t(x) : 0;
    v.f = double(x);
  };
  auto set_unsigned = [&](uint64_t x) {
    v.u = x;
    v.i = x <= uint64_t(INT64_MAX) ? int64_t(x) : 0;
    v.f = double(x);
  };
  switch (v.type) {
    case GgufType::U8: set_unsigned(c.uint(1, key)); break;
    case GgufType::I8: set_signed(int8_t(c.uint(1, key))); break;
    case GgufType::U16: set_unsigned(c.uint(2, key)); break;
    case GgufType::I16: set_signed(int16_t(c.uint(2, key))); break;
    case GgufType::U32: set_unsigned(c.uint(4, key)); break;
    case GgufType::I32: set_signed(int32_t(c.uint(4, key))); break;
    case GgufType::U64: set_unsigned(c.uint(8, key)); break;
    case GgufType::I64: set_signed(int64_t(c.uint(8, key))); break;
    case GgufType::F32: {
      const uint32_t bits = uint32_t(c.uint(4, key));
      float f;
      std::memcpy(&f, &bits, 4);
      v.f = f;
      break;
    }
    case GgufType::F64: {
      const uint64_t bits = c.uint(8, key);
      std::memcpy(&v.f, &bits, 8);
      break;
    }
    case GgufType::BOOL: {
      const uint64_t b = c.uint(1, key);
      MMADA_CHECK(b <= 1, c.name, ": metadata '", key, "' is a bool of value ", b);
      v.b = b == 1;
      break;
    }
    case GgufType::STRING: v.s = c.str("metadata '" + key + "' value"); break;
    case GgufType::ARRAY: {
      MMADA_CHECK(!in_array, c.name, ": metadata '", key, "' is an array of arrays (not supported)");
      const uint32_t et = uint32_t(c.uint(4, key + " element type"));
      MMADA_CHECK(et <= 12 && et != uint32_t(GgufType::ARRAY), c.name, ": metadata '", key,
                  "' is an array of unsupported element type ", et);
      v.elem_type = GgufType(et);
      const uint64_t n = c.uint(8, key + " element count");
      MMADA_CHECK(n <= c.left() / min_value_bytes(v.elem_type), c.name, ": metadata '", key,
                  "' claims ", n, " elements of type ", value_type_name(et),
                  ", more than the file's remaining ", c.left(), " bytes can hold");
      v.arr.reserve(size_t(n));
      for (uint64_t k = 0; k < n; ++k) v.arr.push_back(read_value(c, et, key, true));
      break;
    }
  }
  return v;
}

}  // namespace

GgufValue GgufValue::u32(uint32_t x) {
  GgufValue v;
  v.type = GgufType::U32, v.u = x, v.i = x, v.f = x;
  return v;
}
GgufValue GgufValue::i32(int32_t x) {
  GgufValue v;
  v.type = GgufType::I32, v.i = x, v.u = x >= 0 ? uint64_t(x) : 0, v.f = x;
  return v;
}
GgufValue GgufValue::u64(uint64_t x) {
  GgufValue v;
  v.type = GgufType::U64, v.u = x, v.i = int64_t(x), v.f = double(x);
  return v;
}
GgufValue GgufValue::f32(float x) {
  GgufValue v;
  v.type = GgufType::F32, v.f = x;
  return v;
}
GgufValue GgufValue::str(std::string x) {
  GgufValue v;
  v.type = GgufType::STRING, v.s = std::move(x);
  return v;
}
GgufValue GgufValue::boolean(bool x) {
  GgufValue v;
  v.type = GgufType::BOOL, v.b = x;
  return v;
}
GgufValue GgufValue::strings(const std::vector<std::string>& xs) {
  GgufValue v;
  v.type = GgufType::ARRAY, v.elem_type = GgufType::STRING;
  for (const auto& x : xs) v.arr.push_back(str(x));
  return v;
}

std::string ggml_type_name(uint32_t id) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id) return t.name;
  return "type " + std::to_string(id);
}

bool dtype_from_ggml(uint32_t id, DType* out) {
  for (const auto& t : kGgmlTypes)
    if (t.id == id && t.ours) {
      *out = t.dtype;
      return true;
    }
  return false;
}

uint32_t ggml_from_dtype(DType d) {
  for (const auto& t : kGgmlTypes)
    if (t.ours && t.dtype == d) return t.id;
  fail("GGUF cannot hold tensors of dtype ", dtype_name(d));
}

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  auto file = MappedFile::open(path);
  return parse(file->data(), file->size(), path, file);
}

std::shared_ptr<GgufFile> GgufFile::parse(const unsigned char* bytes, size_t size,
                                          const std::string& name, std::shared_ptr<void> owner) {
  auto g = std::shared_ptr<GgufFile>(new GgufFile());
  g->path_ = name;
  Cursor c{bytes, size, 0, name};
  MMADA_CHECK(size >= 4 && std::memcmp(bytes, "GGUF", 4) == 0, name,
              ": not a GGUF file (it does not start with \"GGUF\")");
  c.pos = 4;
  g->version_ = uint32_t(c.uint(4, "version"));
  MMADA_CHECK(g->version_ == 2 || g->version_ == 3, name, ": unsupported GGUF version ",
              g->version_, (g->version_ > 0xffff ? " (a big-endian file?)" : ""),
              " (supported: 2 and 3)");
  const uint64_t n_tensors = c.uint(8, "tensor count");
  const uint64_t n_kv = c.uint(8, "metadata count");
  // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor info
  // 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset): counts beyond that are lies.
  MMADA_CHECK(n_kv <= c.left() / 13, name, ": metadata count ", n_kv,
              " is more than the file's ", c.left(), " remaining bytes can hold");
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string key = c.str("metadata key #" + std::to_string(k));
    const uint32_t type = uint32_t(c.uint(4, "type of metadata '" + key + "'"));
    GgufValue v = read_value(c, type, key, false);
    MMADA_CHECK(g->kv_.emplace(key, std::move(v)).second, name, ": duplicate metadata key '", key, "'");
  }
  if (const GgufValue* a = g->find("general.alignment")) {
    MMADA_CHECK(a->type == GgufType::U32 && a->u > 0 && (a->u & (a->u - 1)) == 0, name,
                ": general.alignment must be a u32 power of two, got ", a->u);
    g->alignment_ = a->u;
  }
  MMADA_CHECK(n_tensors <= c.left() / 24, name, ": tensor count ", n_tensors,
              " is more than the file's ", c.left(), " remaining bytes can hold");
  struct Info {
    std::string name;
    Shape shape;
    DType dtype;
    uint64_t offset, bytes;
  };
  std::vector<Info> infos;
  std::set<std::string> seen;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    Info t;
    t.name = c.str("tensor name #" + std::to_string(k));
    const std::string where = name + ": tensor '" + t.name + "'";
    MMADA_CHECK(seen.insert(t.name).second, name, ": duplicate tensor name '", t.name, "'");
    const uint32_t n_dims = uint32_t(c.uint(4, where + " n_dims"));
    MMADA_CHECK(n_dims <= kMaxDims, where, ": ", n_dims, " dimensions (at most ", kMaxDims, ")");
    std::vector<uint64_t> ne(n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) ne[d] = c.uint(8, where + " dims");
    const uint32_t type = uint32_t(c.uint(4, where + " type"));
    t.offset = c.uint(8, where + " offset");
    MMADA_CHECK(dtype_from_ggml(type, &t.dtype), where, ": unsupported block type ",
                ggml_type_name(type), " (mmada.cpp reads F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
    // Element count must fit int64 (non-zero dims only: an empty tensor is still checked).
    uint64_t numel = 1;
    bool empty = false;
    for (uint64_t d : ne) {
      MMADA_CHECK(d <= uint64_t(INT64_MAX), where, ": dimension ", d, " overflows");
      if (d == 0) {
        empty = true;
        continue;
      }
      MMADA_CHECK(numel <= uint64_t(INT64_MAX) / d, where, ": dimensions overflow 64 bits");
      numel *= d;
    }
    if (empty) numel = 0;
    for (uint32_t d = n_dims; d-- > 0;) t.shape.push_back(int64_t(ne[d]));
    const int64_t blk = dtype_block_elems(t.dtype);
    MMADA_CHECK(n_dims >= 1 && ne[0] % uint64_t(blk) == 0, where, ": rows of ",
                n_dims ? ne[0] : 0, " elements are not whole ", dtype_name(t.dtype), " blocks of ", blk);
    t.bytes = uint64_t(numel) / uint64_t(blk) * dtype_block_bytes(t.dtype);
    MMADA_CHECK(t.offset % g->alignment_ == 0, where, ": data offset ", t.offset,
                " is not a multiple of the alignment ", g->alignment_);
    infos.push_back(std::move(t));
  }
  // The data section starts at the next aligned offset.
  const uint64_t data_start = (uint64_t(c.pos) + g->alignment_ - 1) / g->alignment_ * g->alignment_;
  const uint64_t data_size = data_start <= size ? size - data_start : 0;
  for (const Info& t : infos) {
    MMADA_CHECK(t.offset <= data_size && t.bytes <= data_size - t.offset, name, ": tensor '",
                t.name, "' data [", t.offset, ", +", t.bytes, ") lies outside the data section (",
                data_size, " bytes; file truncated?)");
  }
  std::vector<const Info*> order;
  for (const Info& t : infos) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const Info* a, const Info* b) { return a->offset < b->offset; });
  const Info* prev = nullptr;
  for (const Info* t : order) {
    if (t->bytes == 0) continue;
    MMADA_CHECK(!prev || t->offset >= prev->offset + prev->bytes, name, ": tensors '", prev->name,
                "' and '", t->name, "' have overlapping data");
    prev = t;
  }
  for (Info& t : infos)
    g->tensors_.emplace(t.name, Tensor::view(t.dtype, std::move(t.shape),
                                             bytes + data_start + t.offset, owner));
  return g;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_.find(key);
  return it == kv_.end() ? nullptr : &it->second;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = find(key);
  MMADA_CHECK(v, path_, ": metadata '", key, "' is missing");
  const GgufType t = v->type;
  const bool is_int = t == GgufType::U8 || t == GgufType::I8 || t == GgufType::U16 ||
                      t == GgufType::I16 || t == GgufType::U32 || t == GgufType::I32 ||
                      t == GgufType::U64 || t == GgufType::I64;
  MMADA_CHECK(is_int, path_, ": metadata '", key, "' is a ", value_type_name(uint32_t(t)),
              ", not an integer");
  const bool is_unsigned = t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
  MMADA_CHECK(!is_unsigned || v->u <= uint64_t(INT64_MAX), path_, ": metadata '", key,
              "' = ", v->u, " is too large");
  return v->i;
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue* v = find(key);
  MMADA_CHECK(v, path_, ": metadata '", key, "' is missing");
  MMADA_CHECK(v->type != GgufType::STRING && v->type != GgufType::ARRAY && v->type != GgufType::BOOL,
              path_, ": metadata '", key, "' is a ", value_type_name(uint32_t(v->type)), ", not a number");
  return v->f;
}

const std::string& GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = find(key);
  MMADA_CHECK(v, path_, ": metadata '", key, "' is missing");
  MMADA_CHECK(v->type == GgufType::STRING, path_, ": metadata '", key, "' is a ",
              value_type_name(uint32_t(v->type)), ", not a string");
  return v->s;
}

std::vector<std::string> GgufFile::keys() const {
  std::vector<std::string> out;
  for (const auto& kv : kv_) out.push_back(kv.first);
  return out;
}

const Tensor& GgufFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  MMADA_CHECK(it != tensors_.end(), path_, ": no tensor named '", name, "'");
  return it->second;
}

std::vector<std::string> GgufFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

namespace {

struct Out {
  std::ofstream f;
  uint64_t pos = 0;
  void raw(const void* p, size_t n) {
    f.write(static_cast<const char*>(p), std::streamsize(n));
    pos += n;
  }
  void uint(uint64_t v, int n) {
    unsigned char b[8];
    for (int k = 0; k < n; ++k) b[k] = uint8_t(v >> (8 * k));
    raw(b, size_t(n));
  }
  void str(const std::string& s) {
    uint(s.size(), 8);
    raw(s.data(), s.size());
  }
  void pad(uint64_t align) {
    static const char zeros[64] = {};
    while (pos % align) raw(zeros, std::min<uint64_t>(64, align - pos % align));
  }
  void value(const GgufValue& v) {
    switch (v.type) {
      case GgufType::U8: case GgufType::I8: uint(v.type == GgufType::U8 ? v.u : uint64_t(v.i), 1); break;
      case GgufType::U16: case GgufType::I16: uint(v.type == GgufType::U16 ? v.u : uint64_t(v.i), 2); break;
      case GgufType::U32: case GgufType::I32: uint(v.type == GgufType::U32 ? v.u : uint64_t(v.i), 4); break;
      case GgufType::U64: case GgufType::I64: uint(v.type == GgufType::U64 ? v.u : uint64_t(v.i), 8); break;
      case GgufType::F32: {
        const float f = float(v.f);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        uint(bits, 4);
        break;
      }
      case GgufType::F64: {
        uint64_t bits;
        std::memcpy(&bits, &v.f, 8);
        uint(bits, 8);
        break;
      }
      case GgufType::BOOL: uint(v.b ? 1 : 0, 1); break;
      case GgufType::STRING: str(v.s); break;
      case GgufType::ARRAY:
        uint(uint32_t(v.elem_type), 4);
        uint(v.arr.size(), 8);
        for (const auto& e : v.arr) {
          MMADA_CHECK(e.type == v.elem_type, "write_gguf: array element of another type");
          value(e);
        }
        break;
    }
  }
};

}  // namespace

void write_gguf(const std::string& path, const std::vector<std::pair<std::string, GgufValue>>& kv,
                const std::vector<std::pair<std::string, Tensor>>& tensors, uint32_t alignment) {
  MMADA_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0, "write_gguf: alignment ",
              alignment, " is not a power of two");
  std::vector<std::pair<std::string, GgufValue>> meta = kv;
  bool has_align = false;
  for (const auto& [k, v] : meta) has_align |= k == "general.alignment";
  if (!has_align && alignment != 32) meta.emplace_back("general.alignment", GgufValue::u32(alignment));
  const std::string tmp = path + ".tmp";
  {
    Out o;
    o.f.open(tmp, std::ios::binary | std::ios::trunc);
    MMADA_CHECK(o.f.good(), tmp, ": cannot open for writing");
    o.raw("GGUF", 4);
    o.uint(3, 4);
    o.uint(tensors.size(), 8);
    o.uint(meta.size(), 8);
    for (const auto& [k, v] : meta) {
      o.str(k);
      o.uint(uint32_t(v.type), 4);
      o.value(v);
    }
    uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
      MMADA_CHECK(t.contiguous() && t.dim() >= 1 && t.dim() <= 4, path, ": tensor '", name,
                  "' must be contiguous with 1 to 4 dimensions");
      o.str(name);
      o.uint(uint32_t(t.dim()), 4);
      for (int64_t d = t.dim(); d-- > 0;) o.uint(uint64_t(t.shape[size_t(d)]), 8);
      o.uint(ggml_from_dtype(t.dtype), 4);
      o.uint(offset, 8);
      offset += (t.nbytes() + alignment - 1) / alignment * alignment;
    }
    o.pad(alignment);
    for (const auto& [name, t] : tensors) {
      o.raw(t.data, t.nbytes());
      o.pad(alignment);
    }
    o.f.flush();
    MMADA_CHECK(o.f.good(), tmp, ": write failed (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  MMADA_CHECK(!ec, path, ": rename from ", tmp, " failed: ", ec.message());
}

}  // namespace mmada
