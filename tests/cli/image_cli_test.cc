// imagine / describe / vq / convert run as the built binary ($MMADA_CLI, set by CTest) on the
// tiny reference models, plus the bad inputs that must end in a one-line error, not a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/image.h"
#include "io/safetensors.h"
#include "io/torch_zip_writer.h"
#include "cli/cli_run.h"
#include "test_util.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;

using Result = test::CliResult;
Result run(const std::string& command) { return test::run_cli(command); }
using test::expect_clean_error;

class ImageCli : public test::CliTest {
 protected:
  std::string model_, vq_;
  void SetUp() override {
    CliTest::SetUp();
    if (IsSkipped()) return;
    const std::string tiny = test::refdata_dir() + "/tiny";
    model_ = fs::absolute(tiny + "/mmada_tiny").string();
    vq_ = fs::absolute(tiny + "/magvitv2_tiny").string();
    if (!fs::exists(model_ + "/config.json") || !fs::exists(vq_ + "/config.json"))
      GTEST_SKIP() << "no tiny models in " << tiny;
  }
  // The tiny model has no tokenizer files: the binary falls back to the one in assets/.
  std::string models() const { return " -m '" + model_ + "' --vq '" + vq_ + "'"; }
  RgbImage read_png(const std::string& path) const { return load_image(path); }
};

TEST_F(ImageCli, ImagineWritesPngAndPreviews) {
  const std::string out = dir() + "/cat.png";
  const Result r = run(cli_ + " imagine" + models() + " -p 'a cat' --size 64 --steps 6 --preview-every 2 --seed 3 -o '" + out + "'");
  ASSERT_EQ(r.status, 0) << r.out;
  const RgbImage img = read_png(out);
  EXPECT_EQ(img.width, 64);
  EXPECT_EQ(img.height, 64);
  EXPECT_TRUE(fs::exists(dir() + "/cat.step02.png"));
  EXPECT_TRUE(fs::exists(dir() + "/cat.step04.png"));
  EXPECT_FALSE(fs::exists(dir() + "/cat.step06.png"));  // the last step is the image itself
  const std::vector<uint8_t> bytes = test::read_bytes(out);
  const PngText text = read_png_text(bytes.data(), bytes.size(), out);
  bool found = false;
  for (const auto& [k, v] : text) found |= k == "parameters" && v.find("a cat\nSteps: 6") == 0;
  EXPECT_TRUE(found);
  // Same seed, same image; batch names.
  const Result b = run(cli_ + " imagine" + models() + " -p 'a cat' --size 64 --steps 6 --seed 3 --batch 2 -o '" + dir() + "/b.png'");
  ASSERT_EQ(b.status, 0) << b.out;
  EXPECT_EQ(read_png(dir() + "/b-0.png").rgb, img.rgb);
  EXPECT_TRUE(fs::exists(dir() + "/b-1.png"));
}

TEST_F(ImageCli, DescribeAnswers) {
  RgbImage img(80, 48);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t(i * 31);
  write_png(dir() + "/in.png", img);
  const Result r = run(cli_ + " describe" + models() + " -i '" + dir() + "/in.png' -p 'What is this?' --size 64 --gen-length 16 --steps 4 --block-length 16");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_FALSE(r.out.empty());
}

TEST_F(ImageCli, VqEncodeDecodeRoundTrip) {
  RgbImage img(64, 64);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t(i * 13);
  write_png(dir() + "/in.png", img);
  for (const char* ext : {"txt", "json"}) {
    const std::string codes = dir() + "/codes." + ext;
    Result e = run(cli_ + " vq encode --vq '" + vq_ + "' -i '" + dir() + "/in.png' --size 64 -o '" + codes + "'");
    ASSERT_EQ(e.status, 0) << e.out;
    Result d = run(cli_ + " vq decode --vq '" + vq_ + "' --codes '" + codes + "' -o '" + dir() + "/out." + ext + ".png'");
    ASSERT_EQ(d.status, 0) << d.out;
    const RgbImage back = read_png(dir() + "/out." + ext + ".png");
    EXPECT_EQ(back.width, 64);
    EXPECT_EQ(back.height, 64);
  }
  EXPECT_EQ(read_png(dir() + "/out.txt.png").rgb, read_png(dir() + "/out.json.png").rgb);
}

TEST_F(ImageCli, ConvertBinToSafetensors) {
  const SafeTensorsSet st = SafeTensorsSet::open(vq_ + "/pytorch_model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& n : st.names()) tensors.emplace_back(n, st.get(n));
  ASSERT_TRUE(test::write_torch_checkpoint(dir() + "/m.bin", tensors));
  const Result r = run(cli_ + " convert '" + dir() + "/m.bin' '" + dir() + "/m.safetensors'");
  ASSERT_EQ(r.status, 0) << r.out;
  const SafeTensorsSet back = SafeTensorsSet::open(dir() + "/m.safetensors");
  ASSERT_EQ(back.names(), st.names());
  for (const auto& n : st.names()) {
    const Tensor& a = st.get(n);
    const Tensor& b = back.get(n);
    ASSERT_EQ(a.shape, b.shape) << n;
    ASSERT_EQ(a.dtype, b.dtype) << n;
    ASSERT_EQ(0, std::memcmp(a.data, b.data, a.nbytes())) << n;
  }
}

TEST_F(ImageCli, BadInputsGiveOneLineErrors) {
  expect_clean_error(run(cli_ + " imagine" + models() + " -p x --size 50 -o '" + dir() + "/x.png'"), "multiple of 16");
  expect_clean_error(run(cli_ + " imagine" + models() + " -p x --gpu-weights fp8-all -o '" + dir() + "/x.png'"),
                     "--gpu-weights fp8-all needs a GPU");
  expect_clean_error(run(cli_ + " imagine" + models() + " -p x --gpu-weights q8 -o '" + dir() + "/x.png'"),
                     "unknown --gpu-weights 'q8'");
  expect_clean_error(run(cli_ + " imagine -m '" + model_ + "' -p x -o '" + dir() + "/x.png'"),
                     "pass --vq DIR");
  expect_clean_error(run(cli_ + " imagine -m '" + model_ + "' --vq '" + dir() +
                         "/no_such_vq' -p x -o '" + dir() + "/x.png'"), "no_such_vq");
  // A truncated PNG and a text file renamed .png, through describe and vq encode.
  RgbImage img(64, 64);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t(i * 7);
  std::vector<uint8_t> png = encode_png(img);
  png.resize(png.size() / 2);
  std::ofstream(dir() + "/cut.png", std::ios::binary).write(reinterpret_cast<const char*>(png.data()), long(png.size()));
  std::ofstream(dir() + "/notes.png") << "hello, I am text\n";
  for (const char* f : {"cut.png", "notes.png"}) {
    const std::string path = dir() + "/" + f;
    expect_clean_error(run(cli_ + " describe" + models() + " -i '" + path + "' --size 64"), path);
    expect_clean_error(run(cli_ + " vq encode --vq '" + vq_ + "' -i '" + path + "' --size 64"), path);
  }
  std::ofstream(dir() + "/bad.txt") << "1 2 3\n4 x 6\n";
  expect_clean_error(run(cli_ + " vq decode --vq '" + vq_ + "' --codes '" + dir() + "/bad.txt' -o '" + dir() + "/y.png'"),
                     "not an integer");
  std::ofstream(dir() + "/big.txt") << "1 2\n3 99999\n";
  expect_clean_error(run(cli_ + " vq decode --vq '" + vq_ + "' --codes '" + dir() + "/big.txt' -o '" + dir() + "/y.png'"),
                     "outside");
}

}  // namespace
}  // namespace mmada
