#include "train/rl_rewards.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "train/image_data.h"

namespace mmada::train {

namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t k = s.find(from); k != std::string::npos; k = s.find(from, k + to.size()))
    s.replace(k, from.size(), to);
}

// Exact parse of a plain decimal: [+-]digits[.digits] or [+-].digits, nothing else.
std::optional<double> parse_decimal(const std::string& s) {
  static const std::regex re(R"(^[+-]?(\d+(\.\d*)?|\.\d+)$)");
  if (!std::regex_match(s, re)) return std::nullopt;
  return std::strtod(s.c_str(), nullptr);
}

}  // namespace

std::string last_boxed(const std::string& s, bool* found) {
  *found = false;
  const size_t k = s.rfind("\\boxed");
  if (k == std::string::npos) return "";
  size_t i = k + 6;
  while (i < s.size() && s[i] == ' ') ++i;
  if (i >= s.size() || s[i] != '{') return "";
  int depth = 0;
  for (size_t j = i; j < s.size(); ++j) {
    if (s[j] == '{') ++depth;
    else if (s[j] == '}' && --depth == 0) {
      *found = true;
      return s.substr(i + 1, j - i - 1);
    }
  }
  return "";  // unbalanced: no usable box
}

std::string last_number(const std::string& s) {
  static const std::regex re(R"([+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?(/\d+)?|[+-]?\.\d+)");
  std::string last;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it)
    last = it->str();
  return last;
}

std::string extract_answer(const std::string& response) {
  bool boxed = false;
  const std::string b = last_boxed(response, &boxed);
  if (boxed) return trim(b);
  const size_t k = response.rfind("</think>");
  if (k != std::string::npos) {
    // The text after </think>; if it is prose rather than a bare answer, its last number.
    const std::string after = trim(response.substr(k + 8));
    if (parse_number(normalise_answer(after))) return after;
    const std::string n = last_number(after);
    return n.empty() ? after : n;
  }
  return last_number(response);
}

std::string extract_reference(const std::string& reference) {
  const size_t k = reference.rfind("####");
  if (k != std::string::npos) {
    std::string a = trim(reference.substr(k + 4));
    replace_all(a, ",", "");
    return a;
  }
  return extract_answer(reference);
}

std::string normalise_answer(std::string s) {
  replace_all(s, "\n", "");
  replace_all(s, "\\!", "");
  replace_all(s, "\\left", "");
  replace_all(s, "\\right", "");
  replace_all(s, "^{\\circ}", "");
  replace_all(s, "^\\circ", "");
  replace_all(s, "\xC2\xB0", "");  // °
  replace_all(s, "$", "");
  replace_all(s, "\\%", "");
  replace_all(s, "%", "");
  replace_all(s, "tfrac", "frac");
  replace_all(s, "dfrac", "frac");
  s = trim(s);
  // A trailing unit: "\text{ cm}" / "\mbox{ cm}".
  static const std::regex unit(R"(\\(text|mbox)\{[^{}]*\}$)");
  s = std::regex_replace(s, unit, "");
  replace_all(s, ",", "");
  replace_all(s, " ", "");
  while (!s.empty() && s.back() == '.') s.pop_back();
  // A short "x=" prefix.
  const size_t eq = s.find('=');
  if (eq != std::string::npos && eq <= 2 && s.find('=', eq + 1) == std::string::npos)
    s = s.substr(eq + 1);
  // \frac12 -> \frac{1}{2}, \sqrt3 -> \sqrt{3}.
  static const std::regex frac_digits(R"(\\frac(\d)(\d))");
  s = std::regex_replace(s, frac_digits, "\\frac{$1}{$2}");
  static const std::regex sqrt_digit(R"(\\sqrt(\d+))");
  s = std::regex_replace(s, sqrt_digit, "\\sqrt{$1}");
  if (!s.empty() && s[0] == '.') s = "0" + s;
  return s;
}

