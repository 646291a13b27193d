// MAGVIT-v2 tokenizer: reference cases, LFQ bit order, operators against float64 loops, and
// clear errors for bad checkpoints and inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "io/safetensors.h"
#include "refcheck/refcheck.h"
#include "vq/conv2d.h"
#include "vq/feature_ops.h"
#include "vq/lfq.h"
#include "vq/magvit.h"
#include "vq/pixels.h"
#include "test_util.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;

std::string refdata_root() {
  const char* e = std::getenv("MMADA_REFDATA");
  return e ? e : "../shared/refdata";
}

Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(DType::F32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
  return t;
}

// ---- reference cases -----------------------------------------------------------------------

TEST(MagvitRefdata, AllMagvitCasesPass) {
  const std::string path = refdata_root() + "/tiny/manifest.json";
  if (!fs::exists(path)) GTEST_SKIP() << "no reference data at " << path;
  const Manifest m = Manifest::load(path);
  RefcheckOptions opt;
  int ran = 0;
  for (const auto& c : m.json()["cases"]) {
    const std::string kind = c.value("kind", "");
    if (kind != "magvit_encode" && kind != "magvit_decode") continue;
    CaseContext ctx{m, c, opt};
    if (kind == "magvit_encode" && ctx.has_input("image_uint8_nhwc")) {
      // Our uint8 -> [-1, 1] conversion gives the case's pixel_values bit for bit.
      const Tensor mine = pixels_from_uint8_nhwc(ctx.input("image_uint8_nhwc"));
      const Tensor want = ctx.input("pixel_values");
      ASSERT_EQ(mine.shape, want.shape);
      for (int64_t i = 0; i < mine.numel(); ++i)
        ASSERT_EQ(mine.ptr<float>()[i], want.ptr<float>()[i]) << c["id"] << " " << i;
    }
    const CaseResult r = run_magvit_case(ctx);
    std::string details;
    for (const auto& d : r.details) details += "  " + d + "\n";
    EXPECT_EQ(r.status, CaseStatus::Pass) << c["id"] << "\n" << details;
    std::printf("%s: %s\n%s", c["id"].get<std::string>().c_str(),
                r.status == CaseStatus::Pass ? "PASS" : "FAIL", details.c_str());
    ++ran;
  }
  EXPECT_EQ(ran, 4);
}

// Both convolution paths agree on the whole tiny encoder.
TEST(MagvitRefdata, Im2colPathMatchesOneDnn) {
  const std::string dir = refdata_root() + "/tiny/magvitv2_tiny";
  if (!fs::exists(dir)) GTEST_SKIP() << "no reference data at " << dir;
  const Magvit m = Magvit::load(dir);
  const Tensor x = random_tensor({1, 3, 32, 32}, 5);
  const Tensor a = m.encode_latent(x);
  set_conv_impl(ConvImpl::Im2colGemm);
  const Tensor b = m.encode_latent(x);
  set_conv_impl(ConvImpl::OneDnn);
  ASSERT_EQ(a.shape, b.shape);
  for (int64_t i = 0; i < a.numel(); ++i)
    EXPECT_NEAR(a.ptr<float>()[i], b.ptr<float>()[i], 1e-4) << i;
}

// ---- LFQ -----------------------------------------------------------------------------------

TEST(MagvitLfq, CodeBitsRoundTripMsbFirst) {
  const int64_t bits = 13, size = 8192;
  Tensor codes = Tensor::empty(DType::I64, {1, size});
  for (int64_t k = 0; k < size; ++k) codes.ptr<int64_t>()[k] = k;
  // A 1 x 8192 grid: latent channel c of position k is +-1 from bit (12 - c) of k.
  const Tensor z = lfq_decode(codes, bits, 1, size);
  EXPECT_EQ(z.shape, (Shape{1, 13, 1, size}));
  const float row5[13] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, -1, 1};  // vq.md §4.2
  for (int64_t c = 0; c < bits; ++c) EXPECT_EQ(z.ptr<float>()[c * size + 5], row5[c]);
  const Tensor back = lfq_encode(z);
  for (int64_t k = 0; k < size; ++k) ASSERT_EQ(back.ptr<int64_t>()[k], k);
  const Tensor book = lfq_codebook(bits);
  for (int64_t c = 0; c < bits; ++c) EXPECT_EQ(book.ptr<float>()[5 * bits + c], row5[c]);
}

