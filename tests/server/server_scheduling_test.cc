// The server's guards, against the real binary: API key, a full queue (503 + Retry-After),
// clients that disconnect (their job is cancelled), slow-loris requests (dropped after the
// read timeout), and a server without MAGVIT refusing image work with a 400.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <nlohmann/json.hpp>

#include "server/server_process.h"

using nlohmann::json;
using namespace std::chrono_literals;

namespace mmada::test {
namespace {

// A chat that would run for minutes on the tiny model (1024 denoising steps): every test
// that uses it ends it by hanging up, which must cancel it within a few steps.
const json kLongChat = {{"messages", {{{"role", "user"}, {"content", "Tell me a long story."}}}},
                        {"max_tokens", 1024}, {"steps", 1024}, {"block_length", 32}, {"seed", 1}};
constexpr auto kCancelWithin = 8s;

json health(ServerProcess& s) {
  auto c = s.client();
  auto r = c.Get("/health");
  return r && r->status == 200 ? json::parse(r->body) : json();
}

// Polls /health until the engine is idle with nothing queued; false on timeout.
bool wait_idle(ServerProcess& s, std::chrono::milliseconds limit) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < limit) {
    const json h = health(s);
    if (h.is_object() && h["busy"] == false && h["queue"] == 0) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

bool wait_busy(ServerProcess& s) {
  for (int i = 0; i < 500; ++i) {
    const json h = health(s);
    if (h.is_object() && h["busy"] == true) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(ServerSchedulingTest, ApiKeyIsRequiredOnApiRoutes) {
  ServerProcess s;
  const std::string err = s.start({"--api-key", "sekrit-key"}, /*with_vq=*/false);
  if (!err.empty()) GTEST_SKIP() << err;
  auto c = s.client();
  auto none = c.Get("/v1/models");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(json::parse(none->body)["error"]["type"], "authentication_error");
  auto wrong = c.Get("/v1/models", {{"Authorization", "Bearer sekrit-kez"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto not_bearer = c.Get("/v1/models", {{"Authorization", "sekrit-key"}});
  ASSERT_TRUE(not_bearer);
  EXPECT_EQ(not_bearer->status, 401);
  auto chat = c.Post("/v1/chat/completions", R"({"messages": []})", "application/json");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 401);  // auth is checked before the body
  auto ok = c.Get("/v1/models", {{"Authorization", "Bearer sekrit-key"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  // Without --vq: image work is a 400, not a crash.
  auto img = c.Post("/v1/images/generations", {{"Authorization", "Bearer sekrit-key"}},
                    R"({"prompt": "a cat", "size": "64x64", "steps": 2})", "application/json");
  ASSERT_TRUE(img);
  EXPECT_EQ(img->status, 400);
  EXPECT_TRUE(s.alive());
}

class ServerQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string err = s_.start({"--queue", "1", "--timeout", "1", "--max-steps", "1024", "--max-tokens", "1024"});
    if (!err.empty()) GTEST_SKIP() << err;
  }
  ServerProcess s_;
};

// POSTs kLongChat (optionally streamed) and hangs up after `patience`.
std::future<void> impatient_chat(const ServerProcess& s, std::chrono::milliseconds patience, bool stream = false) {
  return std::async(std::launch::async, [&s, patience, stream] {
    httplib::Client c("127.0.0.1", s.port());
    c.set_read_timeout(patience);
    json req = kLongChat;
    req["stream"] = stream;
    c.Post("/v1/chat/completions", req.dump(), "application/json");
  });
}

TEST_F(ServerQueueTest, FullQueueAnswers503WithRetryAfter) {
  // One job runs, one waits (--queue 1); the next is refused.
  auto running = impatient_chat(s_, 6000ms);
  ASSERT_TRUE(wait_busy(s_));
  auto waiting = impatient_chat(s_, 6000ms);
  for (int i = 0; i < 500 && health(s_)["queue"] != 1; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(health(s_)["queue"], 1);
  auto c = s_.client();
  auto r = c.Post("/v1/chat/completions", kLongChat.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "2");
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "queue_full");
  running.get();
  waiting.get();
  // Both clients hung up: the running job is cancelled and the waiting one never runs long.
  EXPECT_TRUE(wait_idle(s_, kCancelWithin));
  EXPECT_TRUE(s_.alive());
}

TEST_F(ServerQueueTest, DisconnectedStreamingClientCancelsItsJob) {
  json req = kLongChat;
  req["stream"] = true;
  httplib::Request hr;
  hr.method = "POST";
  hr.path = "/v1/chat/completions";
  hr.body = req.dump();
  hr.set_header("Content-Type", "application/json");
  std::atomic<bool> got_first{false};
  hr.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
    got_first = true;
    return false;  // hang up after the first chunk
  };
  auto c = s_.client();
  c.send(hr);
  EXPECT_TRUE(got_first);
  EXPECT_TRUE(wait_idle(s_, kCancelWithin)) << "the job kept running after its client left";
  EXPECT_TRUE(s_.alive());
}

TEST_F(ServerQueueTest, DisconnectedPlainClientCancelsItsJob) {
  impatient_chat(s_, 1000ms).get();
  EXPECT_TRUE(wait_idle(s_, kCancelWithin)) << "the job kept running after its client left";
  EXPECT_TRUE(s_.alive());
}

TEST_F(ServerQueueTest, SlowLorisRequestIsDropped) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(s_.port()));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string partial = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"mess";
  ASSERT_EQ(send(fd, partial.data(), partial.size(), 0), ssize_t(partial.size()));
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const auto t0 = std::chrono::steady_clock::now();
  char buf[4096];
  // The server gives up on the body after --timeout (1 s): it answers 4xx or closes.
  const ssize_t n = recv(fd, buf, sizeof buf, 0);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  close(fd);
  EXPECT_GE(n, 0) << "no reply and no close within 5 s";
  EXPECT_LT(waited, 4.0);
  const std::string got(buf, size_t(std::max<ssize_t>(n, 0)));
  if (!got.empty()) {
    EXPECT_EQ(got.substr(0, 10), "HTTP/1.1 4") << got;
  }
  EXPECT_TRUE(s_.alive());
  EXPECT_EQ(health(s_)["status"], "ok");
}

}  // namespace
}  // namespace mmada::test
