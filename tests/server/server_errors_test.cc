// Bad input against the real server: every client error gets its 4xx status and an
// OpenAI-shaped error body, and the server keeps running.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "serve/base64.h"
#include "server/server_process.h"

using nlohmann::json;

namespace mmada::test {
namespace {

class ServerErrorsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess;
    error_ = server_->start({"--max-body", "256KB", "--max-image-bytes", "64KB", "--max-tokens", "64",
                             "--max-steps", "64", "--max-images", "2", "--timeout", "1"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!error_.empty()) GTEST_SKIP() << error_;
  }
  void TearDown() override {
    if (error_.empty()) {
      EXPECT_TRUE(server_->alive()) << "the server died";
    }
  }
  // POSTs a raw body and checks status and the OpenAI error shape; returns error.param.
  static std::string expect_error(const std::string& path, const std::string& body, int status) {
    auto c = server_->client();
    auto r = c.Post(path.c_str(), body, "application/json");
    EXPECT_TRUE(r) << "no response for " << body.substr(0, 200);
    if (!r) return "";
    EXPECT_EQ(r->status, status) << body.substr(0, 200) << " -> " << r->body;
    const json j = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << r->body;
    if (!j.is_object() || !j.contains("error")) return "";
    const json& e = j["error"];
    EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty());
    EXPECT_TRUE(e["type"].is_string());
    EXPECT_TRUE(e.contains("param") && e.contains("code"));
    return e["param"].is_string() ? e["param"].get<std::string>() : "";
  }
  static std::string chat_with(const json& content) {
    return json{{"messages", {{{"role", "user"}, {"content", content}}}}, {"max_tokens", 8}, {"steps", 8}}.dump();
  }
  static json image_part(const std::string& url) {
    return json::array({{{"type", "text"}, {"text", "what is this?"}},
                        {{"type", "image_url"}, {"image_url", {{"url", url}}}}});
  }
  static ServerProcess* server_;
  static std::string error_;
};
ServerProcess* ServerErrorsTest::server_ = nullptr;
std::string ServerErrorsTest::error_;

const char* kChat = "/v1/chat/completions";
const char* kImages = "/v1/images/generations";

TEST_F(ServerErrorsTest, MalformedJson) {
  expect_error(kChat, "{\"messages\": [", 400);
  expect_error(kChat, "not json at all", 400);
  expect_error(kChat, "", 400);
  expect_error(kChat, "[1, 2, 3]", 400);
  expect_error(kImages, "{\"prompt\": \"x\",}", 400);
}

TEST_F(ServerErrorsTest, WrongTypes) {
  EXPECT_EQ(expect_error(kChat, R"({"messages": "hello"})", 400), "messages");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": "8"})", 400),
            "max_tokens");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})", 400),
            "temperature");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"})", 400),
            "stream");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"role": "user", "content": 42}]})", 400), "messages[0].content");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"role": 1, "content": "hi"}]})", 400), "messages[0].role");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [7]})", 400), "messages[0]");
  EXPECT_EQ(expect_error(kChat, chat_with(json::array({{{"type", "audio"}}})), 400), "messages[0].content[0].type");
  EXPECT_EQ(expect_error(kImages, R"({"prompt": 5})", 400), "prompt");
  EXPECT_EQ(expect_error(kImages, R"({"prompt": "x", "n": "2"})", 400), "n");
  EXPECT_EQ(expect_error(kImages, R"({"prompt": "x", "size": 64})", 400), "size");
  EXPECT_EQ(expect_error(kImages, R"({"prompt": "x", "response_format": "url"})", 400), "response_format");
}

TEST_F(ServerErrorsTest, MissingFields) {
  EXPECT_EQ(expect_error(kChat, "{}", 400), "messages");
  EXPECT_EQ(expect_error(kChat, R"({"messages": []})", 400), "messages");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"role": "user"}]})", 400), "messages[0].content");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"content": "hi"}]})", 400), "messages[0].role");
  EXPECT_EQ(expect_error(kImages, "{}", 400), "prompt");
  EXPECT_EQ(expect_error(kImages, R"({"prompt": ""})", 400), "prompt");
}

