// The link between one HTTP request and its job on the engine thread: the engine sends
// messages (the reply, or stream events), the request side reads them and can cancel.
// The first message decides the HTTP status: an error before any output becomes a normal
// error reply, so streaming requests still get a 4xx for bad input.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

namespace mmada::serve {

struct JobMessage {
  int status = 200;  // != 200: `body` is an error JSON
  std::string body;  // a JSON reply, or SSE text for streams
};

class JobChannel {
 public:
  enum class Poll { Message, Timeout, Closed };

  // Engine side.
  void send(JobMessage msg);
  void close();  // no more messages
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // Request side: waits up to `timeout` for the next message.
  Poll next(JobMessage* out, std::chrono::milliseconds timeout);
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<JobMessage> queue_;
  bool closed_ = false;
  std::atomic<bool> cancelled_{false};
};

}  // namespace mmada::serve
