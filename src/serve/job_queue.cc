#include "serve/job_queue.h"

namespace mmada::serve {

JobQueue::JobQueue(size_t capacity) : capacity_(capacity), engine_thread_([this] { run(); }) {}

JobQueue::~JobQueue() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stopping_ = true;
  }
  cv_.notify_all();
  engine_thread_.join();
}

bool JobQueue::try_push(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lk(m_);
    if (stopping_ || jobs_.size() >= capacity_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

size_t JobQueue::waiting() const {
  std::lock_guard<std::mutex> lk(m_);
  return jobs_.size();
}

bool JobQueue::busy() const {
  std::lock_guard<std::mutex> lk(m_);
  return running_;
}

void JobQueue::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      running_ = true;
    }
    job();  // jobs report their own errors through their channel
    std::lock_guard<std::mutex> lk(m_);
    running_ = false;
  }
}

}  // namespace mmada::serve
