// IDX arrays (the MNIST / Fashion-MNIST file format), plain or gzip-compressed:
//   bytes 0-1: 0x00 0x00; byte 2: element type (only 0x08 = unsigned byte is supported, the
//   only type MNIST-style image and label files use); byte 3: number of dimensions (1..8);
//   then one big-endian u32 per dimension; then the elements, row-major, nothing after them.
// Every header field is checked against the data actually present: a zero or overflowing
// dimension product, a truncated body or trailing bytes are errors naming the file. A gzip
// stream is never inflated past the size the header declares (+1 byte to detect trailing data),
// so a hostile file cannot make the reader allocate more than its header's claim, and that
// claim is capped at kMaxIdxBytes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mmada {

constexpr uint64_t kMaxIdxBytes = uint64_t(1) << 32;  // 4 GiB: far above any MNIST-style file

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // product(dims) bytes
};

// Reads a whole IDX file (gzip detected by its magic bytes, else read as is).
IdxArray read_idx(const std::string& path);
// The same checks on bytes already in memory (uncompressed).
IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& where);

}  // namespace mmada
