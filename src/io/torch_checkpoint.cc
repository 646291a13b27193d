// The zip side of torch.save checkpoints: find <prefix>/data.pkl, unpickle it, and copy each
// tensor's bytes out of <prefix>/data/<key> after checking the view fits the storage.
#include <zip.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/torch_pickle.h"

namespace fs = std::filesystem;

namespace mmada {

namespace {

class ZipArchive {
 public:
  explicit ZipArchive(const std::string& path) : path_(path) {
    int err = 0;
    z_ = zip_open(path.c_str(), ZIP_RDONLY, &err);
    if (!z_) {
      zip_error_t e;
      zip_error_init_with_code(&e, err);
      const std::string msg = zip_error_strerror(&e);
      zip_error_fini(&e);
      fail(path, ": not a readable zip archive (", msg,
           "); only the zip format of torch.save (PyTorch >= 1.6) is supported");
    }
    std::error_code ec;
    file_size_ = fs::file_size(path, ec);
  }
  ~ZipArchive() { zip_discard(z_); }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    const zip_int64_t n = zip_get_num_entries(z_, 0);
    for (zip_int64_t i = 0; i < n; ++i)
      if (const char* s = zip_get_name(z_, zip_uint64_t(i), 0)) out.emplace_back(s);
    return out;
  }
  bool has(const std::string& name) const { return zip_name_locate(z_, name.c_str(), 0) >= 0; }

  // Uncompressed size, refused when the directory claims more than the archive could hold
  // (so a forged size never turns into a huge allocation).
  uint64_t size_of(const std::string& name) const {
    zip_stat_t st;
    zip_stat_init(&st);
    MMADA_CHECK(zip_stat(z_, name.c_str(), 0, &st) == 0, path_, ": archive entry '", name, "' is missing");
    MMADA_CHECK((st.valid & ZIP_STAT_SIZE) && (st.valid & ZIP_STAT_COMP_SIZE), path_, ": entry '",
                name, "' has no size");
    const bool stored = (st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method == ZIP_CM_STORE;
    const uint64_t limit = stored ? st.comp_size : st.comp_size * 1100 + 4096;  // deflate <= 1032:1
    MMADA_CHECK(st.comp_size <= file_size_ && st.size <= limit, path_, ": entry '", name,
                "' claims an impossible size");
    return st.size;
  }

  // Reads `len` bytes of entry `name` into dst.
  void read(const std::string& name, void* dst, uint64_t len) const {
    zip_file_t* f = zip_fopen(z_, name.c_str(), 0);
    MMADA_CHECK(f, path_, ": cannot open archive entry '", name, "': ", zip_strerror(z_));
    uint64_t done = 0;
    while (done < len) {
      const zip_int64_t got = zip_fread(f, static_cast<char*>(dst) + done, len - done);
      if (got <= 0) {
        const std::string msg = got < 0 ? zip_file_strerror(f) : "unexpected end of data";
        zip_fclose(f);
        fail(path_, ": reading archive entry '", name, "' failed: ", msg);
      }
      done += uint64_t(got);
    }
    zip_fclose(f);
  }

  std::vector<uint8_t> read_all(const std::string& name, uint64_t max_size) const {
    const uint64_t n = size_of(name);
    MMADA_CHECK(n <= max_size, path_, ": entry '", name, "' is larger than ", max_size, " bytes");
    std::vector<uint8_t> out(n);
    read(name, out.data(), n);
    return out;
  }

 private:
  std::string path_;
  zip_t* z_ = nullptr;
  uint64_t file_size_ = 0;
};

// torch.save names every entry "<archive name>/..."; data.pkl sits right under it.
std::string find_prefix(const ZipArchive& zip, const std::string& path) {
  for (const std::string& n : zip.names()) {
    const size_t slash = n.find('/');
    if (slash != std::string::npos && n.substr(slash) == "/data.pkl") return n.substr(0, slash + 1);
  }
  fail(path, ": no <name>/data.pkl in the archive; not a torch.save checkpoint");
}

void check_contiguous(const PickledTensor& t, const std::string& path) {
  int64_t expect = 1;
  for (size_t d = t.shape.size(); d-- > 0;) {
    if (t.shape[d] != 1 && t.stride[d] != expect)
      fail(path, ": tensor '", t.name, "' is a non-contiguous view (size ", shape_str(t.shape),
           ", stride ", shape_str(t.stride), "); save .contiguous() tensors");
    expect *= t.shape[d];
  }
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> load_torch_checkpoint(const std::string& path) {
  const ZipArchive zip(path);
  const std::string prefix = find_prefix(zip, path);
  if (zip.has(prefix + "byteorder")) {
    const std::vector<uint8_t> order = zip.read_all(prefix + "byteorder", 16);
    MMADA_CHECK(std::string(order.begin(), order.end()) == "little", path,
                ": big-endian checkpoints are not supported");
  }
  const std::vector<uint8_t> pkl = zip.read_all(prefix + "data.pkl", uint64_t(1) << 30);
  const std::vector<PickledTensor> entries =
      parse_torch_pickle(pkl.data(), pkl.size(), path + " (" + prefix + "data.pkl)");

  // Each storage is read once and shared by the tensors that view it.
  std::map<std::string, std::pair<std::shared_ptr<void>, uint64_t>> storages;
  std::vector<std::pair<std::string, Tensor>> out;
  for (const PickledTensor& t : entries) {
    check_contiguous(t, path);
    const std::string entry = prefix + "data/" + t.storage_key;
    MMADA_CHECK(t.storage_key.find('/') == std::string::npos && zip.has(entry), path, ": tensor '",
                t.name, "' refers to storage '", t.storage_key, "', which the archive lacks");
    auto it = storages.find(t.storage_key);
    if (it == storages.end()) {
      const uint64_t n = zip.size_of(entry);
      auto buf = aligned_alloc64(n);
      zip.read(entry, buf.get(), n);
      it = storages.emplace(t.storage_key, std::make_pair(buf, n)).first;
    }
    const uint64_t esize = dtype_size(t.dtype);
    const uint64_t numel = uint64_t(shape_numel(t.shape));
    const uint64_t have = it->second.second / esize;
    MMADA_CHECK(uint64_t(t.storage_offset) <= have && numel <= have - uint64_t(t.storage_offset), path,
                ": tensor '", t.name, "' (offset ", t.storage_offset, ", ", numel,
                " elements) runs past the end of its storage of ", have, " elements");
    const auto* base = static_cast<const uint8_t*>(it->second.first.get());
    out.emplace_back(t.name, Tensor::view(t.dtype, t.shape, base + uint64_t(t.storage_offset) * esize,
                                          it->second.first));
  }
  return out;
}

}  // namespace mmada
