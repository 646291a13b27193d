#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include <unistd.h>

#include "core/error.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace mmada {

namespace {

uint64_t read_u64_le(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Parses JSON and rejects duplicate keys in the top-level object (nlohmann keeps the last one
// silently, which would let a hostile file hide a tensor).
json parse_header_json(const std::string& text, const std::string& where) {
  std::set<std::string> seen;
  std::string dup;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1) {
      std::string k = parsed.get<std::string>();
      if (!seen.insert(k).second && dup.empty()) dup = k;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text, cb);
  } catch (const json::exception& e) {
    fail(where, ": header is not valid JSON (", e.what(), ")");
  }
  MMADA_CHECK(dup.empty(), where, ": duplicate tensor name '", dup, "' in header");
  MMADA_CHECK(j.is_object(), where, ": header JSON is not an object");
  return j;
}

int64_t json_nonneg_int(const json& v, const std::string& what) {
  MMADA_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), what,
              " must be a non-negative integer");
  MMADA_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(INT64_MAX), what,
              " is too large");
  return v.get<int64_t>();
}

}  // namespace

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  auto file = MappedFile::open(path);
  auto st = parse(file->data(), file->size(), path, file);
  st->file_ = file;
  return st;
}

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::parse(const unsigned char* bytes, size_t size,
                                                        const std::string& name,
                                                        std::shared_ptr<void> owner) {
  auto st = std::shared_ptr<SafeTensorsFile>(new SafeTensorsFile());
  st->path_ = name;
  MMADA_CHECK(size >= 8, name, ": truncated file (", size, " bytes; a safetensors file starts "
              "with an 8-byte header length)");
  const uint64_t n = read_u64_le(bytes);
  MMADA_CHECK(n <= kMaxSafetensorsHeader, name, ": header length ", n, " exceeds the limit of ",
              kMaxSafetensorsHeader, " bytes");
  MMADA_CHECK(n <= size - 8, name, ": header length ", n, " runs past the end of the file (",
              size, " bytes)");
  const std::string text(reinterpret_cast<const char*>(bytes) + 8, size_t(n));
  const json j = parse_header_json(text, name);
  const unsigned char* data_start = bytes + 8 + n;
  const uint64_t data_size = size - 8 - n;

  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& tname = it.key();
    const json& e = it.value();
    if (tname == "__metadata__") {
      MMADA_CHECK(e.is_object(), name, ": __metadata__ must be an object of strings");
      for (auto m = e.begin(); m != e.end(); ++m) {
        MMADA_CHECK(m.value().is_string(), name, ": __metadata__ value '", m.key(),
                    "' is not a string");
        st->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = name + ": tensor '" + tname + "'";
    MMADA_CHECK(e.is_object(), where, ": entry is not an object");
    MMADA_CHECK(e.contains("dtype") && e["dtype"].is_string(), where, ": missing dtype");
    MMADA_CHECK(e.contains("shape") && e["shape"].is_array(), where, ": missing shape");
    MMADA_CHECK(e.contains("data_offsets") && e["data_offsets"].is_array() &&
                    e["data_offsets"].size() == 2,
                where, ": data_offsets must be [begin, end]");
    DType dt;
    const std::string dts = e["dtype"].get<std::string>();
    MMADA_CHECK(dtype_from_name(dts, &dt), where, ": unsupported dtype '", dts,
                "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    Shape shape;
    MMADA_CHECK(e["shape"].size() <= 8, where, ": more than 8 dimensions");
    for (const auto& d : e["shape"]) shape.push_back(json_nonneg_int(d, where + ": shape entry"));
    // Product of the non-zero dims must fit: Tensor strides multiply every dim, so an empty
    // tensor like [0, 2^32, 2^32] would overflow them even though numel is 0.
    int64_t numel = 1;
    bool empty = false;
    for (int64_t d : shape) {
      if (d == 0) {
        empty = true;
        continue;
      }
      MMADA_CHECK(numel <= INT64_MAX / d, where, ": shape ", shape_str(shape), " overflows 64 bits");
      numel *= d;
    }
    if (empty) numel = 0;
    const uint64_t begin = uint64_t(json_nonneg_int(e["data_offsets"][0], where + ": offset"));
    const uint64_t end = uint64_t(json_nonneg_int(e["data_offsets"][1], where + ": offset"));
    MMADA_CHECK(begin <= end, where, ": data_offsets [", begin, ", ", end, "] are reversed");
    MMADA_CHECK(end <= data_size, where, ": data_offsets [", begin, ", ", end,
                "] lie outside the data section (", data_size, " bytes; file truncated?)");
    const uint64_t esz = dtype_size(dt);
    MMADA_CHECK(uint64_t(numel) <= UINT64_MAX / esz && uint64_t(numel) * esz == end - begin, where,
                ": shape ", shape_str(shape), " x ", dts, " needs ", uint64_t(numel) * esz,
                " bytes but data_offsets span ", end - begin);
    ranges.push_back({begin, end, tname});
    st->tensors_.emplace(tname, Tensor::view(dt, std::move(shape), data_start + begin, owner));
  }
  // U8 byte rows that metadata names as blocks of a quantized type get that type back.
  for (const auto& [key, type_name] : st->metadata_) {
    if (key.rfind("mmada.quant.", 0) != 0) continue;
    const std::string tname = key.substr(12);
    const std::string where = name + ": tensor '" + tname + "'";
    auto it = st->tensors_.find(tname);
    MMADA_CHECK(it != st->tensors_.end(), name, ": metadata ", key, " names no tensor");
    DType qt;
    MMADA_CHECK(quant_type_from_name(type_name, &qt), where, ": unknown quantized type '",
                type_name, "' (supported: Q8_0 Q4_0 Q4_K Q6_K)");
    const Tensor& raw = it->second;
    const uint64_t bb = dtype_block_bytes(qt);
    MMADA_CHECK(raw.dtype == DType::U8 && raw.dim() == 2 && uint64_t(raw.size(1)) % bb == 0,
                where, ": a ", type_name, " tensor must be stored as U8 [rows, a multiple of ",
                bb, " bytes], not ", dtype_name(raw.dtype), " ", shape_str(raw.shape));
    const int64_t per_row = raw.size(1) / int64_t(bb) * dtype_block_elems(qt);
    it->second = Tensor::view(qt, {raw.size(0), per_row}, raw.data, raw.owner);
  }
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Compare each range with the previous non-empty one (not just its sorted neighbour, which
  // may be a zero-length tensor sitting inside an earlier range).
  const Range* prev = nullptr;
  for (const Range& r : ranges) {
    if (r.begin == r.end) continue;  // zero-length tensors may share an offset with anything
    MMADA_CHECK(!prev || r.begin >= prev->end, name, ": tensors '", prev->name, "' and '", r.name,
                "' have overlapping data ranges");
    prev = &r;
  }
  return st;
}

const Tensor& SafeTensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  MMADA_CHECK(it != tensors_.end(), path_, ": no tensor named '", name, "'");
  return it->second;
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

SafeTensorsSet SafeTensorsSet::open(const std::string& path) {
  SafeTensorsSet set;
  set.path_ = path;
  auto add_file = [&](const fs::path& p) {
    set.files_.push_back(SafeTensorsFile::open(p.string()));
    return set.files_.size() - 1;
  };
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    size_t i = add_file(path);
    for (const auto& n : set.files_[i]->names()) set.where_[n] = i;
    return set;
  }
  MMADA_CHECK(fs::is_directory(path, ec), path, ": no such file or folder");
  const fs::path index = fs::path(path) / "model.safetensors.index.json";
  if (fs::exists(index)) {
    json j;
    try {
      std::ifstream in(index);
      j = json::parse(in);
    } catch (const json::exception& e) {
      fail(index.string(), ": not valid JSON (", e.what(), ")");
    }
    MMADA_CHECK(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
                index.string(), ": missing \"weight_map\" object");
    std::map<std::string, size_t> shard_index;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      MMADA_CHECK(it.value().is_string(), index.string(), ": weight_map entry '", it.key(),
                  "' is not a file name");
      const std::string shard = it.value().get<std::string>();
      MMADA_CHECK(shard.find('/') == std::string::npos && shard != ".." && !shard.empty(),
                  index.string(), ": shard name '", shard, "' must be a plain file name");
      auto s = shard_index.find(shard);
      if (s == shard_index.end()) s = shard_index.emplace(shard, add_file(fs::path(path) / shard)).first;
      MMADA_CHECK(set.files_[s->second]->has(it.key()), index.string(), ": tensor '", it.key(),
                  "' is mapped to ", shard, " but that file does not contain it");
      set.where_[it.key()] = s->second;
    }
    return set;
  }
  std::vector<fs::path> candidates;
  for (const auto& e : fs::directory_iterator(path))
    if (e.path().extension() == ".safetensors") candidates.push_back(e.path());
  std::sort(candidates.begin(), candidates.end());
  fs::path chosen = fs::path(path) / "model.safetensors";
  if (!fs::exists(chosen)) {
    MMADA_CHECK(candidates.size() == 1, path, ": expected model.safetensors.index.json, "
                "model.safetensors or exactly one .safetensors file, found ", candidates.size());
    chosen = candidates[0];
  }
  size_t i = add_file(chosen);
  for (const auto& n : set.files_[i]->names()) set.where_[n] = i;
  return set;
}

const Tensor& SafeTensorsSet::get(const std::string& name) const {
  auto it = where_.find(name);
  MMADA_CHECK(it != where_.end(), path_, ": checkpoint has no tensor '", name, "'");
  return files_[it->second]->get(name);
}

std::vector<std::string> SafeTensorsSet::names() const {
  std::vector<std::string> out;
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

std::string quant_metadata_key(const std::string& tensor_name) { return "mmada.quant." + tensor_name; }

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  std::map<std::string, std::string> meta = metadata;
  for (const auto& [name, t] : tensors)
    if (dtype_is_quantized(t.dtype)) meta[quant_metadata_key(name)] = std::string(dtype_name(t.dtype));
  if (!meta.empty()) header["__metadata__"] = meta;
  uint64_t offset = 0;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    MMADA_CHECK(seen.insert(name).second, path, ": duplicate tensor name '", name, "'");
    MMADA_CHECK(t.contiguous(), path, ": tensor '", name, "' is not contiguous");
    const bool q = dtype_is_quantized(t.dtype);
    MMADA_CHECK(!q || t.dim() == 2, path, ": quantized tensor '", name, "' must be a matrix");
    const Shape stored = q ? Shape{t.size(0), int64_t(dtype_nbytes(t.dtype, t.size(1)))} : t.shape;
    header[name] = {{"dtype", std::string(q ? "U8" : dtype_name(t.dtype))},
                    {"shape", stored},
                    {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
    offset = (offset + 7) / 8 * 8;  // every tensor starts 8-byte aligned (zero padding between)
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // keep the data 8-byte aligned
  // A per-process temporary name: data-parallel ranks may write the same cache file at once,
  // each renames its complete copy into place (the contents are identical).
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    MMADA_CHECK(out.good(), tmp, ": cannot open for writing");
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(text.size()) >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), std::streamsize(text.size()));
    static const char zeros[8] = {};
    for (const auto& kv : tensors) {
      out.write(static_cast<const char*>(kv.second.data), std::streamsize(kv.second.nbytes()));
      out.write(zeros, std::streamsize((8 - kv.second.nbytes() % 8) % 8));
    }
    out.flush();
    MMADA_CHECK(out.good(), tmp, ": write failed (disk full?)");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  MMADA_CHECK(!ec, path, ": rename from ", tmp, " failed: ", ec.message());
}

}  // namespace mmada
