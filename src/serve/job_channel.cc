#include "serve/job_channel.h"

namespace mmada::serve {

void JobChannel::send(JobMessage msg) {
  {
    std::lock_guard<std::mutex> lk(m_);
    queue_.push_back(std::move(msg));
  }
  cv_.notify_all();
}

void JobChannel::close() {
  {
    std::lock_guard<std::mutex> lk(m_);
    closed_ = true;
  }
  cv_.notify_all();
}

JobChannel::Poll JobChannel::next(JobMessage* out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(m_);
  cv_.wait_for(lk, timeout, [this] { return closed_ || !queue_.empty(); });
  if (!queue_.empty()) {
    *out = std::move(queue_.front());
    queue_.pop_front();
    return Poll::Message;
  }
  return closed_ ? Poll::Closed : Poll::Timeout;
}

}  // namespace mmada::serve
