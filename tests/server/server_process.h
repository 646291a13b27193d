// Test helper: runs the real `mmada serve` binary ($MMADA_CLI) on a free loopback port with
// the tiny models, waits until /health answers, and stops it at the end.
#pragma once
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

extern char** environ;

namespace mmada::test {

inline int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

class ServerProcess {
 public:
  // Empty `error` on success; otherwise why the server did not come up.
  std::string start(const std::vector<std::string>& extra_args, bool with_vq = true) {
    const std::string tiny = refdata_dir() + "/tiny";
    if (!std::filesystem::exists(tiny + "/mmada_tiny/config.json")) return "no tiny model under " + tiny;
    std::vector<std::string> args = {"-m", tiny + "/mmada_tiny", "--tokenizer", repo_root() + "/assets/llada-tokenizer",
                                     "--mmu-size", "64", "--precision", "f32"};
    if (with_vq) args.insert(args.end(), {"--vq", tiny + "/magvitv2_tiny"});
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return start_with(args);
  }
  // `mmada serve ARGS --port P` with any model.
  std::string start_with(const std::vector<std::string>& serve_args) {
    const char* cli = std::getenv("MMADA_CLI");
    if (!cli || !*cli) return "MMADA_CLI is not set (run through ctest)";
    port_ = free_port();
    std::vector<std::string> args = {cli, "serve", "--port", std::to_string(port_)};
    args.insert(args.end(), serve_args.begin(), serve_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, cli, nullptr, nullptr, argv.data(), environ) != 0) return "cannot spawn " + std::string(cli);
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 300; ++i) {  // up to 30 s to load
      if (auto r = c.Get("/health"); r && r->status == 200) return "";
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return "server exited during start-up";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "server did not answer /health within 30 s";
  }
  // True if the process is still running (it must never crash).
  bool alive() const {
    int st = 0;
    return pid_ > 0 && waitpid(pid_, &st, WNOHANG) == 0;
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &st, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (waitpid(pid_, &st, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
    }
    pid_ = -1;
  }
  ~ServerProcess() { stop(); }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

// SSE "data:" payloads of a stream body, in order.
inline std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    const std::string line = body.substr(pos, end - pos);
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
    pos = end + 1;
  }
  return out;
}

}  // namespace mmada::test
