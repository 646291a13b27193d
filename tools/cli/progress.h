// A one-line progress bar on stderr (steps done / total, rate), silent when stderr is not a
// terminal so logs and pipes stay clean.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace mmada::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label, bool enabled = isatty(STDERR_FILENO))
      : label_(std::move(label)), enabled_(enabled), t0_(std::chrono::steady_clock::now()) {}
  // `items` (e.g. tokens committed so far) gives the rate shown after the bar.
  void update(long done, long total, long items, const char* unit) {
    if (!enabled_ || total <= 0) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const int width = 30, filled = int(double(width) * double(done) / double(total));
    std::fprintf(stderr, "\r%s [%s%s] %ld/%ld  %.1f %s/s  %.1fs", label_.c_str(),
                 std::string(size_t(filled), '#').c_str(), std::string(size_t(width - filled), '.').c_str(),
                 done, total, s > 0 ? double(items) / s : 0.0, unit, s);
    std::fflush(stderr);
  }
  void finish() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  std::string label_;
  bool enabled_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace mmada::cli
