#include "serve/server.h"

#include <httplib.h>

#include <chrono>
#include <ctime>

#include "core/error.h"
#include "serve/api_error.h"
#include "serve/auth.h"
#include "serve/base64.h"
#include "serve/job_channel.h"
#include "serve/job_queue.h"
#include "serve/openai_format.h"
#include "serve/peer_watch.h"

using nlohmann::json;
using namespace std::chrono_literals;

namespace mmada::serve {
namespace {

int64_t now_s() { return int64_t(std::time(nullptr)); }

void reply_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e).dump(), "application/json");
}

// The one error wrapper: client faults (ApiError) keep their status, anything else is a 500.
template <typename F>
void guarded(httplib::Response& res, F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    reply_error(res, e);
  } catch (const std::exception& e) {
    reply_error(res, ApiError(500, "server_error", std::string("internal error: ") + e.what()));
  }
}

// Engine-thread wrapper: input the engine refuses -> 400, anything else -> 500; always closes.
template <typename F>
void run_job(JobChannel& ch, F&& f) {
  try {
    if (!ch.cancelled()) f();
  } catch (const EngineInputError& e) {
    ch.send({400, error_body(e.what(), "invalid_request_error").dump()});
  } catch (const std::exception& e) {
    ch.send({500, error_body(std::string("internal error: ") + e.what(), "server_error").dump()});
  }
  ch.close();
}

}  // namespace

struct Server::Impl {
  Engine& engine;
  ServerOptions o;
  JobQueue queue;
  httplib::Server http;
  const int64_t started = now_s();

  Impl(Engine& e, ServerOptions opts) : engine(e), o(std::move(opts)), queue(o.queue) { routes(); }

  void require_auth(const httplib::Request& req) const {
    if (!bearer_authorized(req.get_header_value("Authorization"), o.api_key))
      throw ApiError(401, "authentication_error", "missing or invalid API key (Authorization: Bearer KEY)", "",
                     "invalid_api_key");
  }

  void enqueue(std::function<void()> job, httplib::Response& res) {
    if (!queue.try_push(std::move(job))) {
      res.set_header("Retry-After", std::to_string(o.retry_after_s));
      throw ApiError(503, "server_error", "the server is busy: the job queue is full, retry later", "",
                     "queue_full");
    }
  }