std::optional<double> parse_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  if (auto v = parse_decimal(s)) return v;
  std::smatch m;
  static const std::regex ratio(R"(^([+-]?[\d.]+)/([+-]?[\d.]+)$)");
  if (std::regex_match(s, m, ratio)) {
    const auto a = parse_decimal(m[1]), b = parse_decimal(m[2]);
    if (a && b && *b != 0) return *a / *b;
    return std::nullopt;
  }
  static const std::regex frac(R"(^([+-]?)\\frac\{([^{}]+)\}\{([^{}]+)\}$)");
  if (std::regex_match(s, m, frac)) {
    const auto a = parse_number(m[2]), b = parse_number(m[3]);
    if (a && b && *b != 0) return (m[1] == "-" ? -1.0 : 1.0) * *a / *b;
    return std::nullopt;
  }
  static const std::regex sqrt(R"(^([+-]?[\d.]*)\\sqrt\{([^{}]+)\}$)");
  if (std::regex_match(s, m, sqrt)) {
    const std::string c = m[1];
    const auto r = parse_number(m[2]);
    double coef = 1;
    if (c == "-") coef = -1;
    else if (!c.empty() && c != "+") {
      const auto cv = parse_decimal(c);
      if (!cv) return std::nullopt;
      coef = *cv;
    }
    if (r && *r >= 0) return coef * std::sqrt(*r);
  }
  return std::nullopt;
}

bool answers_equal(const std::string& got, const std::string& want) {
  const std::string g = normalise_answer(got), w = normalise_answer(want);
  if (g.empty() || w.empty()) return false;
  const auto a = parse_number(g), b = parse_number(w);
  if (a && b) return std::fabs(*a - *b) <= 1e-9 * std::max(1.0, std::fabs(*b));
  return g == w;
}

bool has_think_format(const std::string& response) {
  const std::string s = trim(response);
  if (s.rfind("<think>", 0) != 0) return false;
  const size_t k = s.find("</think>");
  if (k == std::string::npos || s.find("</think>", k + 1) != std::string::npos) return false;
  return !trim(s.substr(k + 8)).empty();
}

namespace {

class CorrectnessReward : public Reward {
 public:
  const std::string& name() const override { return name_; }
  std::optional<double> score(const RewardInput& in) override {
    return answers_equal(extract_answer(in.response), extract_reference(in.reference)) ? 1.0 : 0.0;
  }

 private:
  std::string name_ = "correctness";
};

class FormatReward : public Reward {
 public:
  const std::string& name() const override { return name_; }
  std::optional<double> score(const RewardInput& in) override {
    return has_think_format(in.response) ? 1.0 : 0.0;
  }

 private:
  std::string name_ = "format";
};

// The JSON a scorer receives (command stdin, HTTP body). A model's bytes need not be UTF-8:
// invalid sequences become U+FFFD rather than an error.
std::string scorer_input(const RewardInput& in) {
  return nlohmann::json{{"prompt", in.prompt}, {"response", in.response}, {"reference", in.reference}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A scorer's answer: one finite number (surrounding white space allowed); else nullopt and why.
std::optional<double> scorer_number(const std::string& text, std::string* failure) {
  const std::string t = trim(text);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v)) {
    *failure = "output is not a number: \"" + t.substr(0, 60) + "\"";
    return std::nullopt;
  }
  return v;
}

class CommandReward : public Reward {
 public:
  CommandReward(std::string name, std::string command, double timeout_s)
      : name_(std::move(name)), command_(std::move(command)), timeout_s_(timeout_s) {}
  const std::string& name() const override { return name_; }

  std::optional<double> score(const RewardInput& in) override {
    std::string out;
    if (!run(scorer_input(in) + "\n", &out)) return std::nullopt;
    return scorer_number(out, &failure_);
  }
  std::string last_failure() const override { return failure_; }