TEST(MagvitLfq, ChannelZeroIsMsbRasterOrderAndZeroIsBitZero) {
  Tensor z = Tensor::empty(DType::F32, {1, 13, 2, 3});  // all 0.0 -> code 0
  z.ptr<float>()[0 * 6 + 1] = 0.5f;   // channel 0 at (row 0, col 1)
  z.ptr<float>()[12 * 6 + 5] = 1e-6f;  // channel 12 at (row 1, col 2)
  z.ptr<float>()[3 * 6 + 4] = -2.f;   // negative -> 0
  const Tensor codes = lfq_encode(z);
  ASSERT_EQ(codes.shape, (Shape{1, 6}));
  const int64_t want[6] = {0, 4096, 0, 0, 0, 1};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(codes.ptr<int64_t>()[i], want[i]) << i;
}

TEST(MagvitLfq, RejectsOutOfRangeCodesAndBadGrid) {
  Tensor codes = Tensor::empty(DType::I64, {1, 4});
  codes.ptr<int64_t>()[2] = 8192;
  EXPECT_THROW(lfq_decode(codes, 13, 2, 2), Error);
  codes.ptr<int64_t>()[2] = -1;
  EXPECT_THROW(lfq_decode(codes, 13, 2, 2), Error);
  codes.ptr<int64_t>()[2] = 0;
  EXPECT_THROW(lfq_decode(codes, 13, 1, 3), Error);
}

// ---- operators against float64 loops ------------------------------------------------------

TEST(MagvitOps, GroupNormMatchesFloat64Loop) {
  const int64_t n = 2, c = 64, h = 5, w = 7, g = 32;
  const Tensor x = random_tensor({n, c, h, w}, 1, -3.f, 5.f);
  const Tensor gamma = random_tensor({c}, 2, 0.5f, 1.5f), beta = random_tensor({c}, 3);
  for (bool swish : {false, true}) {
    const Tensor y = nhwc_to_nchw(group_norm(nchw_to_nhwc(x), gamma, beta, g, 1e-6f, swish));
    const int64_t cg = c / g, hw = h * w;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t gi = 0; gi < g; ++gi) {
        const float* xs = x.ptr<float>() + (b * c + gi * cg) * hw;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < cg * hw; ++i) mean += xs[i];
        mean /= double(cg * hw);
        for (int64_t i = 0; i < cg * hw; ++i) var += (xs[i] - mean) * (xs[i] - mean);
        var /= double(cg * hw);
        for (int64_t i = 0; i < cg * hw; ++i) {
          const int64_t ch = gi * cg + i / hw;
          double t = (xs[i] - mean) / std::sqrt(var + 1e-6) * gamma.ptr<float>()[ch] +
                     beta.ptr<float>()[ch];
          if (swish) t = t / (1 + std::exp(-t));
          ASSERT_NEAR(y.ptr<float>()[(b * c + gi * cg) * hw + i], t, 1e-5);
        }
      }
  }
}

// Naive float64 convolution with separate top/left and bottom/right zero padding.
std::vector<double> conv_ref(const Tensor& x, const Tensor& wt, const Tensor& bias, int64_t stride,
                             int64_t plt, int64_t prb, int64_t* oh, int64_t* ow) {
  const int64_t n = x.size(0), ci = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t co = wt.size(0), kh = wt.size(2), kw = wt.size(3);
  *oh = (h + plt + prb - kh) / stride + 1, *ow = (w + plt + prb - kw) / stride + 1;
  std::vector<double> y(size_t(n * co * *oh * *ow));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < co; ++o)
      for (int64_t r = 0; r < *oh; ++r)
        for (int64_t col = 0; col < *ow; ++col) {
          double s = bias.ptr<float>()[o];
          for (int64_t i = 0; i < ci; ++i)
            for (int64_t dy = 0; dy < kh; ++dy)
              for (int64_t dx = 0; dx < kw; ++dx) {
                const int64_t iy = r * stride - plt + dy, ix = col * stride - plt + dx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                s += double(x.ptr<float>()[((b * ci + i) * h + iy) * w + ix]) *
                     wt.ptr<float>()[((o * ci + i) * kh + dy) * kw + dx];
              }
          y[size_t(((b * co + o) * *oh + r) * *ow + col)] = s;
        }
  return y;
}

