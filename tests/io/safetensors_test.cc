// safetensors reader/writer: round trip, then one test per malformed input. Every bad file
// must raise mmada::Error whose one-line message names the file and the problem.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>

#include "core/error.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;

// Length prefix (u64 little-endian) + header text + `data_bytes` zero bytes.
std::string raw_file(const std::string& header, size_t data_bytes = 0) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char(uint8_t(n >> (8 * i)));
  return out + header + std::string(data_bytes, '\0');
}

std::string raw_with_length(uint64_t n, const std::string& rest) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char(uint8_t(n >> (8 * i)));
  return out + rest;
}

// Runs `f`, requires mmada::Error, and checks that the message contains every piece.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> pieces) {
  try {
    f();
    ADD_FAILURE() << "no mmada::Error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
    for (const auto& p : pieces) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

class SafetensorsTest : public ::testing::Test {
 protected:
  fs::path dir_;
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mmada_st_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_raw(const std::string& name, const std::string& bytes) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    return p.string();
  }
  // Writes a file with this header (and data section) and expects open() to fail naming the
  // file and each piece.
  void expect_bad(const std::string& bytes, std::initializer_list<std::string> pieces) {
    const std::string path = write_raw("bad.safetensors", bytes);
    expect_error([&] { SafeTensorsFile::open(path); }, pieces);
    expect_error([&] { SafeTensorsFile::open(path); }, {path});
  }
};

template <typename T>
Tensor make(DType dt, Shape shape, std::initializer_list<T> values) {
  Tensor t = Tensor::empty(dt, std::move(shape));
  EXPECT_EQ(size_t(t.numel()), values.size());
  EXPECT_EQ(dtype_size(dt), sizeof(T));
  std::memcpy(t.data, values.begin(), values.size() * sizeof(T));
  return t;
}

void expect_same(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.shape, b.shape);
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0);
}

TEST_F(SafetensorsTest, RoundTripKeepsValuesShapesAndMetadata) {
  const std::vector<std::pair<std::string, Tensor>> tensors = {
      {"bf16", make<uint16_t>(DType::BF16, {2, 3}, {0x3f80, 0xbf80, 0x4000, 0x0000, 0x7f80, 0x3e00})},
      {"u8", make<uint8_t>(DType::U8, {5}, {0, 1, 127, 128, 255})},  // odd size: later data unaligned
      {"f16", make<uint16_t>(DType::F16, {4}, {0x3c00, 0xc000, 0x7bff, 0x0001})},
      {"f32", make<float>(DType::F32, {2, 1, 2}, {1.5f, -2.25f, 3e38f, 1e-40f})},
      {"i64", make<int64_t>(DType::I64, {3}, {INT64_MIN, -1, INT64_MAX})},
      {"empty", Tensor::empty(DType::F32, {0, 7})},
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "a \"quoted\" value"}};
  const std::string path = (dir_ / "rt.safetensors").string();
  write_safetensors(path, tensors, meta);
  for (const auto& e : fs::directory_iterator(dir_))  // the temporary (per process) is renamed away
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();

  // Header length keeps the data section 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  EXPECT_EQ((8 + n) % 8, 0u);

  auto st = SafeTensorsFile::open(path);
  EXPECT_EQ(st->path(), path);
  EXPECT_EQ(st->metadata(), meta);
  EXPECT_EQ(st->names(), (std::vector<std::string>{"bf16", "empty", "f16", "f32", "i64", "u8"}));
  for (const auto& [name, t] : tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(st->has(name));
    expect_same(st->get(name), t);
  }
  EXPECT_EQ(reinterpret_cast<uintptr_t>(st->get("bf16").data) % 8, 0u);
  expect_error([&] { st->get("missing"); }, {path, "no tensor named 'missing'"});

  // A single file also opens as a set.
  auto set = SafeTensorsSet::open(path);
  EXPECT_EQ(set.names().size(), tensors.size());
  expect_same(set.get("i64"), tensors[4].second);
  expect_error([&] { set.get("nope"); }, {path, "checkpoint has no tensor 'nope'"});
}