 private:
  // Runs the command with `input` on stdin; false (failure_ set) on time-out, crash or exit != 0.
  bool run(const std::string& input, std::string* out) {
    // stdin is a socket so that writing to a scorer that exits early fails with EPIPE
    // (MSG_NOSIGNAL) instead of raising SIGPIPE in the whole engine.
    int in_fd[2], out_fd[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_fd) != 0) {
      failure_ = "socketpair failed";
      return false;
    }
    if (::pipe2(out_fd, O_CLOEXEC) != 0) {
      ::close(in_fd[0]);
      ::close(in_fd[1]);
      failure_ = "pipe failed";
      return false;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::dup2(in_fd[1], 0);
      ::dup2(out_fd[1], 1);
      ::execl("/bin/sh", "sh", "-c", command_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in_fd[1]);
    ::close(out_fd[1]);
    if (pid < 0) {
      ::close(in_fd[0]);
      ::close(out_fd[0]);
      failure_ = "fork failed";
      return false;
    }
    ::setpgid(pid, pid);  // also from here, so the group exists before any kill
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s_);
    size_t sent = 0;
    int wfd = in_fd[0], rfd = out_fd[0];
    bool timed_out = false, too_much = false;
    while (rfd >= 0) {
      const double left =
          std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd fds[2];
      int n = 0;
      fds[n++] = {rfd, POLLIN, 0};
      if (wfd >= 0) fds[n++] = {wfd, POLLOUT, 0};
      if (::poll(fds, nfds_t(n), int(std::ceil(left * 1000))) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (wfd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
        const ssize_t w = ::send(wfd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
        if (w > 0) sent += size_t(w);
        if (w < 0 || sent == input.size()) {  // done, or the scorer stopped reading
          ::close(wfd);
          wfd = -1;
        }
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        const ssize_t r = ::read(rfd, buf, sizeof buf);
        if (r > 0) {
          out->append(buf, size_t(r));
          if (out->size() > 65536) {
            too_much = true;
            break;
          }
        } else if (r == 0 || errno != EINTR) {
          ::close(rfd);
          rfd = -1;
        }
      }
    }
    if (wfd >= 0) ::close(wfd);
    if (rfd >= 0) ::close(rfd);
    if (timed_out || too_much) ::kill(-pid, SIGKILL);  // the group this call started
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
      failure_ = "timed out after " + std::to_string(timeout_s_) + " s";
      return false;
    }
    if (too_much) {
      failure_ = "printed more than 64 KiB";
      return false;
    }
    if (WIFSIGNALED(status)) {
      failure_ = "killed by signal " + std::to_string(WTERMSIG(status));
      return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failure_ = "exited with status " + std::to_string(WEXITSTATUS(status));
      return false;
    }
    return true;
  }

  std::string name_, command_;
  double timeout_s_;
  std::string failure_;
};

// POSTs the scorer input as JSON to http://host[:port]/path; the body of a 200 answer is the
// number. Connection and read time-outs bound the whole call.
class HttpReward : public Reward {
 public:
  HttpReward(std::string name, const std::string& url, double timeout_s) : name_(std::move(name)) {
    static const std::regex re(R"(^http://([^/:]+)(:([0-9]{1,5}))?(/.*)?$)");
    std::smatch m;
    MMADA_CHECK(std::regex_match(url, m, re), "reward \"", name_, "\": url \"", url,
                "\" is not http://host[:port][/path] (https is not supported)");
    host_ = m[1];
    port_ = m[3].matched ? std::stoi(m[3]) : 80;
    MMADA_CHECK(port_ >= 1 && port_ <= 65535, "reward \"", name_, "\": port ", port_, " out of range");
    path_ = m[4].matched ? std::string(m[4]) : "/";
    timeout_ = std::chrono::microseconds(int64_t(timeout_s * 1e6));
  }
  const std::string& name() const override { return name_; }
  std::optional<double> score(const RewardInput& in) override {
    httplib::Client cli(host_, port_);
    cli.set_connection_timeout(timeout_);
    cli.set_read_timeout(timeout_);
    cli.set_write_timeout(timeout_);
    const httplib::Result res = cli.Post(path_, scorer_input(in), "application/json");
    if (!res) {
      failure_ = "request failed: " + httplib::to_string(res.error());
      return std::nullopt;
    }
    if (res->status != 200) {
      failure_ = "HTTP status " + std::to_string(res->status);
      return std::nullopt;
    }
    if (res->body.size() > 65536) {
      failure_ = "answered more than 64 KiB";
      return std::nullopt;
    }
    return scorer_number(res->body, &failure_);
  }
  std::string last_failure() const override { return failure_; }