TEST(MagvitOps, ConvMatchesFloat64LoopBothPaths) {
  struct Case { int64_t ci, co, k, stride, plt, prb, h, w; bool residual; };
  const Case cases[] = {{16, 32, 3, 1, 1, 1, 9, 11, false},  // ResnetBlock conv
                        {32, 32, 3, 1, 1, 1, 8, 8, true},    // conv2 + residual
                        {32, 32, 3, 2, 0, 1, 10, 6, false},  // Downsample (pad right/bottom)
                        {24, 13, 1, 1, 0, 0, 4, 5, false},   // 1x1
                        {3, 32, 3, 1, 1, 1, 16, 16, false}}; // conv_in
  uint32_t seed = 10;
  for (ConvImpl impl : {ConvImpl::OneDnn, ConvImpl::Im2colGemm}) {
    set_conv_impl(impl);
    for (const Case& c : cases) {
      const Tensor x = random_tensor({2, c.ci, c.h, c.w}, seed++);
      const Tensor wt = random_tensor({c.co, c.ci, c.k, c.k}, seed++);
      const Tensor bias = random_tensor({c.co}, seed++);
      int64_t oh, ow;
      std::vector<double> want = conv_ref(x, wt, bias, c.stride, c.plt, c.prb, &oh, &ow);
      const Tensor res = random_tensor({2, c.co, oh, ow}, seed++);
      if (c.residual)
        for (size_t i = 0; i < want.size(); ++i) want[i] += res.ptr<float>()[i];
      const Conv2d conv(wt, bias, c.stride, c.plt, c.prb);
      const Tensor res_nhwc = nchw_to_nhwc(res);
      const Tensor y = nhwc_to_nchw(conv(nchw_to_nhwc(x), c.residual ? &res_nhwc : nullptr));
      ASSERT_EQ(y.shape, (Shape{2, c.co, oh, ow}));
      // Sums of up to 288 products of magnitude <= 1: float32 error well below 1e-4.
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(y.ptr<float>()[i], want[i], 1e-4) << "impl " << int(impl) << " i " << i;
    }
  }
  set_conv_impl(ConvImpl::OneDnn);
}

TEST(MagvitOps, UpsampleAndAttentionMatchLoops) {
  const Tensor x = random_tensor({1, 2, 2, 3}, 40);
  const Tensor u = nhwc_to_nchw(upsample_nearest2x(nchw_to_nhwc(x)));
  ASSERT_EQ(u.shape, (Shape{1, 2, 4, 6}));
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t r = 0; r < 4; ++r)
      for (int64_t q = 0; q < 6; ++q)
        EXPECT_EQ(u.ptr<float>()[(c * 4 + r) * 6 + q], x.ptr<float>()[(c * 2 + r / 2) * 3 + q / 2]);

  const int64_t n = 2, c = 8, len = 12;
  const Tensor q = random_tensor({n, c, 3, 4}, 41), k = random_tensor({n, c, 3, 4}, 42),
               v = random_tensor({n, c, 3, 4}, 43);
  const Tensor o = nhwc_to_nchw(spatial_attention(nchw_to_nhwc(q), nchw_to_nhwc(k), nchw_to_nhwc(v)));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < len; ++i) {
      std::vector<double> s(len);
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < len; ++j) {
        for (int64_t ch = 0; ch < c; ++ch)
          s[j] += double(q.ptr<float>()[(b * c + ch) * len + i]) * k.ptr<float>()[(b * c + ch) * len + j];
        s[j] /= std::sqrt(double(c));
        mx = std::max(mx, s[j]);
      }
      for (double& e : s) sum += (e = std::exp(e - mx));
      for (int64_t ch = 0; ch < c; ++ch) {
        double want = 0;
        for (int64_t j = 0; j < len; ++j) want += s[j] / sum * v.ptr<float>()[(b * c + ch) * len + j];
        EXPECT_NEAR(o.ptr<float>()[(b * c + ch) * len + i], want, 1e-5);
      }
    }
}

