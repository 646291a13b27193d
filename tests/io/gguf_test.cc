// GGUF: files from our writer read back exactly; hand-built malformed files each fail with a
// message naming the field, key or tensor; llama.cpp's LLaDA layout (keys, names, permuted
// q/k rows) maps onto our model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "core/quant.h"
#include "io/gguf.h"
#include "model/model_file.h"
#include "model/transformer.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("mmada_gguf_" + std::to_string(::getpid()) + "_" + name);
}

// Little-endian byte builder for hand-made files.
struct Bytes {
  std::vector<unsigned char> b;
  Bytes& u(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) b.push_back(uint8_t(v >> (8 * k)));
    return *this;
  }
  Bytes& s(const std::string& x) {
    u(x.size(), 8);
    b.insert(b.end(), x.begin(), x.end());
    return *this;
  }
  Bytes& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return u(version, 4).u(tensors, 8).u(kvs, 8);
  }
  Bytes& kv_u32(const std::string& k, uint32_t v) { return s(k).u(4, 4).u(v, 4); }
  Bytes& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t off) {
    s(name).u(dims.size(), 4);
    for (uint64_t d : dims) u(d, 8);
    return u(type, 4).u(off, 8);
  }
  Bytes& pad(size_t align = 32) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
};

std::string parse_error(const Bytes& x) {
  try {
    GgufFile::parse(x.b.data(), x.b.size(), "bad.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR(bytes, needle) \
  EXPECT_NE(parse_error(bytes).find(needle), std::string::npos) << parse_error(bytes)

TEST(Gguf, WriterOutputReadsBackExactly) {
  const fs::path p = temp_path("roundtrip.gguf");
  std::vector<float> w(64 * 256);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(float(i) * 0.01f);
  const Tensor f = Tensor::view(DType::F32, {64, 256}, w.data(), nullptr);
  std::vector<std::pair<std::string, Tensor>> ts = {
      {"f32", f}, {"bf16", f.to_bf16()}, {"vec", f.reshape({64 * 256})}};
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K})
    ts.emplace_back(std::string(dtype_name(t)), quantize_tensor(f, t));
  GgufValue i8;
  i8.type = GgufType::I8, i8.i = -5;
  GgufValue f64;
  f64.type = GgufType::F64, f64.f = 0.125;
  GgufValue ints;
  ints.type = GgufType::ARRAY, ints.elem_type = GgufType::I32;
  for (int k = -2; k < 3; ++k) ints.arr.push_back(GgufValue::i32(k));
  write_gguf(p.string(),
             {{"general.architecture", GgufValue::str("test")}, {"a.u32", GgufValue::u32(7)},
              {"a.i8", i8}, {"a.f32", GgufValue::f32(1.5f)}, {"a.f64", f64},
              {"a.bool", GgufValue::boolean(true)}, {"a.u64", GgufValue::u64(1ull << 40)},
              {"a.strings", GgufValue::strings({"x", "", "yz"})}, {"a.ints", ints}},
             ts, 64);
  auto g = GgufFile::open(p.string());
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->alignment(), 64u);
  EXPECT_EQ(g->get_string("general.architecture"), "test");
  EXPECT_EQ(g->get_int("a.u32"), 7);
  EXPECT_EQ(g->get_int("a.i8"), -5);
  EXPECT_EQ(g->get_float("a.f32"), 1.5);
  EXPECT_EQ(g->get_float("a.f64"), 0.125);
  EXPECT_TRUE(g->find("a.bool")->b);
  EXPECT_EQ(g->get_int("a.u64"), int64_t(1) << 40);
  ASSERT_EQ(g->find("a.strings")->arr.size(), 3u);
  EXPECT_EQ(g->find("a.strings")->arr[2].s, "yz");
  EXPECT_EQ(g->find("a.ints")->arr[0].i, -2);
  EXPECT_THROW(g->get_int("a.f32"), Error);
  EXPECT_THROW(g->get_string("missing"), Error);
  for (const auto& [name, t] : ts) {
    const Tensor& r = g->get(name);
    EXPECT_EQ(r.dtype, t.dtype) << name;
    EXPECT_EQ(r.shape, t.shape) << name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r.data) % 64, 0u) << name;
    ASSERT_EQ(std::memcmp(r.data, t.data, t.nbytes()), 0) << name;
  }
  fs::remove(p);
}

