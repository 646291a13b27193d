// The OpenAI-compatible routes of the real `mmada serve` binary over HTTP, on the tiny models:
// health, models, chat (plain, streamed, with an image, multi-turn), image generation (plain,
// streamed with previews, n > 1).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/image.h"
#include "serve/base64.h"
#include "server/server_process.h"

using nlohmann::json;

namespace mmada::test {
namespace {

std::string png_data_url(int w, int h) {
  RgbImage img(w, h);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = uint8_t(i * 37 % 251);
  return "data:image/png;base64," + serve::base64_encode(encode_png(img));
}

RgbImage decode_b64_png(const std::string& b64) {
  auto bytes = serve::base64_decode(b64, 64 << 20);
  EXPECT_TRUE(bytes.has_value());
  return decode_image(bytes->data(), bytes->size(), "reply");
}

class ServerApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess;
    error_ = server_->start({"--preview-every", "2"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!error_.empty()) GTEST_SKIP() << error_;
  }
  static json post(const std::string& path, const json& body, int expect_status = 200) {
    auto c = server_->client();
    auto r = c.Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r) << "no response";
    if (!r) return {};
    EXPECT_EQ(r->status, expect_status) << r->body;
    return json::parse(r->body);
  }
  // A streamed POST: the raw event-stream body.
  static std::string post_stream(const std::string& path, const json& body, std::string* content_type = nullptr) {
    auto c = server_->client();
    auto r = c.Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    if (content_type) *content_type = r->get_header_value("Content-Type");
    return r->body;
  }
  static ServerProcess* server_;
  static std::string error_;
};
ServerProcess* ServerApiTest::server_ = nullptr;
std::string ServerApiTest::error_;

const json kShortChat = {{"messages", {{{"role", "user"}, {"content", "What is 2+2?"}}}},
                         {"max_tokens", 16}, {"steps", 8}, {"block_length", 8}, {"seed", 7}};

TEST_F(ServerApiTest, HealthAndModels) {
  auto c = server_->client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["status"], "ok");
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  const json j = json::parse(m->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "mmada_tiny");
  EXPECT_EQ(j["data"][0]["object"], "model");
  auto one = c.Get("/v1/models/mmada_tiny");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
}

TEST_F(ServerApiTest, WebPageIsServed) {
  auto c = server_->client();
  auto r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(r->body.find("<html"), std::string::npos);
}

