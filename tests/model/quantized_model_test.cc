// Quantized checkpoints through the loader: a folder written with quantized tensors loads and
// runs exactly like a bf16 model holding the same (dequantised) weights; the GGUF copy gives
// the same logits; and `mmada quantize` output generates from the CLI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>

#include "cli/cli_run.h"
#include "test_util.h"
#include "core/error.h"
#include "backend/cpu/gemm.h"
#include "core/quant.h"
#include "io/safetensors.h"
#include "model/model_file.h"
#include "model/quant_recipe.h"
#include "model/transformer.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;

ModelConfig config256() {  // rows of 256 so the k-quant super-blocks apply
  ModelConfig c;
  c.d_model = 256, c.n_heads = 4, c.n_kv_heads = 4, c.n_layers = 2, c.mlp_hidden = 512;
  c.vocab = 300, c.rope_theta = 500000.0, c.mask_token_id = 299, c.eos_token_id = 298, c.pad_token_id = 298;
  return c;
}

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("mmada_qmodel_" + std::to_string(::getpid()) + "_" + name);
  fs::create_directories(p);
  return p;
}

void write_folder(const fs::path& dir, const ModelConfig& c,
                  const std::vector<std::pair<std::string, Tensor>>& ts) {
  write_safetensors((dir / "model.safetensors").string(), ts);
  std::ofstream((dir / "config.json").string()) << c.to_json();
}

Tensor logits(const Transformer& m) {
  std::vector<int64_t> ids(24);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(i * 37 % 299);
  ForwardRequest r;
  r.ids = ids.data();
  r.L = int64_t(ids.size());
  return m.forward(r);
}

class QuantizedModel : public ::testing::TestWithParam<const char*> {};

// The quantized model against the same weights dequantised (matrices to bf16 — what the GEMM
// multiplies — and the embedding to float32, what the lookup returns): identical logits, so the
// loader, the safetensors U8 storage and the backend's dispatch add nothing of their own.
TEST_P(QuantizedModel, RunsLikeItsDequantisedWeights) {
  const ModelConfig c = config256();
  Transformer m = Transformer::random(c, Precision::BF16, 5);
  const QuantRecipe recipe = QuantRecipe::from_name(GetParam());
  std::vector<std::pair<std::string, Tensor>> q, ref;
  for_each_tensor(c, m.weights(), [&](const TensorSlot& s) {
    const Tensor t = recipe.apply(s, *s.tensor);
    q.emplace_back(s.name, t);
    ref.emplace_back(s.name, s.role == TensorRole::Embedding ? t.to_f32()
                             : s.role == TensorRole::Matrix ? t.to_bf16() : t);
  });
  const fs::path dq = temp_dir(std::string("q_") + GetParam()), dr = temp_dir(std::string("r_") + GetParam());
  write_folder(dq, c, q);
  write_folder(dr, c, ref);
  Transformer mq = Transformer::load(dq.string(), Precision::BF16);
  EXPECT_TRUE(dtype_is_quantized(mq.weights().layers[0].q_proj.dtype));
  EXPECT_TRUE(dtype_is_quantized(mq.weights().head.dtype));
  const Tensor a = logits(mq), b = logits(Transformer::load(dr.string(), Precision::BF16));
  const cpu::QuantKernel kernel = cpu::quant_kernel(mq.weights().layers[0].q_proj.dtype);
  if (kernel == cpu::QuantKernel::BF16) {  // the reference's own arithmetic: bit for bit
    for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.ptr<float>()[i], b.ptr<float>()[i]) << i;
  } else {
    // Q8_0's int8 kernel also rounds each linear's input to int8 with one scale per row and
    // requantizes the weights to one scale per row. For Gaussian-like rows (max ≈ 3σ) each
    // rounding has an error of std ≈ 3σ/(127·√12) ≈ 0.7 % of σ, so each linear's output is
    // off by about 1 %; through this 2-layer model the logits differ by 1.8 % (relative L2,
    // measured). 5 % leaves room for other seeds; a kernel error would be far larger.
    // The f32 kernel (CPUs without a bf16 GEMM) is the other way round: it skips the bf16
    // rounding of x and of the weights (2^-9 each) that the reference's linears make, so each
    // linear differs by ≈ 0.3 % (relative L2); the logits by 0.47 % (measured), bound 1 %.
    double err = 0, norm = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double d = double(a.ptr<float>()[i]) - b.ptr<float>()[i];
      err += d * d, norm += double(b.ptr<float>()[i]) * b.ptr<float>()[i];
    }
    EXPECT_LE(std::sqrt(err / norm), kernel == cpu::QuantKernel::Int8 ? 0.05 : 0.01);
  }
  // The same tensors in a GGUF file: the same logits.
  const fs::path g = dq / "model.gguf";
  write_model_gguf(g.string(), c, q);
  const Tensor z = logits(Transformer::load(g.string(), Precision::BF16));
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.ptr<float>()[i], z.ptr<float>()[i]) << i;
  // --precision f32 expands the quantized weights.
  EXPECT_EQ(Transformer::load(dq.string(), Precision::F32).weights().layers[0].q_proj.dtype, DType::F32);
  fs::remove_all(dq);
  fs::remove_all(dr);
}

INSTANTIATE_TEST_SUITE_P(Types, QuantizedModel, ::testing::Values("q8", "q4", "q4_0"));