TEST(Gguf, MalformedFilesAreRejectedWithTheirReason) {
  EXPECT_ERROR(Bytes().u(0x46554746, 4).u(3, 4), "not a GGUF file");
  EXPECT_ERROR(Bytes().header(0, 0, 4), "unsupported GGUF version 4");
  EXPECT_ERROR(Bytes().header(0, 0, 0x03000000), "big-endian");
  EXPECT_ERROR(Bytes().header(uint64_t(1) << 62, 0), "tensor count 4611686018427387904");
  EXPECT_ERROR(Bytes().header(0, ~uint64_t(0)), "metadata count");
  EXPECT_ERROR(Bytes().header(0, 1).u(~uint64_t(0), 8).zeros(16), "metadata key #0 has length 18446744073709551615");
  EXPECT_ERROR(Bytes().header(0, 1).s("k").u(8, 4).u(uint64_t(1) << 40, 8).zeros(8),
               "metadata 'k' value has length");
  EXPECT_ERROR(Bytes().header(0, 1).s("k").u(13, 4).zeros(8), "metadata 'k' has unknown value type 13");
  EXPECT_ERROR(Bytes().header(0, 1).s("k").u(9, 4).u(4, 4).u(uint64_t(1) << 60, 8).zeros(16),
               "metadata 'k' claims 1152921504606846976 elements");
  EXPECT_ERROR(Bytes().header(0, 1).s("k").u(9, 4).u(9, 4).u(1, 8).zeros(16), "unsupported element type 9");
  EXPECT_ERROR(Bytes().header(0, 1).s("k").u(7, 4).u(2, 1).zeros(8), "bool of value 2");
  EXPECT_ERROR(Bytes().header(0, 2).kv_u32("k", 1).kv_u32("k", 2).zeros(8), "duplicate metadata key 'k'");
  EXPECT_ERROR(Bytes().header(0, 1).kv_u32("general.alignment", 24).zeros(8), "general.alignment must be a u32 power of two");
  EXPECT_ERROR(Bytes().header(0, 1).s("k").u(4, 4).u(0, 2), "truncated file: k needs 4 bytes");
  // Tensor infos.
  auto one = [](std::vector<uint64_t> dims, uint32_t type, uint64_t off, size_t data) {
    Bytes x;
    x.header(1, 0).tensor("w", std::move(dims), type, off).pad().zeros(data);
    return x;
  };
  EXPECT_ERROR(one({32, 2}, 13, 0, 1024), "tensor 'w': unsupported block type Q5_K");
  EXPECT_ERROR(one({32, 2}, 99, 0, 1024), "tensor 'w': unsupported block type type 99");
  EXPECT_ERROR(one({32, 2}, 0, 16, 1024), "tensor 'w': data offset 16 is not a multiple of the alignment 32");
  EXPECT_ERROR(one({32, 2}, 0, 0, 100), "tensor 'w' data [0, +256) lies outside the data section (100 bytes");
  EXPECT_ERROR(one({32, 2}, 0, ~uint64_t(0) / 32 * 32, 100), "lies outside the data section");
  EXPECT_ERROR(one({48, 2}, 12, 0, 1024), "tensor 'w': rows of 48 elements are not whole Q4_K blocks of 256");
  EXPECT_ERROR(one({1, 1, 1, 1, 1}, 0, 0, 64), "tensor 'w': 5 dimensions");
  EXPECT_ERROR(one({uint64_t(1) << 32, uint64_t(1) << 32}, 0, 0, 64), "tensor 'w': dimensions overflow 64 bits");
  {
    Bytes x;
    x.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad().zeros(96);
    EXPECT_ERROR(x, "tensors 'a' and 'b' have overlapping data");
  }
  {
    Bytes x;
    x.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad().zeros(64);
    EXPECT_ERROR(x, "duplicate tensor name 'a'");
  }
  {  // Well-formed: two tensors, a 1-D one with our shape order [8] and a 2-D one [2, 32].
    Bytes x;
    x.header(2, 0).tensor("a", {8}, 0, 0).tensor("b", {32, 2}, 8, 32).pad().zeros(32 + 68);
    auto g = GgufFile::parse(x.b.data(), x.b.size(), "ok.gguf");
    EXPECT_EQ(g->get("b").shape, (Shape{2, 32}));
    EXPECT_EQ(g->get("b").dtype, DType::Q8_0);
  }
}

TEST(Gguf, OtherArchitecturesAreRefusedByName) {
  const fs::path p = temp_path("llama.gguf");
  write_gguf(p.string(), {{"general.architecture", GgufValue::str("llama")}}, {});
  try {
    ModelFile::open(p.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'general.architecture' is 'llama'"), std::string::npos) << e.what();
  }
  fs::remove(p);
}

ModelConfig small_config() {
  ModelConfig c;
  c.d_model = 64, c.n_heads = 4, c.n_kv_heads = 2, c.n_layers = 2, c.mlp_hidden = 96;
  c.vocab = 101, c.rope_theta = 500000.0, c.mask_token_id = 100, c.eos_token_id = 99, c.pad_token_id = 99;
  return c;
}

Tensor forward_all(const Transformer& m) {
  std::vector<int64_t> ids = {3, 14, 15, 92, 65, 35, 89, 79};
  ForwardRequest r;
  r.ids = ids.data();
  r.L = int64_t(ids.size());
  return m.forward(r);
}

// Our "mmada" GGUF: same config, same tensors, same logits as the model written.
TEST(Gguf, MmadaModelRoundTripsThroughGguf) {
  const ModelConfig c = small_config();
  Transformer m = Transformer::random(c, Precision::BF16, 3);
  std::vector<std::pair<std::string, Tensor>> ts;
  for_each_tensor(c, m.weights(), [&](const TensorSlot& s) { ts.emplace_back(s.name, *s.tensor); });
  const fs::path p = temp_path("mmada.gguf");
  write_model_gguf(p.string(), c, ts);
  const Transformer back = Transformer::load(p.string(), Precision::BF16);
  EXPECT_EQ(back.config().to_json(), c.to_json());
  const Tensor a = forward_all(m), b = forward_all(back);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.ptr<float>()[i], b.ptr<float>()[i]);
  fs::remove(p);
}

