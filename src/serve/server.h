// The HTTP server: OpenAI-compatible routes over an Engine, a bounded job queue in front of
// it, bearer-key auth, OpenAI-shaped errors, and the embedded web page.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serve/api_requests.h"
#include "serve/engine.h"

namespace mmada::serve {

struct StaticFile {
  std::string path;  // "/", "/app.js", ...
  std::string mime;
  std::string_view body;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;           // empty: no auth
  size_t queue = 16;             // jobs that may wait behind the running one
  size_t max_body = 20u << 20;   // request bytes
  int read_timeout_s = 10;       // a half-sent request is dropped after this (slow-loris)
  int threads = 32;              // connection threads
  int retry_after_s = 2;         // Retry-After on 503
  RequestLimits limits;
  std::vector<StaticFile> static_files;
};

class Server {
 public:
  Server(Engine& engine, ServerOptions opts);
  ~Server();
  // Binds and serves until stop(); false if it cannot bind.
  bool listen();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmada::serve