  // Waits for the job's first message (while watching for the client leaving), then answers
  // with it, or streams it and everything after it as SSE.
  void respond(const httplib::Request& req, httplib::Response& res, std::shared_ptr<JobChannel> ch, bool stream) {
    auto watch = std::make_shared<PeerWatch>(req.remote_addr, req.remote_port, o.port);
    JobMessage first;
    for (;;) {
      const auto p = ch->next(&first, 100ms);
      if (p == JobChannel::Poll::Message) break;
      if (p == JobChannel::Poll::Closed || watch->peer_closed()) {
        ch->cancel();
        res.status = 499;  // client closed request; nobody reads it
        return;
      }
    }
    if (first.status != 200 || !stream) {
      res.status = first.status;
      res.set_content(first.body, "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    auto pending = std::make_shared<std::string>(std::move(first.body));
    res.set_chunked_content_provider(
        "text/event-stream",
        [ch, watch, pending](size_t, httplib::DataSink& sink) {
          if (!pending->empty()) {
            const bool ok = sink.write(pending->data(), pending->size());
            pending->clear();
            if (!ok) ch->cancel();
            return ok;
          }
          JobMessage m;
          switch (ch->next(&m, 200ms)) {
            case JobChannel::Poll::Message: {
              // An error after the stream began: an error event in place of more chunks.
              const std::string s = m.status == 200 ? m.body : "data: " + m.body + "\n\n";
              if (sink.write(s.data(), s.size())) return true;
              ch->cancel();
              return false;
            }
            case JobChannel::Poll::Closed:
              sink.done();
              return true;
            case JobChannel::Poll::Timeout:
              if (!watch->peer_closed()) return true;
              ch->cancel();
              return false;
          }
          return false;
        },
        [ch](bool success) {
          if (!success) ch->cancel();
        });
  }

  void chat_completions(const httplib::Request& req, httplib::Response& res) {
    require_auth(req);
    auto r = std::make_shared<ChatCompletionRequest>(parse_chat_request(req.body, o.limits));
    auto ch = std::make_shared<JobChannel>();
    const ReplyMeta meta{new_id("chatcmpl-"), now_s(), engine.model_id()};
    enqueue([this, r, ch, meta] {
      run_job(*ch, [&] {
        bool first = true;
        auto keep_going = [&] {
          if (first && r->stream) ch->send({200, sse(chat_chunk(meta, {{"role", "assistant"}, {"content", ""}}))});
          first = false;
          return !ch->cancelled();
        };
        auto on_text = [&](const std::string& t) {
          if (r->stream) ch->send({200, sse(chat_chunk(meta, {{"content", t}}))});
        };
        const ChatOutcome out = engine.chat(*r, on_text, keep_going);
        if (out.cancelled) return;
        if (r->stream) {
          ch->send({200, sse(chat_chunk(meta, json::object(), out.finish_reason)) + sse_done()});
        } else {
          ch->send({200, chat_completion(meta, out.text, out.finish_reason, out.prompt_tokens,
                                         out.completion_tokens).dump(-1, ' ', false, json::error_handler_t::replace)});
        }
      });
    }, res);
    respond(req, res, ch, r->stream);
  }

  void image_generations(const httplib::Request& req, httplib::Response& res) {
    require_auth(req);
    auto r = std::make_shared<ImageGenerationRequest>(parse_image_request(req.body, o.limits));
    auto ch = std::make_shared<JobChannel>();
    const int64_t created = now_s();
    enqueue([this, r, ch, created] {
      run_job(*ch, [&] {
        const std::string size = std::to_string(r->width) + "x" + std::to_string(r->height);
        int64_t partial_index = 0;
        auto on_progress = [&](const ImageProgress& p) {
          if (!r->stream) return;
          std::string events;
          const int64_t per = p.grid_w * p.grid_h;
          for (int64_t i = 0; i < r->n; ++i) {
            json e = {{"created_at", created}, {"size", size}, {"output_format", "png"}, {"image_index", i},
                      {"step", p.step}, {"total_steps", p.total},
                      {"grid", {{"width", p.grid_w}, {"height", p.grid_h},
                                {"codes", std::vector<int64_t>(p.committed.begin() + i * per,
                                                               p.committed.begin() + (i + 1) * per)}}}};
            if (!p.previews.empty()) {
              e["type"] = "image_generation.partial_image";
              e["b64_json"] = base64_encode(p.previews[size_t(i)]);
              e["partial_image_index"] = partial_index;
            } else {
              e["type"] = "image_generation.progress";
            }
            events += sse(e, e["type"]);
          }
          if (!p.previews.empty()) ++partial_index;
          ch->send({200, events});
        };
        auto keep_going = [&] { return !ch->cancelled(); };
        const ImageOutcome out = engine.images(*r, on_progress, keep_going);
        if (out.cancelled) return;
        std::vector<std::string> b64;
        for (const auto& png : out.pngs) b64.push_back(base64_encode(png));
        if (r->stream) {
          std::string events;
          for (size_t i = 0; i < b64.size(); ++i)
            events += sse({{"type", "image_generation.completed"}, {"b64_json", b64[i]}, {"image_index", i},
                           {"created_at", created}, {"size", size}, {"output_format", "png"},
                           {"usage", {{"input_tokens", 0}, {"output_tokens", 0}, {"total_tokens", 0}}}},
                          "image_generation.completed");
          ch->send({200, events});
        } else {
          ch->send({200, images_reply(created, b64).dump()});
        }
      });
    }, res);
    // A stream must not start before the first progress event: send headers only with it.
    respond(req, res, ch, r->stream);
  }

  void routes() {
    http.new_task_queue = [n = o.threads] { return new httplib::ThreadPool(size_t(n)); };
    http.set_payload_max_length(o.max_body);
    http.set_read_timeout(o.read_timeout_s, 0);
    http.set_write_timeout(o.read_timeout_s, 0);
    http.set_keep_alive_timeout(5);
    http.set_tcp_nodelay(true);  // small SSE chunks and JSON replies go out at once (no Nagle delay)

    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(json{{"status", "ok"}, {"queue", queue.waiting()}, {"busy", queue.busy()}}.dump(),
                      "application/json");
    });
    http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        require_auth(req);
        res.set_content(model_list(engine.model_id(), started, engine.image_side()).dump(), "application/json");
      });
    });
    http.Get(R"(/v1/models/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        require_auth(req);
        if (req.matches[1] != engine.model_id())
          throw ApiError(404, "invalid_request_error", "The model '" + std::string(req.matches[1]) + "' does not exist",
                         "model", "model_not_found");
        res.set_content(model_list(engine.model_id(), started, engine.image_side())["data"][0].dump(), "application/json");
      });
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { chat_completions(req, res); });
    });
    http.Post("/v1/images/generations", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { image_generations(req, res); });
    });
    for (const StaticFile& f : o.static_files) {
      http.Get(f.path, [f](const httplib::Request&, httplib::Response& res) {
        res.set_content(f.body.data(), f.body.size(), f.mime.c_str());
      });
    }
    // Statuses httplib sets itself (404 no route, 413 body too big, 400 bad request line, ...)
    // get an OpenAI-shaped body.
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string msg = "HTTP error " + std::to_string(res.status), code;
      if (res.status == 404) {
        msg = "Unknown request URL: " + req.method + " " + req.path;
        code = "unknown_url";
      } else if (res.status == 400) {
        msg = "malformed HTTP request";
      } else if (res.status == 413) {
        msg = "the request body is larger than the server's --max-body";
        code = "request_too_large";
      }
      res.set_content(error_body(msg, res.status >= 500 ? "server_error" : "invalid_request_error", "", code).dump(),
                      "application/json");
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      reply_error(res, ApiError(500, "server_error", "internal error"));
    });
  }
};

Server::Server(Engine& engine, ServerOptions opts) : impl_(std::make_unique<Impl>(engine, std::move(opts))) {}
Server::~Server() = default;

bool Server::listen() { return impl_->http.listen(impl_->o.host, impl_->o.port); }
void Server::stop() { impl_->http.stop(); }

}  // namespace mmada::serve
