// IDX (MNIST-style) reader: plain and gzip files, and every malformed-header case named.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "core/error.h"
#include "io/idx.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> idx_bytes(std::vector<uint32_t> dims, size_t body, uint8_t type = 8) {
  std::vector<uint8_t> b = {0, 0, type, uint8_t(dims.size())};
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
  for (size_t i = 0; i < body; ++i) b.push_back(uint8_t(i * 7));
  return b;
}

fs::path temp(const std::string& name) {
  return fs::temp_directory_path() / ("mmada_idx_test_" + std::to_string(::getpid()) + "_" + name);
}

std::string write_plain(const std::string& name, const std::vector<uint8_t>& b) {
  const fs::path p = temp(name);
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  return p.string();
}

std::string write_gz(const std::string& name, const std::vector<uint8_t>& b) {
  const fs::path p = temp(name + ".gz");
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, b.data(), unsigned(b.size()));
  gzclose(f);
  return p.string();
}

std::string error_of(const std::string& path) {
  try {
    read_idx(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Idx, ReadsPlainAndGzipIdentically) {
  const auto b = idx_bytes({3, 2, 4}, 24);
  const std::string plain = write_plain("ok", b), gz = write_gz("ok", b);
  for (const std::string& p : {plain, gz}) {
    const IdxArray a = read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2, 4}));
    ASSERT_EQ(a.data.size(), 24u);
    EXPECT_EQ(a.data[5], uint8_t(35));
  }
  const IdxArray m = parse_idx(b.data(), b.size(), "mem");
  EXPECT_EQ(m.dims.size(), 3u);
  fs::remove(plain);
  fs::remove(gz);
}

TEST(Idx, MalformedFilesGiveNamedErrors) {
  struct Case {
    const char* name;
    std::vector<uint8_t> bytes;
    const char* want;
  };
  auto trailing = idx_bytes({2, 2}, 5);
  auto huge = idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, 16);
  std::vector<uint8_t> nine = {0, 0, 8, 9};
  std::vector<Case> cases = {
      {"empty", {}, "not an IDX file"},
      {"magic", {1, 0, 8, 1, 0, 0, 0, 1, 5}, "magic bytes"},
      {"type", idx_bytes({4}, 16, 0x0D), "element type"},
      {"nodims", {0, 0, 8, 0}, "0 dimensions"},
      {"ninedims", nine, "9 dimensions"},
      {"shorthead", {0, 0, 8, 2, 0, 0, 0, 1}, "truncated IDX header"},
      {"zerodim", idx_bytes({3, 0}, 0), "dimension 1 is 0"},
      {"overflow", huge, "more than"},
      {"truncated", idx_bytes({10, 10}, 99), "truncated IDX data"},
      {"trailing", trailing, "after the"},
  };
  for (const Case& c : cases) {
    for (bool gz : {false, true}) {
      const std::string p = gz ? write_gz(c.name, c.bytes) : write_plain(c.name, c.bytes);
      const std::string e = error_of(p);
      EXPECT_NE(e.find(c.want), std::string::npos) << c.name << (gz ? " (gz)" : "") << ": " << e;
      EXPECT_NE(e.find(p), std::string::npos) << "error must name the file: " << e;
      if (!gz) {
        std::string m;
        try {
          parse_idx(c.bytes.data(), c.bytes.size(), "mem");
        } catch (const Error& err) {
          m = err.what();
        }
        EXPECT_NE(m.find(c.want), std::string::npos) << c.name << " (memory): " << m;
      }
      fs::remove(p);
    }
  }
  EXPECT_NE(error_of(temp("missing").string()).find("cannot open"), std::string::npos);
}

TEST(Idx, CorruptGzipStreamIsAnError) {
  const auto b = idx_bytes({64, 64}, 4096);
  const std::string gz = write_gz("corrupt", b);
  std::vector<char> raw(fs::file_size(gz));
  std::ifstream(gz, std::ios::binary).read(raw.data(), std::streamsize(raw.size()));
  raw.resize(raw.size() / 2);  // cut the deflate stream
  std::ofstream(gz, std::ios::binary | std::ios::trunc).write(raw.data(), std::streamsize(raw.size()));
  EXPECT_NE(error_of(gz), "");
  fs::remove(gz);
}

TEST(Idx, FashionMnistLabelsIfInstalled) {
  const std::string p = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(p)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  const IdxArray a = read_idx(p);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{10000}));
  for (uint8_t v : a.data) ASSERT_LT(v, 10);
}

}  // namespace
}  // namespace mmada