TEST_F(ServerErrorsTest, UnknownRoleAndBadSettings) {
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"role": "wizard", "content": "hi"}]})", 400), "messages[0].role");
  EXPECT_EQ(expect_error(kChat, R"({"messages": [{"role": "assistant", "content": "hi"}]})", 400), "messages");
  expect_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 65})", 400);
  expect_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0})", 400);
  expect_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "block_length": 8, "steps": 3})", 400);
  expect_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "remasking": "sideways"})", 400);
  expect_error(kChat, R"({"messages": [{"role": "user", "content": "hi"}], "temperature": -1})", 400);
}

TEST_F(ServerErrorsTest, FastDecodingSettings) {
  const std::string hi = R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "block_length": 8, "steps": 8, )";
  EXPECT_EQ(expect_error(kChat, hi + R"("cache": "full"})", 400), "cache");
  EXPECT_EQ(expect_error(kChat, hi + R"("cache": 1})", 400), "cache");
  EXPECT_EQ(expect_error(kChat, hi + R"("threshold": 1.5})", 400), "threshold");
  EXPECT_EQ(expect_error(kChat, hi + R"("cache_refresh": -1})", 400), "cache_refresh");
  expect_error(kChat, hi + R"("threshold": 0.9, "factor": 1})", 400);
  expect_error(kChat, hi + R"("factor": 1, "remasking": "random"})", 400);
  expect_error(kChat, hi + R"("cache_refresh": 2})", 400);
  auto c = server_->client();
  auto r = c.Post(kChat, hi + R"("cache": "dual", "cache_refresh": 2, "threshold": 0.5})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(ServerErrorsTest, BadImages) {
  const std::string p = "messages[0].content[1].image_url.url";
  EXPECT_EQ(expect_error(kChat, chat_with(image_part("data:image/png;base64,%%%notbase64%%%")), 400), p);
  EXPECT_EQ(expect_error(kChat, chat_with(image_part("data:image/png;base64,abcde")), 400), p);
  EXPECT_EQ(expect_error(kChat, chat_with(image_part("data:text/plain;base64,aGVsbG8=")), 400), p);
  EXPECT_EQ(expect_error(kChat, chat_with(image_part("data:image/png;base64,aGVsbG8gd29ybGQ=")), 400), p);
  EXPECT_EQ(expect_error(kChat, chat_with(image_part("https://example.com/cat.png")), 400), p);
  EXPECT_EQ(expect_error(kChat, chat_with(image_part("data:image/png,rawbytes")), 400), p);
  // A PNG signature followed by garbage: caught by the decoder on the engine thread.
  const std::vector<uint8_t> fake = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8};
  expect_error(kChat, chat_with(image_part("data:image/png;base64," + serve::base64_encode(fake))), 400);
  // Over --max-image-bytes (64 KB) but under --max-body (256 KB).
  std::vector<uint8_t> big(100 << 10, 7);
  std::copy(fake.begin(), fake.begin() + 8, big.begin());
  EXPECT_EQ(expect_error(kChat, chat_with(image_part("data:image/png;base64," + serve::base64_encode(big))), 413), p);
}

TEST_F(ServerErrorsTest, ImageCountAndSizeOutOfRange) {
  EXPECT_EQ(expect_error(kImages, R"({"prompt": "x", "n": 0})", 400), "n");
  EXPECT_EQ(expect_error(kImages, R"({"prompt": "x", "n": 3})", 400), "n");
  for (const char* s : {"100x100", "1024x1024", "0x0", "64", "abc", "64x", "x64", "-64x64", "64x64x64", "99999999999x64"})
    EXPECT_EQ(expect_error(kImages, json{{"prompt", "x"}, {"size", s}}.dump(), 400), "size") << s;
  EXPECT_EQ(expect_error(kImages, R"({"prompt": "x", "steps": 65})", 400), "steps");
}

TEST_F(ServerErrorsTest, BodyOverMaxBody) {
  const std::string big = chat_with(std::string(300 << 10, 'a'));
  expect_error(kChat, big, 413);
}

TEST_F(ServerErrorsTest, UnknownRoutes) {
  expect_error("/v1/nothing", "{}", 404);
  auto c = server_->client();
  auto r = c.Get("/v1/models/gpt-4");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "model_not_found");
  auto g = c.Get("/v1/chat/completions");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 404);
  EXPECT_TRUE(json::parse(r->body).contains("error"));
}

}  // namespace
}  // namespace mmada::test