 private:
  std::string name_, host_, path_, failure_;
  int port_ = 80;
  std::chrono::microseconds timeout_{0};
};

}  // namespace

std::unique_ptr<Reward> make_http_reward(const std::string& name, const std::string& url, double timeout_s) {
  MMADA_CHECK(timeout_s > 0, "reward \"", name, "\": timeout must be > 0");
  return std::make_unique<HttpReward>(name, url, timeout_s);
}

std::unique_ptr<Reward> make_correctness_reward() { return std::make_unique<CorrectnessReward>(); }
std::unique_ptr<Reward> make_format_reward() { return std::make_unique<FormatReward>(); }
std::unique_ptr<Reward> make_command_reward(const std::string& name, const std::string& command,
                                            double timeout_s) {
  MMADA_CHECK(!command.empty(), "reward \"", name, "\": empty command");
  MMADA_CHECK(timeout_s > 0, "reward \"", name, "\": timeout must be > 0");
  return std::make_unique<CommandReward>(name, command, timeout_s);
}

const char* rl_task_name(RlTask t) {
  switch (t) {
    case RlTask::Text: return "text";
    case RlTask::T2i: return "t2i";
    case RlTask::Mmu: return "mmu";
  }
  return "?";
}

namespace {
class ClassNameReward : public Reward {
 public:
  ClassNameReward(std::string name, std::vector<std::string> names) : name_(std::move(name)), names_(std::move(names)) {}
  const std::string& name() const override { return name_; }
  std::optional<double> score(const RewardInput& in) override {
    const auto it = std::find(names_.begin(), names_.end(), in.reference);
    if (it == names_.end()) {
      why_ = "reference \"" + in.reference + "\" is not one of the class names";
      return std::nullopt;
    }
    return class_named_in(in.response, names_) == it - names_.begin() ? 1.0 : 0.0;
  }
  std::string last_failure() const override { return why_; }

 private:
  std::string name_, why_;
  std::vector<std::string> names_;
};
}  // namespace

std::unique_ptr<Reward> make_class_name_reward(const std::string& name, std::vector<std::string> class_names) {
  MMADA_CHECK(!class_names.empty(), "class_name reward: no class names");
  return std::make_unique<ClassNameReward>(name, std::move(class_names));
}

void RewardSet::add(std::unique_ptr<Reward> r, double weight, RlTaskSet tasks) {
  MMADA_CHECK(r != nullptr && std::isfinite(weight) && tasks != 0 && tasks <= kAllRlTasks,
              "RewardSet::add: bad reward, weight or task set");
  rewards_.push_back({std::move(r), weight, tasks});
}

RewardScores RewardSet::score(const RewardInput& in) const {
  RewardScores s;
  s.each.assign(rewards_.size(), 0.0);
  s.applied.assign(rewards_.size(), 0);
  for (size_t i = 0; i < rewards_.size(); ++i) {
    if (!applies(i, in.task)) continue;
    const std::optional<double> v = rewards_[i].reward->score(in);
    if (!v) {
      s.ok = false;
      s.failed = rewards_[i].reward->name() + ": " + rewards_[i].reward->last_failure();
      return s;
    }
    s.each[i] = *v;
    s.applied[i] = 1;
    s.total += rewards_[i].weight * *v;
  }
  return s;
}

}  // namespace mmada::train
