// A small model with its own tokenizer, end to end through the built binary ($MMADA_CLI):
// `mmada train-tokenizer` -> `mmada train` (t2i + lm + mmu, a few steps; the checkpoint carries
// the tokenizer) -> generate, describe, imagine and serve on that checkpoint, and `mmada rl`
// from it, with no --tokenizer flag and none of MMaDA's ids. Plus train-tokenizer's bad inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "io/image.h"
#include "model/config.h"
#include "serve/base64.h"
#include "server/server_process.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace mmada {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::expect_clean_error;
using test::run_cli;


class OwnTokenizerCli : public test::CliTest {};

TEST_F(OwnTokenizerCli, TrainedCheckpointRunsEveryEngineCommand) {
  // Data: 20 synthetic 28x28 images (class k = a bar at row 2+2k), two chat lines.
  test::write_bar_images(dir_, "train", 20);
  std::ofstream(dir_ / "chat.jsonl")
      << R"({"messages":[{"role":"user","content":"What is 2+3?"},{"role":"assistant","content":"<think>2+3=5</think>5"}]})" "\n"
      << R"({"messages":[{"role":"user","content":"What do you wear on your feet?"},{"role":"assistant","content":"a sneaker"}]})" "\n";
  std::ofstream(dir_ / "captions.txt") << "a photo of a sneaker\ndraw a dress\nWhat is in this image? An ankle boot.\n";

  auto r = run_cli(cli_ + " train-tokenizer --input " + path("chat.jsonl") + " " + path("captions.txt") +
                   " --vocab-size 320 -o " + path("tok"));
  ASSERT_EQ(r.status, 0) << r.out;
  const Tokenizer tok = Tokenizer::load(path("tok"));
  ASSERT_LE(tok.size(), 320u);
  r = run_cli(cli_ + " make-vq -o " + path("vq") + " --levels 3 --bits 6 --res-blocks 0");  // x4, 64 codes
  ASSERT_EQ(r.status, 0) << r.out;

  const json cfg = {
      {"model", {{"d_model", 32}, {"n_layers", 1}, {"n_heads", 2}, {"mlp_hidden", 64}}},
      {"tokenizer", path("tok")},
      {"data", {{"lm", {{{"path", path("chat.jsonl")}, {"format", "chat"}}}},
                {"images", {{"path", dir_.string()}, {"vq", path("vq")}}}}},
      {"batch", {{"rows_t2i", 1}, {"rows_lm", 1}, {"rows_mmu", 1}, {"text_slots", 64}}},
      {"optim", {{"lr", 0.01}, {"warmup_steps", 1}}},
      {"steps", 2},
      {"output_dir", path("run")}};
  std::ofstream(dir_ / "run.json") << cfg.dump();
  r = run_cli(cli_ + " train --config " + path("run.json"));
  ASSERT_EQ(r.status, 0) << r.out;

  // The checkpoint is a complete model folder: the tokenizer files, the tokenizer's ids.
  const std::string ck = path("run/checkpoint");
  ASSERT_TRUE(fs::exists(ck + "/tokenizer.json"));
  ASSERT_TRUE(fs::exists(ck + "/tokenizer_config.json"));
  const ModelConfig mc = ModelConfig::load(ck + "/config.json");
  EXPECT_EQ(mc.vocab, int64_t(tok.size()) + 64);  // text vocabulary, then the 64 image codes
  EXPECT_EQ(mc.mask_token_id, tok.token_to_id("<|mdm_mask|>"));
  // ... and records how it lays images out (model/config.h ImageLayout): 64 codes of a 32x32
  // canvas at x4, T2I text part text_slots + 1, [iPAD] attended (t2i_pad_attention "none").
  ASSERT_TRUE(mc.image_layout.has_value());
  EXPECT_EQ(mc.image_layout->codes_per_image, 64);
  EXPECT_EQ(mc.image_layout->t2i_text_len, 65);
  EXPECT_TRUE(mc.image_layout->t2i_pad_visible);
  EXPECT_EQ(mc.image_layout->fit, "pad");

  const std::string fast = " --gen-length 8 --steps 4 --block-length 8 --precision f32";
  r = run_cli(cli_ + " generate -m " + ck + " -p 'What is 2+3?'" + fast);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(utf8::is_valid(r.out));

  // UniGRPO from the checkpoint: no "tokenizer" key, so the checkpoint's is used; the RL
  // checkpoint carries it on.
  const json rl = {{"model", {{"init_from", ck}}},
                   {"data", {{"prompts", path("chat.jsonl")}}},
                   {"rollout", {{"gen_length", 8}, {"steps", 4}}},
                   {"unigrpo", {{"batch_size", 2}, {"group_size", 2}, {"mu", 1}}},
                   {"rewards", {{{"type", "correctness"}}, {{"type", "format"}}}},
                   {"optim", {{"lr", 0.001}}},
                   {"steps", 1},
                   {"output_dir", path("rl")}};
  std::ofstream(dir_ / "rl.json") << rl.dump();
  r = run_cli(cli_ + " rl --config " + path("rl.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_TRUE(fs::exists(path("rl/checkpoint/tokenizer.json")));
  r = run_cli(cli_ + " generate -m " + path("rl/checkpoint") + " -p 'What is 2+3?'" + fast);
  ASSERT_EQ(r.status, 0) << r.out;

  RgbImage img(28, 28);
  for (int x = 4; x < 24; ++x) img.row(6)[x * 3] = img.row(6)[x * 3 + 1] = img.row(6)[x * 3 + 2] = 255;
  write_png(path("in.png"), img);
  r = run_cli(cli_ + " describe -m " + ck + " --vq " + path("vq") + " -i " + path("in.png") + " --size 32 --stats" + fast);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("-> 64 codes"), std::string::npos) << r.out;  // 32x32 at x4: the model's image layout

  r = run_cli(cli_ + " imagine -m " + ck + " --vq " + path("vq") +
              " -p 'a photo of a sneaker' --size 32 --text-len 65 --steps 3 --precision f32 -o " + path("out.png"));
  ASSERT_EQ(r.status, 0) << r.out;
  const RgbImage out = load_image(path("out.png"));
  EXPECT_EQ(out.width, 32);
  EXPECT_EQ(out.height, 32);

  // A bad pairing is refused by name: a codebook larger than the vocabulary has room for.
  r = run_cli(cli_ + " make-vq -o " + path("vq-big") + " --levels 3 --bits 8 --res-blocks 0");
  ASSERT_EQ(r.status, 0) << r.out;
  expect_clean_error(run_cli(cli_ + " imagine -m " + ck + " --vq " + path("vq-big") + " -p x --size 32 --steps 1"),
                     "has no room for 256 image codes");

  test::ServerProcess server;
  const std::string err = server.start_with({"-m", ck, "--vq", path("vq"), "--mmu-size", "32", "--precision", "f32",
                                             "--t2i-text-len", "65"});
  ASSERT_EQ(err, "");
  auto c = server.client();
  const json chat = {{"messages", {{{"role", "user"}, {"content", "What is 2+3?"}}}},
                     {"max_tokens", 8}, {"steps", 4}, {"block_length", 8}, {"seed", 1}};
  auto res = c.Post("/v1/chat/completions", chat.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json a = json::parse(res->body);
  EXPECT_EQ(a["object"], "chat.completion");
  json with_image = chat;
  with_image["messages"][0]["content"] = {
      {{"type", "text"}, {"text", "What is 2+3?"}},
      {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64," + serve::base64_encode(encode_png(img))}}}}};
  res = c.Post("/v1/chat/completions", with_image.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  // 64 codes plus <|mmu|> <|soi|> <|eoi|> in front of the same chat prompt.
  EXPECT_EQ(json::parse(res->body)["usage"]["prompt_tokens"].get<int>(), a["usage"]["prompt_tokens"].get<int>() + 67);
  const json gen = {{"prompt", "a photo of a sneaker"}, {"size", "32x32"}, {"steps", 2}, {"seed", 3}};
  res = c.Post("/v1/images/generations", gen.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const auto png = serve::base64_decode(json::parse(res->body)["data"][0]["b64_json"].get<std::string>(), 1 << 20);
  ASSERT_TRUE(png.has_value());
  const RgbImage served = decode_image(png->data(), png->size(), "reply");
  EXPECT_EQ(served.width, 32);
  EXPECT_EQ(served.height, 32);
  EXPECT_TRUE(server.alive());
  server.stop();

  // The checkpoint with its VQ in vq/: no --vq, --size, --text-len or --mmu-size anywhere, the
  // recorded layout gives them.
  fs::copy(path("vq"), ck + "/vq", fs::copy_options::recursive);
  r = run_cli(cli_ + " describe -m " + ck + " -i " + path("in.png") + " --stats" + fast);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("image 28x28 -> 64 codes"), std::string::npos) << r.out;
  r = run_cli(cli_ + " imagine -m " + ck + " -p 'a photo of a sneaker' --steps 2 --precision f32 -o " + path("own.png"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(load_image(path("own.png")).width, 32);
  test::ServerProcess own;
  ASSERT_EQ(own.start_with({"-m", ck, "--precision", "f32"}), "");
  auto oc = own.client();
  res = oc.Get("/v1/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body)["data"][0]["image_size"], 32) << res->body;
  res = oc.Post("/v1/images/generations", json{{"prompt", "a photo of a sneaker"}, {"steps", 2}}.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;  // no "size": the model's 32x32
  const auto own_png = serve::base64_decode(json::parse(res->body)["data"][0]["b64_json"].get<std::string>(), 1 << 20);
  ASSERT_TRUE(own_png.has_value());
  EXPECT_EQ(decode_image(own_png->data(), own_png->size(), "reply").width, 32);
  res = oc.Post("/v1/chat/completions", with_image.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["usage"]["prompt_tokens"].get<int>(), a["usage"]["prompt_tokens"].get<int>() + 67);
}

TEST_F(OwnTokenizerCli, TrainTokenizerBadInputsAreOneLineErrors) {
  std::ofstream(dir_ / "a.txt") << "hello hello\n";
  expect_clean_error(run_cli(cli_ + " train-tokenizer --input " + path("missing.txt") + " -o " + path("t")),
                     "cannot open");
  expect_clean_error(run_cli(cli_ + " train-tokenizer --input " + path("a.txt") + " --vocab-size 100 -o " + path("t")),
                     "below the 273 tokens");
  expect_clean_error(
      run_cli(cli_ + " train-tokenizer --input " + path("a.txt") + " --min-frequency 0 -o " + path("t")),
      "min frequency must be >= 1");
  std::ofstream(dir_ / "bad.jsonl") << "{\"messages\": [{\"role\": \"user\"}]}\n";
  expect_clean_error(run_cli(cli_ + " train-tokenizer --input " + path("bad.jsonl") + " -o " + path("t")),
                     "bad.jsonl:1: every message needs a string \"content\"");
}

}  // namespace
}  // namespace mmada