TEST_F(SafetensorsTest, WriterRejectsDuplicateNames) {
  const Tensor t = make<float>(DType::F32, {1}, {1.0f});
  const std::string path = (dir_ / "dup.safetensors").string();
  expect_error([&] { write_safetensors(path, {{"a", t}, {"a", t}}); }, {path, "duplicate tensor name 'a'"});
}

TEST_F(SafetensorsTest, EmptyFile) { expect_bad("", {"truncated file (0 bytes"}); }

TEST_F(SafetensorsTest, ShorterThanEightBytes) { expect_bad(std::string("\x05\0\0\0\0", 5), {"truncated file (5 bytes"}); }

TEST_F(SafetensorsTest, HeaderLengthPastEnd) {
  expect_bad(raw_with_length(100, "{}"), {"header length 100 runs past the end of the file (10 bytes)"});
}

TEST_F(SafetensorsTest, HeaderLengthOverLimit) {
  expect_bad(raw_with_length(uint64_t(1) << 40, "{}"), {"header length 1099511627776 exceeds the limit"});
  expect_bad(raw_with_length(UINT64_MAX, "{}"), {"exceeds the limit"});  // no wrap-around in n + 8
}

TEST_F(SafetensorsTest, HeaderNotJson) { expect_bad(raw_file("{\"a\": "), {"header is not valid JSON"}); }

TEST_F(SafetensorsTest, HeaderNotObject) {
  expect_bad(raw_file("[1, 2]"), {"header JSON is not an object"});
  expect_bad(raw_file("\"x\""), {"header JSON is not an object"});
}

TEST_F(SafetensorsTest, EntryNotObject) {
  expect_bad(raw_file(R"({"w": [1]})"), {"tensor 'w': entry is not an object"});
}

TEST_F(SafetensorsTest, EntryMissingDtype) {
  expect_bad(raw_file(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4), {"tensor 'w': missing dtype"});
  expect_bad(raw_file(R"({"w": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}})", 4),
             {"tensor 'w': missing dtype"});
}

TEST_F(SafetensorsTest, EntryMissingShape) {
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4), {"tensor 'w': missing shape"});
}

TEST_F(SafetensorsTest, EntryMissingDataOffsets) {
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "shape": [1]}})", 4), {"tensor 'w': data_offsets must be"});
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4),
             {"tensor 'w': data_offsets must be"});
}

TEST_F(SafetensorsTest, UnknownDtype) {
  expect_bad(raw_file(R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", 1),
             {"tensor 'w': unsupported dtype 'F8_E4M3'"});
  expect_bad(raw_file(R"({"w": {"dtype": "bf16", "shape": [1], "data_offsets": [0, 2]}})", 2),
             {"unsupported dtype 'bf16'"});
}

TEST_F(SafetensorsTest, NegativeShapeEntry) {
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
             {"tensor 'w': shape entry must be a non-negative integer"});
}

TEST_F(SafetensorsTest, NonIntegerShapeEntry) {
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4),
             {"tensor 'w': shape entry must be a non-negative integer"});
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}})", 4),
             {"shape entry must be a non-negative integer"});
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 4]}})", 4),
             {"tensor 'w': shape entry"});
}

TEST_F(SafetensorsTest, ShapeProductOverflows) {
  expect_bad(raw_file(R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})"),
             {"tensor 'w'", "overflows 64 bits"});
  // numel fits in int64 but numel * 8 bytes does not.
  expect_bad(raw_file(R"({"w": {"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 0]}})"),
             {"tensor 'w'", "needs"});
}

TEST_F(SafetensorsTest, ZeroSizedShapeWithHugeDims) {
  // numel is 0, but the other dimensions multiply past 64 bits (strides would overflow).
  expect_bad(raw_file(R"({"w": {"dtype": "U8", "shape": [0, 4294967296, 4294967296], "data_offsets": [0, 0]}})"),
             {"tensor 'w'", "overflows 64 bits"});
}

TEST_F(SafetensorsTest, DataOffsetsReversed) {
  expect_bad(raw_file(R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 0]}})", 4),
             {"tensor 'w': data_offsets [4, 0] are reversed"});
}

