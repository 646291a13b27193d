// mmada serve: the OpenAI-compatible HTTP server and its web page.
#include <pthread.h>
#include <signal.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "pipeline/image_settings.h"
#include "serve/server.h"
#include "web_assets.h"
#include "command.h"

namespace mmada::cli {

std::string default_model_dir();
std::string assets_dir();

namespace {

// "20MB", "512KB", "1GB", "20M", "1048576" -> bytes.
size_t parse_byte_size(const std::string& s) {
  size_t pos = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(s, &pos);
  } catch (const std::exception&) {
    fail("not a size: '", s, "' (e.g. 20MB)");
  }
  std::string unit = s.substr(pos);
  for (char& c : unit) c = char(std::toupper(static_cast<unsigned char>(c)));
  if (unit == "" || unit == "B") return v;
  if (unit == "K" || unit == "KB" || unit == "KIB") return v << 10;
  if (unit == "M" || unit == "MB" || unit == "MIB") return v << 20;
  if (unit == "G" || unit == "GB" || unit == "GIB") return v << 30;
  fail("not a size: '", s, "' (e.g. 20MB)");
}

std::string mime_of(const std::string& name) {
  auto ends = [&](const char* e) { return name.size() >= std::strlen(e) && name.ends_with(e); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

struct ServeOpts {
  serve::EngineOptions engine;
  serve::ServerOptions server;
  std::string model, precision = "bf16", gpu_weights = "bf16", max_body = "20MB", max_image_bytes = "8MB";
};

Command serve_cmd(
    "serve", "HTTP server with an OpenAI-compatible API (/v1/chat/completions, /v1/images/generations) and a web page",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<ServeOpts>();
      auto& e = o->engine;
      auto& s = o->server;
      sub.add_option("-m,--model", o->model, "model folder; default: the embedded model");
      sub.add_option("--tokenizer", e.tokenizer_dir, "tokenizer folder if the model folder has none");
      sub.add_option("--vq", e.vq_dir, "MAGVIT-v2 folder (needed for images in chat and image generation); default: the model folder's vq/");
      sub.add_option("--precision", o->precision, "bf16 or f32")->check(CLI::IsMember({"bf16", "f32"}))->capture_default_str();
      sub.add_option("--backend", e.backend, "cpu or cuda[:N]")->capture_default_str();
      sub.add_option("--gpu-weights", o->gpu_weights, "bf16 (exact), fp8 (E4M3 layer matrices and activations, Hopper/Ada) or fp8-all (the LM head too); cuda only")->capture_default_str();
      sub.add_flag("--vq-exact", e.vq_exact, "GPU: decode images with float32 convolutions instead of TF32");
      sub.add_option("--host", s.host, "address to bind (loopback by default)")->capture_default_str();
      sub.add_option("--port", s.port, "port")->capture_default_str();
      sub.add_option("--api-key", s.api_key, "require 'Authorization: Bearer KEY' on /v1 routes (or MMADA_API_KEY)");
      sub.add_option("--queue", s.queue, "jobs that may wait for the model; more get 503")->capture_default_str();
      sub.add_option("--max-body", o->max_body, "largest request body (e.g. 20MB)")->capture_default_str();
      sub.add_option("--max-image-bytes", o->max_image_bytes, "largest attached image, encoded")->capture_default_str();
      sub.add_option("--max-tokens", s.limits.max_tokens, "per request: most tokens to generate")->capture_default_str();
      sub.add_option("--max-steps", s.limits.max_steps, "per request: most denoising steps")->capture_default_str();
      sub.add_option("--max-images", s.limits.max_images, "per request: most images (n)")->capture_default_str();
      sub.add_option("--max-image-side", s.limits.max_image_side, "largest generated image side")->capture_default_str();
      sub.add_option("--t2i-text-len", e.t2i_text_len, "text part of the text-to-image prompt (0 = the model's, 513 for MMaDA)")->capture_default_str();
      sub.add_option("--mmu-size", e.mmu_size, "attached images are fitted to this square (0 = the model's, 512 for MMaDA)")->capture_default_str();
      sub.add_option("--preview-every", e.preview_every, "image streams: a preview picture every N steps (0 = none)")->capture_default_str();
      sub.add_option("--threads", s.threads, "connection threads")->capture_default_str();
      sub.add_option("--timeout", s.read_timeout_s, "seconds before a stalled request is dropped")->capture_default_str();
      return [o] {
        auto& e = o->engine;
        auto& s = o->server;
        e.model_dir = o->model.empty() ? default_model_dir() : o->model;
        e.vq_dir = model_vq_dir(e.vq_dir, e.model_dir);
        MMADA_CHECK(e.t2i_text_len >= 0 && e.mmu_size >= 0, "--t2i-text-len and --mmu-size must be >= 0 (0 = the model's)");
        if (e.tokenizer_dir.empty()) e.tokenizer_dir = find_tokenizer_dir(e.model_dir, assets_dir() + "/llada-tokenizer");
        e.precision = precision_from_name(o->precision);
        e.backend_options.weights = gpu_weights_from_name(o->gpu_weights);
        s.max_body = parse_byte_size(o->max_body);
        s.limits.max_image_bytes = parse_byte_size(o->max_image_bytes);
        if (s.api_key.empty())
          if (const char* k = std::getenv("MMADA_API_KEY")) s.api_key = k;
        MMADA_CHECK(s.queue >= 1 && s.threads >= 1, "--queue and --threads must be >= 1");
        for (const auto& f : web::kFiles) {
          const std::string name = f.name;
          const std::string_view body(reinterpret_cast<const char*>(f.data), f.size);
          s.static_files.push_back({"/" + name, mime_of(name), body});
          if (name == "index.html") s.static_files.push_back({"/", mime_of(name), body});
        }

        // Signals: a broken client connection must not kill the process; Ctrl-C / SIGTERM stop
        // the server from a thread that waits for them (blocked everywhere else).
        signal(SIGPIPE, SIG_IGN);
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGINT);
        sigaddset(&stop_signals, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

        std::fprintf(stderr, "loading %s ...\n", e.model_dir.c_str());
        serve::Engine engine(e);
        s.limits.default_image_side = engine.image_side();
        serve::Server server(engine, s);
        std::thread stopper([&] {
          int sig = 0;
          sigwait(&stop_signals, &sig);
          server.stop();
        });
        std::fprintf(stderr, "mmada serve: listening on http://%s:%d (model %s%s)\n", s.host.c_str(), s.port,
                     engine.model_id().c_str(), s.api_key.empty() ? "" : ", API key required");
        const bool ok = server.listen();
        if (!ok) std::fprintf(stderr, "error: cannot listen on %s:%d\n", s.host.c_str(), s.port);
        pthread_kill(stopper.native_handle(), SIGTERM);  // wake the stopper if no signal came
        stopper.join();
        return ok ? 0 : 1;
      };
    });

}  // namespace
}  // namespace mmada::cli