// A file laid out as llama.cpp's converter writes LLaDA: "llada" keys, its tensor names, f32
// norms, and q/k rows permuted within each head to interleaved RoPE pairs (row h·d + 2i + j
// from Hugging Face row h·d + j·d/2 + i). Loading it must give the original model's logits.
TEST(Gguf, LlamaCppLladaFileRunsLikeTheOriginal) {
  const ModelConfig c = small_config();
  Transformer m = Transformer::random(c, Precision::BF16, 4);
  const int64_t d = c.head_dim();
  auto permute = [&](const Tensor& t, int64_t heads) {
    Tensor out = Tensor::empty(t.dtype, t.shape);
    const size_t rb = t.nbytes() / size_t(t.size(0));
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < d / 2; ++i)
        for (int64_t j = 0; j < 2; ++j)
          std::memcpy(static_cast<char*>(out.data) + (h * d + 2 * i + j) * rb,
                      static_cast<const char*>(t.data) + (h * d + j * d / 2 + i) * rb, rb);
    return out;
  };
  std::vector<std::pair<std::string, Tensor>> ts;
  for_each_tensor(c, m.weights(), [&](const TensorSlot& s) {
    Tensor t = *s.tensor;
    if (s.name.ends_with("q_proj.weight")) t = permute(t, c.n_heads);
    if (s.name.ends_with("k_proj.weight")) t = permute(t, c.n_kv_heads);
    // Quantize one matrix to check the un-permutation moves whole block rows.
    if (s.name == "model.transformer.blocks.1.q_proj.weight") t = quantize_tensor(t, DType::Q8_0);
    ts.emplace_back(gguf_tensor_name(s.name), t);
  });
  const fs::path p = temp_path("llada.gguf");
  write_gguf(p.string(),
             {{"general.architecture", GgufValue::str("llada")},
              {"llada.context_length", GgufValue::u32(4096)},
              {"llada.embedding_length", GgufValue::u32(64)},
              {"llada.block_count", GgufValue::u32(2)},
              {"llada.feed_forward_length", GgufValue::u32(96)},
              {"llada.attention.head_count", GgufValue::u32(4)},
              {"llada.attention.head_count_kv", GgufValue::u32(2)},
              {"llada.rope.freq_base", GgufValue::f32(500000.0f)},
              {"llada.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f)},
              {"tokenizer.ggml.mask_token_id", GgufValue::u32(100)}},
             ts);
  const ModelFile f = ModelFile::open(p.string());
  EXPECT_EQ(f.format, "gguf:llada");
  EXPECT_EQ(f.config.vocab, 101);
  EXPECT_EQ(f.config.n_kv_heads, 2);
  EXPECT_EQ(f.config.mask_token_id, 100);
  // The quantized q rows came back in Hugging Face order: compare with quantizing the original.
  const Tensor want_q = quantize_tensor(m.weights().layers[1].q_proj, DType::Q8_0);
  const Tensor& got_q = f.tensors.at("model.transformer.blocks.1.q_proj.weight");
  ASSERT_EQ(std::memcmp(got_q.data, want_q.data, want_q.nbytes()), 0);
  // Logits: the same model except layer 1's q in Q8_0, so compare against exactly that.
  m.weights().layers[1].q_proj = want_q;
  const Transformer ref = [&] {
    std::vector<std::pair<std::string, Tensor>> named;
    for_each_tensor(c, m.weights(), [&](const TensorSlot& s) { named.emplace_back(s.name, *s.tensor); });
    const fs::path q = temp_path("llada_ref.gguf");
    write_model_gguf(q.string(), c, named);
    Transformer t = Transformer::load(q.string(), Precision::BF16);
    fs::remove(q);
    return t;
  }();
  const Transformer back = Transformer::load(p.string(), Precision::BF16);
  const Tensor a = forward_all(ref), b = forward_all(back);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.ptr<float>()[i], b.ptr<float>()[i]);
  fs::remove(p);
}

TEST(Gguf, TensorNamesMapBothWays) {
  EXPECT_EQ(gguf_tensor_name("model.transformer.blocks.12.ff_proj.weight"), "blk.12.ffn_gate.weight");
  EXPECT_EQ(gguf_tensor_name("model.transformer.ff_out.weight"), "output.weight");
  EXPECT_EQ(hf_tensor_name("blk.3.attn_output.weight"), "model.transformer.blocks.3.attn_out.weight");
  EXPECT_EQ(hf_tensor_name("blk.3.ffn_down.weight"), "model.transformer.blocks.3.ff_out.weight");
  EXPECT_EQ(hf_tensor_name("rope_freqs.weight"), "");
}

}  // namespace
}  // namespace mmada