TEST_F(SafetensorsTest, DataOffsetsNegativeOrNonInteger) {
  expect_bad(raw_file(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [-1, 0]}})", 4),
             {"tensor 'w': offset must be a non-negative integer"});
  expect_bad(raw_file(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, "1"]}})", 4),
             {"tensor 'w': offset must be a non-negative integer"});
}

TEST_F(SafetensorsTest, DataOffsetsOutsideDataSection) {
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4),
             {"tensor 'w': data_offsets [0, 8] lie outside the data section (4 bytes"});
  expect_bad(raw_file(R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [9223372036854775807, 9223372036854775807]}})", 4),
             {"lie outside the data section"});
}

TEST_F(SafetensorsTest, ByteLengthMismatch) {
  expect_bad(raw_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 6]}})", 8),
             {"tensor 'w': shape [2] x F32 needs 8 bytes but data_offsets span 6"});
}

TEST_F(SafetensorsTest, OverlappingRanges) {
  expect_bad(raw_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                          "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12),
             {"tensors 'a' and 'b' have overlapping data ranges"});
  // Identical ranges overlap too.
  expect_bad(raw_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                          "b": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})", 4),
             {"overlapping data ranges"});
}

TEST_F(SafetensorsTest, OverlapHiddenBehindZeroLengthTensor) {
  // 'z' (empty) sorts between 'a' and 'c'; a and c still overlap.
  expect_bad(raw_file(R"({"a": {"dtype": "U8", "shape": [10], "data_offsets": [0, 10]},
                          "z": {"dtype": "U8", "shape": [0], "data_offsets": [5, 5]},
                          "c": {"dtype": "U8", "shape": [2], "data_offsets": [6, 8]}})", 10),
             {"tensors 'a' and 'c' have overlapping data ranges"});
}

TEST_F(SafetensorsTest, ZeroLengthTensorsMayShareOffsets) {
  const std::string path = write_raw("ok.safetensors",
      raw_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                   "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [2, 2]},
                   "f": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})", 4));
  auto st = SafeTensorsFile::open(path);
  EXPECT_EQ(st->names().size(), 3u);
  EXPECT_EQ(st->get("e").shape, (Shape{0, 3}));
}

TEST_F(SafetensorsTest, DuplicateTensorNames) {
  expect_bad(raw_file(R"({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                          "w": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})", 2),
             {"duplicate tensor name 'w' in header"});
}

TEST_F(SafetensorsTest, MetadataValueNotString) {
  expect_bad(raw_file(R"({"__metadata__": {"format": "pt", "total": 5}})"),
             {"__metadata__ value 'total' is not a string"});
  expect_bad(raw_file(R"({"__metadata__": ["pt"]})"), {"__metadata__ must be an object"});
}

TEST_F(SafetensorsTest, ParseInMemoryNamesTheSource) {
  const std::string bytes = raw_file(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}})", 4);
  expect_error([&] {
    SafeTensorsFile::parse(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "mem");
  }, {"mem: tensor 'w'", "outside the data section"});
}

TEST_F(SafetensorsTest, MissingFile) {
  const std::string path = (dir_ / "absent.safetensors").string();
  expect_error([&] { SafeTensorsFile::open(path); }, {path, "cannot open"});
  expect_error([&] { SafeTensorsSet::open(path); }, {path, "no such file or folder"});
}

// --- sharded folders -------------------------------------------------------------------------

class SafetensorsShardTest : public SafetensorsTest {
 protected:
  std::vector<std::pair<std::string, Tensor>> all_;
  void SetUp() override {
    SafetensorsTest::SetUp();
    for (int i = 0; i < 4; ++i) {
      Tensor t = Tensor::empty(DType::F32, {2, int64_t(i + 1)});
      for (int64_t k = 0; k < t.numel(); ++k) t.ptr<float>()[k] = float(100 * i + k);
      all_.push_back({"model.transformer.t" + std::to_string(i), t});
    }
    // Non-sequential assignment: t0, t2 in shard 2; t1, t3 in shard 1.
    write_safetensors((dir_ / "model-00001-of-00002.safetensors").string(), {all_[1], all_[3]});
    write_safetensors((dir_ / "model-00002-of-00002.safetensors").string(), {all_[2], all_[0]});
  }
  void write_index(const std::string& weight_map_json) {
    write_raw("model.safetensors.index.json",
              R"({"metadata": {"total_size": 80}, "weight_map": )" + weight_map_json + "}");
  }
  std::string index_path() const { return (dir_ / "model.safetensors.index.json").string(); }
};

