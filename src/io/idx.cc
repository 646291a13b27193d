#include "io/idx.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace mmada {

namespace {

constexpr int kMaxDims = 8;

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Validates the magic/type/ndim prefix (4 bytes) of `h`; returns the header length.
size_t parse_prefix(const uint8_t* h, size_t avail, const std::string& where) {
  MMADA_CHECK(avail >= 4, where, ": not an IDX file (", avail, " bytes, the header alone has 4)");
  MMADA_CHECK(h[0] == 0 && h[1] == 0, where, ": not an IDX file (magic bytes ", int(h[0]), " ",
              int(h[1]), ", expected 0 0)");
  MMADA_CHECK(h[2] == 0x08, where, ": IDX element type 0x", std::hex, int(h[2]), std::dec,
              " is not supported (only 0x08, unsigned byte)");
  const int nd = h[3];
  MMADA_CHECK(nd >= 1 && nd <= kMaxDims, where, ": IDX header has ", nd,
              " dimensions (1..", kMaxDims, " supported)");
  return 4 + 4 * size_t(nd);
}

// Validates the whole header in `h` (the prefix, then 4*ndim bytes); returns the header length
// and the element count.
size_t parse_header(const uint8_t* h, size_t avail, const std::string& where,
                    std::vector<int64_t>* dims, uint64_t* count) {
  const size_t header = parse_prefix(h, avail, where);
  const int nd = h[3];
  MMADA_CHECK(avail >= header, where, ": truncated IDX header (", avail, " bytes, ", nd,
              " dimensions need ", header, ")");
  uint64_t n = 1;
  dims->clear();
  for (int d = 0; d < nd; ++d) {
    const uint32_t v = be32(h + 4 + 4 * d);
    MMADA_CHECK(v > 0, where, ": IDX dimension ", d, " is 0");
    // n * v cannot overflow: n <= kMaxIdxBytes (2^32) and v < 2^32.
    n *= v;
    MMADA_CHECK(n <= kMaxIdxBytes, where, ": IDX dimensions declare more than ", kMaxIdxBytes,
                " elements (", "dimension ", d, " = ", v, ")");
    dims->push_back(int64_t(v));
  }
  *count = n;
  return header;
}

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "x" : "") + std::to_string(d[i]);
  return s;
}

}  // namespace

IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& where) {
  IdxArray a;
  uint64_t n = 0;
  const size_t header = parse_header(bytes, size, where, &a.dims, &n);
  const uint64_t body = size - header;
  MMADA_CHECK(body >= n, where, ": truncated IDX data: header declares ", dims_str(a.dims), " = ",
              n, " bytes, the file has ", body);
  MMADA_CHECK(body == n, where, ": IDX file has ", body - n, " bytes after the ",
              dims_str(a.dims), " array its header declares");
  a.data.assign(bytes + header, bytes + header + n);
  return a;
}

IdxArray read_idx(const std::string& path) {
  // gzread reads plain files transparently, so one path serves both.
  const std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), gzclose);
  MMADA_CHECK(f != nullptr, path, ": cannot open");
  auto read = [&](uint8_t* dst, size_t want) -> size_t {
    size_t got = 0;
    while (got < want) {
      const unsigned chunk = unsigned(std::min<size_t>(want - got, 1u << 30));
      const int r = gzread(f.get(), dst + got, chunk);
      if (r < 0) {
        int err = 0;
        const char* msg = gzerror(f.get(), &err);
        fail(path, ": read error (", msg ? msg : "zlib", ")");
      }
      if (r == 0) break;
      got += size_t(r);
    }
    return got;
  };
  uint8_t head[4 + 4 * kMaxDims];
  size_t have = read(head, 4);
  IdxArray a;
  uint64_t n = 0;
  const size_t header = parse_prefix(head, have, path);
  have += read(head + 4, header - 4);
  parse_header(head, have, path, &a.dims, &n);
  // Inflate at most n + 1 bytes: the extra byte only detects trailing data.
  a.data.resize(size_t(n) + 1);
  const size_t body = read(a.data.data(), a.data.size());
  MMADA_CHECK(body >= n, path, ": truncated IDX data: header declares ", dims_str(a.dims), " = ",
              n, " bytes, the file has ", body);
  MMADA_CHECK(body == n, path, ": IDX file has bytes after the ", dims_str(a.dims),
              " array its header declares");
  a.data.resize(size_t(n));
  return a;
}

}  // namespace mmada
