// A bounded FIFO of jobs in front of the model: one engine thread owns the model and runs the
// jobs in order; a full queue refuses new work at once (the server answers 503 + Retry-After)
// instead of piling up requests.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace mmada::serve {

class JobQueue {
 public:
  explicit JobQueue(size_t capacity);
  ~JobQueue();  // runs no further jobs; waits for the running one
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // False when `capacity` jobs are already waiting (the running one does not count).
  bool try_push(std::function<void()> job);
  size_t waiting() const;
  bool busy() const;  // a job is running

 private:
  void run();
  const size_t capacity_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false, running_ = false;
  std::thread engine_thread_;
};

}  // namespace mmada::serve