TEST_F(SafetensorsShardTest, TwoShardsWithIndexLoad) {
  write_index(R"({"model.transformer.t0": "model-00002-of-00002.safetensors",
                  "model.transformer.t1": "model-00001-of-00002.safetensors",
                  "model.transformer.t2": "model-00002-of-00002.safetensors",
                  "model.transformer.t3": "model-00001-of-00002.safetensors"})");
  auto set = SafeTensorsSet::open(dir_.string());
  EXPECT_EQ(set.names().size(), 4u);
  for (const auto& [name, t] : all_) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(set.has(name));
    expect_same(set.get(name), t);
  }
}

TEST_F(SafetensorsShardTest, IndexNamesMissingShard) {
  write_index(R"({"model.transformer.t0": "model-00003-of-00003.safetensors"})");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); }, {"model-00003-of-00003.safetensors", "cannot open"});
}

TEST_F(SafetensorsShardTest, IndexMapsTensorToWrongShard) {
  write_index(R"({"model.transformer.t0": "model-00001-of-00002.safetensors"})");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); },
               {index_path(), "tensor 'model.transformer.t0' is mapped to model-00001-of-00002.safetensors",
                "does not contain it"});
}

TEST_F(SafetensorsShardTest, IndexMalformed) {
  write_raw("model.safetensors.index.json", R"({"weight_map": {"a": )");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); }, {index_path(), "not valid JSON"});
  write_raw("model.safetensors.index.json", R"({"metadata": {}})");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); }, {index_path(), "missing \"weight_map\" object"});
  write_raw("model.safetensors.index.json", R"({"weight_map": {"model.transformer.t0": 3}})");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); },
               {index_path(), "weight_map entry 'model.transformer.t0' is not a file name"});
}

TEST_F(SafetensorsShardTest, ShardNameWithPathRefused) {
  // A real file outside the folder: the loader must not follow the index there.
  write_safetensors((dir_.parent_path() / (dir_.filename().string() + "_outside.safetensors")).string(),
                    {all_[0]});
  const std::string outside = "../" + dir_.filename().string() + "_outside.safetensors";
  write_index(R"({"model.transformer.t0": ")" + outside + R"("})");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); }, {index_path(), "must be a plain file name"});
  fs::remove(dir_.parent_path() / (dir_.filename().string() + "_outside.safetensors"));
  write_index(R"({"model.transformer.t0": "/etc/passwd"})");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); }, {"'/etc/passwd' must be a plain file name"});
  write_index(R"({"model.transformer.t0": ".."})");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); }, {"must be a plain file name"});
}

TEST_F(SafetensorsShardTest, TwoFilesWithoutIndexRefused) {
  expect_error([&] { SafeTensorsSet::open(dir_.string()); },
               {dir_.string(), "exactly one .safetensors file, found 2"});
}

TEST_F(SafetensorsShardTest, OneFileWithoutIndexLoads) {
  fs::remove(dir_ / "model-00002-of-00002.safetensors");
  auto set = SafeTensorsSet::open(dir_.string());
  EXPECT_EQ(set.names(), (std::vector<std::string>{"model.transformer.t1", "model.transformer.t3"}));
  expect_same(set.get("model.transformer.t3"), all_[3].second);
}

TEST_F(SafetensorsShardTest, BadShardErrorNamesShard) {
  write_raw("model-00002-of-00002.safetensors", "garbage");
  write_index(R"({"model.transformer.t0": "model-00002-of-00002.safetensors"})");
  expect_error([&] { SafeTensorsSet::open(dir_.string()); },
               {"model-00002-of-00002.safetensors: truncated file (7 bytes"});
}

}  // namespace
}  // namespace mmada