TEST(MagvitPixels, Uint8ConversionTruncatesAndClamps) {
  Tensor img = Tensor::empty(DType::F32, {1, 1, 1, 5});
  const float vals[5] = {-2.f, 1.5f, 0.f, 0.999f, NAN};
  for (int i = 0; i < 5; ++i) img.ptr<float>()[i] = vals[i];
  const Tensor u = image_to_uint8_nhwc(img);
  const uint8_t want[5] = {0, 255, 127, 254, 0};  // 0.5*255 = 127.5 -> 127; 0.9995*255 -> 254
  for (int i = 0; i < 5; ++i) EXPECT_EQ(u.ptr<uint8_t>()[i], want[i]) << i;
  Tensor u8 = Tensor::empty(DType::U8, {1, 1, 2, 3});
  u8.ptr<uint8_t>()[0] = 255, u8.ptr<uint8_t>()[4] = 128;
  const Tensor p = pixels_from_uint8_nhwc(u8);
  ASSERT_EQ(p.shape, (Shape{1, 3, 1, 2}));
  EXPECT_EQ(p.ptr<float>()[0], 1.f);                       // R of pixel 0
  EXPECT_EQ(p.ptr<float>()[1], -1.f);                      // R of pixel 1
  EXPECT_EQ(p.ptr<float>()[3], (128.f / 255.f - 0.5f) / 0.5f);  // G of pixel 1
}

// ---- network structure ---------------------------------------------------------------------

// The real config asks for exactly the tensors of shared/spec/data/magvitv2_tensors.tsv (380
// learnable + the 2 quantizer buffers) and 95,387,004 parameters (vq.md §1).
TEST(MagvitStructure, RealConfigMatchesSpecTensorList) {
  const std::string tsv = refdata_root() + "/../spec/data/magvitv2_tensors.tsv";
  if (!fs::exists(tsv)) GTEST_SKIP() << "no " << tsv;
  std::map<std::string, std::string> want;
  std::ifstream in(tsv);
  for (std::string line; std::getline(in, line);)
    if (const size_t tab = line.find('\t'); tab != std::string::npos)
      want[line.substr(0, tab)] = line.substr(tab + 1);
  std::map<std::string, std::string> got;
  const Magvit m = Magvit::build(MagvitConfig::real(), [&](const std::string& n, const Shape& s) {
    got[n] = shape_str(s);
    return Tensor::empty(DType::F32, s);
  });
  got["quantize.embedding"] = shape_str({8192, 13});
  got["quantize.power_vals"] = shape_str({13});
  EXPECT_EQ(got.size(), 382u);
  EXPECT_EQ(got, want);
  EXPECT_EQ(m.num_parameters(), 95387004);
}

