// The restricted torch.save reader: hand-built checkpoints load; hostile pickles are refused.
#include "io/torch_pickle.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/torch_zip_writer.h"
#include "test_util.h"
#include "vq/magvit.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;
using test::PickleWriter;

std::string temp_path(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("mmada_pickle_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return (dir / name).string();
}

using test::error_of;

// {"a.weight": float [2, 3] on storage 0, "b.bias": int64 [2] at offset 1 of storage 1 (3 long)}
std::string two_tensor_pickle(int64_t b_offset = 1, std::vector<int64_t> a_stride = {3, 1}) {
  PickleWriter p;
  p.proto().empty_ordered_dict().op('q').b += '\0';  // BINPUT 0, as torch's OrderedDict
  p.op('(');
  p.str("a.weight").tensor("FloatStorage", "0", 6, 0, {2, 3}, a_stride);
  p.str("b.bias").tensor("LongStorage", "1", 3, b_offset, {2}, {1});
  p.op('u');
  // state_dict()'s _metadata attribute arrives through BUILD: accepted and dropped.
  p.op('}').str("_metadata").empty_ordered_dict().op('s').op('b');
  p.op('.');
  return p.b;
}

std::string write_two_tensor_zip(const std::string& name, const std::string& pkl) {
  const float a[6] = {1, 2, 3, 4, 5, 6};
  const int64_t b[3] = {7, 8, 9};
  const std::string path = temp_path(name);
  EXPECT_TRUE(test::write_zip(path, {{"mymodel/data.pkl", pkl},
                                     {"mymodel/data/0", std::string(reinterpret_cast<const char*>(a), sizeof a)},
                                     {"mymodel/data/1", std::string(reinterpret_cast<const char*>(b), sizeof b)},
                                     {"mymodel/byteorder", "little"}}));
  return path;
}

std::vector<PickledTensor> parse(const std::string& s) {
  return parse_torch_pickle(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "test.pkl");
}

TEST(TorchPickle, ParsesTwoTensorStateDict) {
  const auto t = parse(two_tensor_pickle());
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "a.weight");
  EXPECT_EQ(t[0].dtype, DType::F32);
  EXPECT_EQ(t[0].shape, (Shape{2, 3}));
  EXPECT_EQ(t[0].stride, (Shape{3, 1}));
  EXPECT_EQ(t[1].name, "b.bias");
  EXPECT_EQ(t[1].dtype, DType::I64);
  EXPECT_EQ(t[1].storage_offset, 1);
  EXPECT_EQ(t[1].storage_key, "1");
  EXPECT_EQ(t[1].storage_numel, 3);
}

TEST(TorchPickle, LoadsZipCheckpoint) {
  const auto tensors = load_torch_checkpoint(write_two_tensor_zip("two.bin", two_tensor_pickle()));
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].first, "a.weight");
  EXPECT_EQ(tensors[0].second.shape, (Shape{2, 3}));
  EXPECT_EQ(tensors[0].second.ptr<float>()[5], 6.f);
  EXPECT_EQ(tensors[1].second.ptr<int64_t>()[0], 8);
  EXPECT_EQ(tensors[1].second.ptr<int64_t>()[1], 9);
}

TEST(TorchPickle, RefusesOsSystem) {
  PickleWriter p;
  p.proto().global("os", "system").str("echo pwned").op('\x85').op('R').op('.');
  EXPECT_NE(error_of([&] { parse(p.b); }).find("refusing pickle global 'os.system'"), std::string::npos);
  PickleWriter q;  // STACK_GLOBAL spelling
  q.proto().str("builtins").str("eval").op('\x93').str("1").op('\x85').op('R').op('.');
  EXPECT_NE(error_of([&] { parse(q.b); }).find("refusing pickle global 'builtins.eval'"), std::string::npos);
}

TEST(TorchPickle, RefusesUnknownOpcodeAndCallingAStorageClass) {
  EXPECT_NE(error_of([] { parse("\x80\x02]."); }).find("unsupported pickle opcode 0x5d"), std::string::npos);
  PickleWriter p;
  p.proto().global("torch", "FloatStorage").op(')').op('R').op('.');
  EXPECT_NE(error_of([&] { parse(p.b); }).find("not allowed"), std::string::npos);
}

TEST(TorchPickle, EveryTruncationIsAnError) {
  const std::string full = two_tensor_pickle();
  for (size_t n = 0; n < full.size(); ++n)
    EXPECT_THROW(parse(full.substr(0, n)), Error) << "prefix of " << n << " bytes";
  EXPECT_NE(error_of([&] { parse(full.substr(0, 20)); }).find("truncated"), std::string::npos);
}

TEST(TorchPickle, RefusesCyclesAndDeepNesting) {
  PickleWriter cyc;  // d = {}; d["x"] = d
  cyc.proto().op('}').op('q').b += '\0';
  cyc.str("x").op('h').b += '\0';
  cyc.op('s').op('.');
  EXPECT_THROW(parse(cyc.b), Error);
  std::string deep = "\x80\x02)";
  for (int i = 0; i < 100000; ++i) deep += '\x85';
  EXPECT_NE(error_of([&] { parse(deep + "."); }).find("nested deeper"), std::string::npos);
}

TEST(TorchPickle, RefusesOutOfRangeOffsetsAndStridedViews) {
  const std::string past = write_two_tensor_zip("past.bin", two_tensor_pickle(/*b_offset=*/2));
  EXPECT_NE(error_of([&] { load_torch_checkpoint(past); }).find("runs past the end of its storage"), std::string::npos);
  const std::string strided = write_two_tensor_zip("strided.bin", two_tensor_pickle(1, {1, 2}));
  EXPECT_NE(error_of([&] { load_torch_checkpoint(strided); }).find("non-contiguous"), std::string::npos);
  const std::string junk = temp_path("junk.bin");
  { std::ofstream(junk) << "not a zip"; }
  EXPECT_NE(error_of([&] { load_torch_checkpoint(junk); }).find(junk), std::string::npos);
}

// showlab/magvitv2 may ship only pytorch_model.bin: the tiny reference MAGVIT re-saved as a
// torch zip loads and encodes exactly like its safetensors original.
TEST(TorchPickle, MagvitLoadsPytorchModelBin) {
  const std::string src = test::refdata_dir() + "/tiny/magvitv2_tiny";
  if (!fs::exists(src + "/pytorch_model.safetensors")) GTEST_SKIP() << "no " << src;
  const SafeTensorsSet st = SafeTensorsSet::open(src + "/pytorch_model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& n : st.names()) tensors.emplace_back(n, st.get(n));
  const fs::path dir = fs::path(temp_path("magvit_bin"));
  fs::create_directories(dir);
  fs::copy_file(src + "/config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  ASSERT_TRUE(test::write_torch_checkpoint((dir / "pytorch_model.bin").string(), tensors));
  const Magvit a = Magvit::load(src), b = Magvit::load(dir.string());
  Tensor px = Tensor::empty(DType::F32, {1, 3, 32, 32});
  for (int64_t i = 0; i < px.numel(); ++i) px.ptr<float>()[i] = float((i * 37) % 200) / 100.f - 1.f;
  const Tensor ca = a.encode(px), cb = b.encode(px);
  ASSERT_EQ(ca.numel(), cb.numel());
  for (int64_t i = 0; i < ca.numel(); ++i) EXPECT_EQ(ca.ptr<int64_t>()[i], cb.ptr<int64_t>()[i]);
}

}  // namespace
}  // namespace mmada