TEST_F(ServerApiTest, ChatCompletionHasOpenAIShapeAndIsSeeded) {
  const json a = post("/v1/chat/completions", kShortChat);
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_EQ(a["model"], "mmada_tiny");
  EXPECT_EQ(a["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  ASSERT_EQ(a["choices"].size(), 1u);
  EXPECT_EQ(a["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(a["choices"][0]["message"]["content"].is_string());
  const std::string fr = a["choices"][0]["finish_reason"];
  EXPECT_TRUE(fr == "stop" || fr == "length") << fr;
  EXPECT_GT(a["usage"]["prompt_tokens"].get<int>(), 5);
  EXPECT_LE(a["usage"]["completion_tokens"].get<int>(), 16);
  EXPECT_EQ(a["usage"]["total_tokens"].get<int>(),
            a["usage"]["prompt_tokens"].get<int>() + a["usage"]["completion_tokens"].get<int>());
  const json b = post("/v1/chat/completions", kShortChat);
  EXPECT_EQ(a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"]);
}

TEST_F(ServerApiTest, StreamedChatMatchesPlainChat) {
  json req = kShortChat;
  const json plain = post("/v1/chat/completions", req);
  req["stream"] = true;
  std::string ct;
  const auto events = sse_data(post_stream("/v1/chat/completions", req, &ct));
  EXPECT_NE(ct.find("text/event-stream"), std::string::npos);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json ch = json::parse(events[i]);
    EXPECT_EQ(ch["object"], "chat.completion.chunk");
    const json& delta = ch["choices"][0]["delta"];
    if (i == 0) {
      EXPECT_EQ(delta["role"], "assistant");
    }
    if (delta.contains("content")) text += delta["content"].get<std::string>();
    EXPECT_EQ(ch["choices"][0]["finish_reason"].is_null(), i + 2 != events.size());
  }
  // 16 tokens in blocks of 8: at most the role chunk, two block chunks, the final chunk.
  EXPECT_LE(events.size(), 5u);
  EXPECT_EQ(text, plain["choices"][0]["message"]["content"]);
}

TEST_F(ServerApiTest, ChatWithImageAndMultiTurn) {
  json req = kShortChat;
  req["messages"] = {
      {{"role", "system"}, {"content", "You are helpful."}},
      {{"role", "user"},
       {"content", {{{"type", "text"}, {"text", "What is in this picture?"}},
                    {{"type", "image_url"}, {"image_url", {{"url", png_data_url(80, 64)}}}}}}},
      {{"role", "assistant"}, {"content", "A pattern."}},
      {{"role", "user"}, {"content", "Describe it in more detail."}}};
  const json a = post("/v1/chat/completions", req);
  EXPECT_EQ(a["object"], "chat.completion");
  // 16 image tokens (64x64 / 16x16) plus <|mmu|><|soi|><|eoi|> are part of the prompt.
  json text_only = req;
  text_only["messages"][1]["content"] = "What is in this picture?";
  const json b = post("/v1/chat/completions", text_only);
  EXPECT_EQ(a["usage"]["prompt_tokens"].get<int>(), b["usage"]["prompt_tokens"].get<int>() + 19);
}

TEST_F(ServerApiTest, ImageGeneration) {
  const json a = post("/v1/images/generations",
                      {{"prompt", "a red apple"}, {"size", "64x64"}, {"steps", 4}, {"seed", 3}});
  EXPECT_GT(a["created"].get<int64_t>(), 0);
  ASSERT_EQ(a["data"].size(), 1u);
  const RgbImage img = decode_b64_png(a["data"][0]["b64_json"]);
  EXPECT_EQ(img.width, 64);
  EXPECT_EQ(img.height, 64);
  const json two = post("/v1/images/generations",
                        {{"prompt", "a red apple"}, {"size", "32x48"}, {"n", 2}, {"steps", 3}, {"guidance_scale", 0},
                         {"response_format", "b64_json"}});
  ASSERT_EQ(two["data"].size(), 2u);
  EXPECT_EQ(decode_b64_png(two["data"][1]["b64_json"]).height, 48);
}

TEST_F(ServerApiTest, StreamedImageGenerationHasPreviewsAndFinalImage) {
  std::string ct;
  const std::string body = post_stream(
      "/v1/images/generations",
      {{"prompt", "a blue sky"}, {"size", "64x64"}, {"steps", 6}, {"seed", 5}, {"stream", true}}, &ct);
  EXPECT_NE(ct.find("text/event-stream"), std::string::npos);
  int partial = 0, progress = 0, completed = 0;
  int64_t last_step = 0;
  for (const std::string& d : sse_data(body)) {
    const json e = json::parse(d);
    const std::string type = e["type"];
    if (type == "image_generation.partial_image") {
      EXPECT_EQ(e["partial_image_index"], partial);
      EXPECT_EQ(decode_b64_png(e["b64_json"]).width, 64);
      ++partial;
    } else if (type == "image_generation.progress") {
      ++progress;
    } else if (type == "image_generation.completed") {
      EXPECT_EQ(decode_b64_png(e["b64_json"]).width, 64);
      ++completed;
      continue;
    } else {
      ADD_FAILURE() << "unexpected event " << type;
    }
    EXPECT_EQ(e["grid"]["codes"].size(), 16u);
    EXPECT_EQ(e["step"].get<int64_t>(), last_step + 1);
    last_step = e["step"];
  }
  EXPECT_EQ(partial, 2);  // steps 2 and 4 (the last step gives the final image instead)
  EXPECT_EQ(progress, 4);
  EXPECT_EQ(completed, 1);
  EXPECT_NE(body.find("event: image_generation.completed"), std::string::npos);
}

}  // namespace
}  // namespace mmada::test