TEST(QuantRecipe, ChoosesTypesPerTensorAndKeepsGlobs) {
  QuantRecipe r = QuantRecipe::from_name("q4");
  ModelWeights w;
  std::map<std::string, DType> got;
  for_each_tensor(config256(), w, [&](const TensorSlot& s) { got[s.name] = r.target(s, DType::BF16); });
  EXPECT_EQ(got["model.transformer.blocks.0.q_proj.weight"], DType::Q4_K);
  EXPECT_EQ(got["model.transformer.ff_out.weight"], DType::Q6_K);
  EXPECT_EQ(got["model.transformer.wte.weight"], DType::Q4_K);
  EXPECT_EQ(got["model.transformer.blocks.0.attn_norm.weight"], DType::BF16);
  r.keep = {"*.wte.*", "*.blocks.1.*"};
  got.clear();
  for_each_tensor(config256(), w, [&](const TensorSlot& s) { got[s.name] = r.target(s, DType::BF16); });
  EXPECT_EQ(got["model.transformer.wte.weight"], DType::BF16);
  EXPECT_EQ(got["model.transformer.blocks.1.up_proj.weight"], DType::BF16);
  EXPECT_EQ(got["model.transformer.blocks.0.up_proj.weight"], DType::Q4_K);
  // Rows that are not whole super-blocks fall back to the 32-weight types.
  ModelConfig small = config256();
  small.d_model = 96, small.n_heads = 3;
  got.clear();
  for_each_tensor(small, w, [&](const TensorSlot& s) { got[s.name] = QuantRecipe::from_name("q4").target(s, DType::BF16); });
  EXPECT_EQ(got["model.transformer.blocks.0.q_proj.weight"], DType::Q4_0);
  EXPECT_EQ(got["model.transformer.ff_out.weight"], DType::Q8_0);
  EXPECT_EQ(got["model.transformer.blocks.0.ff_out.weight"], DType::Q4_K);  // rows of 512
  EXPECT_THROW(QuantRecipe::from_name("q3"), Error);
  EXPECT_TRUE(glob_match("a*c?e", "abbbcde"));
  EXPECT_FALSE(glob_match("a*c?e", "abbbce"));
}

TEST(QuantizedModel, BadQuantMetadataIsNamed) {
  const fs::path d = temp_dir("badmeta");
  Tensor raw = Tensor::empty(DType::U8, {2, 30});
  write_safetensors((d / "x.safetensors").string(), {{"w", raw}}, {{"mmada.quant.w", "Q8_0"}});
  try {
    SafeTensorsFile::open((d / "x.safetensors").string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'w': a Q8_0 tensor must be stored as U8 [rows, a multiple of 34 bytes]"),
              std::string::npos) << e.what();
  }
  write_safetensors((d / "y.safetensors").string(), {{"w", raw}}, {{"mmada.quant.w", "Q3_K"}});
  EXPECT_THROW(SafeTensorsFile::open((d / "y.safetensors").string()), Error);
  fs::remove_all(d);
}

// The CLI end to end on the embedded tiny model: quantize (both formats), then generate.
TEST(QuantizeCli, QuantizedModelsGenerate) {
  const char* cli = std::getenv("MMADA_CLI");
  if (!cli || !*cli) GTEST_SKIP() << "MMADA_CLI not set (run through ctest)";
  const std::string model = fs::absolute(test::refdata_dir() + "/tiny/mmada_tiny").string();
  if (!fs::exists(model + "/config.json")) GTEST_SKIP() << "no tiny model";
  const std::string tok = (fs::path(__FILE__).parent_path().parent_path().parent_path() / "assets/llada-tokenizer").string();
  const fs::path d = temp_dir("cli");
  for (const char* type : {"q8", "q4"}) {
    for (const std::string& out : {(d / type).string(), (d / (std::string(type) + ".gguf")).string()}) {
      auto q = test::run_cli(std::string(cli) + " quantize -m " + model + " -o " + out + " --type " + type);
      ASSERT_EQ(q.status, 0) << q.out;
      auto g = test::run_cli(std::string(cli) + " generate -m " + out + " --tokenizer " + tok +
                             " -p 'Hello' --gen-length 8 --steps 8 --block-length 8");
      EXPECT_EQ(g.status, 0) << g.out;
    }
  }
  auto bad = test::run_cli(std::string(cli) + " quantize -m " + d.string() + "/nothing -o " + (d / "x").string());
  test::expect_clean_error(bad, "no config.json");
  fs::remove_all(d);
}

}  // namespace
}  // namespace mmada

namespace mmada {
namespace {

// bench --quant: random weights quantized slab by slab equal the whole tensors quantized.
TEST(QuantRecipe, RandomModelQuantizedAsMadeEqualsQuantizedAfter) {
  const ModelConfig c = config256();
  const QuantRecipe r = QuantRecipe::from_name("q4");
  Transformer a = Transformer::random(c, Precision::BF16, 9, cpu_backend(), &r);
  Transformer b = Transformer::random(c, Precision::BF16, 9);
  ModelWeights& wa = a.weights();
  std::vector<Tensor> want;
  for_each_tensor(c, b.weights(), [&](const TensorSlot& s) { want.push_back(r.apply(s, *s.tensor)); });
  size_t i = 0;
  for_each_tensor(c, wa, [&](const TensorSlot& s) {
    const Tensor& w = want[i++];
    ASSERT_EQ(s.tensor->dtype, w.dtype) << s.name;
    ASSERT_EQ(std::memcmp(s.tensor->data, w.data, w.nbytes()), 0) << s.name;
  });
}

}  // namespace
}  // namespace mmada