// Where the running resolution is in attn_resolutions, each level block gets an AttnBlock
// named <level>.attn.<j> (never the case for the real model).
TEST(MagvitStructure, LevelAttentionWhereConfigAsksForIt) {
  MagvitConfig cfg = MagvitConfig::real();
  cfg.encoder.ch = cfg.decoder.ch = 32;
  cfg.encoder.num_res_blocks = {1, 2, 1, 1, 1};
  cfg.decoder.num_res_blocks = {1, 1, 1, 2, 1};
  cfg.encoder.attn_resolutions = cfg.decoder.attn_resolutions = {128};  // encoder level 1 (256 -> 128)
  std::set<std::string> names;
  Magvit::build(cfg, [&](const std::string& n, const Shape& s) {
    names.insert(n);
    Tensor t = Tensor::empty(DType::F32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = 0.01f * float(i % 7);
    return t;
  });
  EXPECT_TRUE(names.count("encoder.down.1.attn.1.proj_out.weight"));
  EXPECT_FALSE(names.count("encoder.down.0.attn.0.q.weight"));
  EXPECT_TRUE(names.count("decoder.up.1.attn.0.k.bias"));  // decoder: 16, 32, 64, 128 from level 4
  EXPECT_FALSE(names.count("decoder.up.3.attn.0.k.bias"));
  const Magvit m = Magvit::random(cfg, 3);
  const Tensor codes = m.encode(random_tensor({1, 3, 32, 32}, 9));
  EXPECT_EQ(m.decode(codes).shape, (Shape{1, 3, 32, 32}));
}

// ---- bad checkpoints and inputs -----------------------------------------------------------

MagvitConfig small_config() {
  MagvitConfig c = MagvitConfig::real();
  c.encoder.ch = c.decoder.ch = 32;
  c.encoder.ch_mult = {1, 1, 2, 1, 1};
  c.encoder.num_res_blocks = {1, 0, 1, 0, 1};
  c.decoder.ch_mult = {1, 2, 1, 1, 1};
  c.decoder.num_res_blocks = {1, 1, 0, 0, 1};
  return c;
}

// Writes config.json + pytorch_model.safetensors of a random small model, with `edit` applied
// to the tensor list first.
std::string write_checkpoint(
    const std::string& name,
    const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& edit) {
  const MagvitConfig cfg = small_config();
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.2f, 0.2f);
  Magvit::build(cfg, [&](const std::string& n, const Shape& s) {
    Tensor t = Tensor::empty(DType::F32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.ptr<float>()[i] = u(rng);
    tensors.emplace_back(n, t);
    return t;
  });
  tensors.emplace_back("quantize.embedding", lfq_codebook(13));
  Tensor pv = Tensor::empty(DType::I64, {13});
  for (int c = 0; c < 13; ++c) pv.ptr<int64_t>()[c] = int64_t(1) << (12 - c);
  tensors.emplace_back("quantize.power_vals", pv);
  edit(tensors);
  const fs::path dir = fs::temp_directory_path() / ("magvit_test_" + name + "_" +
                                                     std::to_string(::getpid()));
  fs::create_directories(dir);
  auto net = [](const VqganNetConfig& n) {
    return nlohmann::json{{"ch", n.ch}, {"ch_mult", n.ch_mult}, {"num_res_blocks", n.num_res_blocks}};
  };
  std::ofstream(dir / "config.json")
      << nlohmann::json{{"_class_name", "MAGVITv2"}, {"encoder", net(cfg.encoder)},
                        {"decoder", net(cfg.decoder)}}.dump();
  write_safetensors((dir / "pytorch_model.safetensors").string(), tensors);
  return dir.string();
}

using test::error_of;

TEST(MagvitErrors, GoodSmallCheckpointLoadsAndRoundTripsShapes) {
  const std::string dir = write_checkpoint("good", [](auto&) {});
  const Magvit m = Magvit::load(dir);
  const Tensor codes = m.encode(random_tensor({1, 3, 32, 48}, 7));
  EXPECT_EQ(codes.shape, (Shape{1, 6}));
  const Tensor img = m.decode(codes, 2, 3);
  EXPECT_EQ(img.shape, (Shape{1, 3, 32, 48}));
  fs::remove_all(dir);
}

TEST(MagvitErrors, MissingTensorIsNamed) {
  const std::string dir = write_checkpoint("missing", [](auto& t) {
    std::erase_if(t, [](const auto& p) { return p.first == "decoder.up.1.block.0.conv2.weight"; });
  });
  const std::string msg = error_of([&] { Magvit::load(dir); });
  EXPECT_NE(msg.find("missing tensor 'decoder.up.1.block.0.conv2.weight'"), std::string::npos)
      << msg;
  fs::remove_all(dir);
}

TEST(MagvitErrors, WrongShapeIsNamed) {
  const std::string dir = write_checkpoint("shape", [](auto& t) {
    for (auto& [n, x] : t)
      if (n == "encoder.conv_in.weight") x = Tensor::empty(DType::F32, {32, 3, 1, 1});
  });
  const std::string msg = error_of([&] { Magvit::load(dir); });
  EXPECT_NE(msg.find("'encoder.conv_in.weight' has shape [32, 3, 1, 1], expected [32, 3, 3, 3]"),
            std::string::npos)
      << msg;
  fs::remove_all(dir);
}

TEST(MagvitErrors, BadBufferAndClassName) {
  std::string dir = write_checkpoint("buffer", [](auto& t) {
    std::erase_if(t, [](const auto& p) { return p.first == "quantize.power_vals"; });
  });
  EXPECT_NE(error_of([&] { Magvit::load(dir); }).find("quantize.power_vals"), std::string::npos);
  std::ofstream(dir + "/config.json") << R"({"_class_name": "AutoencoderKL"})";
  EXPECT_NE(error_of([&] { Magvit::load(dir); }).find("AutoencoderKL"), std::string::npos);
  fs::remove_all(dir);
}

TEST(MagvitErrors, BadInputs) {
  const Magvit m = Magvit::random(small_config(), 1);
  std::string msg = error_of([&] { m.encode(random_tensor({1, 3, 40, 32}, 8)); });
  EXPECT_NE(msg.find("not a multiple of 16"), std::string::npos) << msg;
  msg = error_of([&] { m.encode(random_tensor({1, 4, 32, 32}, 8)); });
  EXPECT_NE(msg.find("channels"), std::string::npos) << msg;
  Tensor codes = Tensor::empty(DType::I64, {1, 6});
  msg = error_of([&] { m.decode(codes); });
  EXPECT_NE(msg.find("square"), std::string::npos) << msg;
  codes.ptr<int64_t>()[1] = 9000;
  EXPECT_THROW(m.decode(codes, 2, 3), Error);
}

}  // namespace
}  // namespace mmada
