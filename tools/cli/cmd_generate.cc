// mmada generate / mmada chat: text generation with the block diffusion sampler.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "pipeline/text_model.h"
#include "progress.h"
#include "text_flags.h"

namespace mmada::cli {
namespace {

// Step callback: progress bar, and with --show-steps the canvas after every step.
TextStepCallback make_step_printer(const TextModel& tm, int64_t prompt_len, bool show_steps,
                                   ProgressBar* bar, int64_t* committed) {
  return [&tm, prompt_len, show_steps, bar, committed](const TextStep& st) {
    for (int64_t t : st.transferred) *committed += t;
    bar->update(long(st.step), long(st.total_steps), long(*committed), "tok");
    if (show_steps) {
      const auto& ids = *st.canvas;
      std::fprintf(stderr, "\n--- step %lld/%lld (block %lld)\n%s\n", (long long)st.step,
                   (long long)st.total_steps, (long long)st.block,
                   render_canvas(*tm.tokenizer, ids, prompt_len, int64_t(ids.size()),
                                 tm.model->config().mask_token_id, "\u2591").c_str());
    }
    return true;
  };
}

struct GenerateOpts {
  TextFlags f;
  std::string prompt, prompt_file, system;
  bool show_steps = false, stats = false;
};

Command generate_cmd(
    "generate", "Generate text for one prompt (chat template applied)", [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<GenerateOpts>();
      o->f.add(sub);
      sub.add_option("-p,--prompt", o->prompt, "the user message");
      sub.add_option("-f,--file", o->prompt_file, "read the user message from a file");
      sub.add_option("--system", o->system, "an optional system message");
      sub.add_flag("--show-steps", o->show_steps, "print the canvas after every denoising step (stderr)");
      sub.add_flag("--stats", o->stats, "print timing and token counts (stderr)");
      return [o] {
        if (!o->prompt_file.empty()) {
          std::ifstream in(o->prompt_file);
          MMADA_CHECK(in.good(), o->prompt_file, ": cannot read prompt file");
          std::stringstream ss;
          ss << in.rdbuf();
          o->prompt = ss.str();
        }
        MMADA_CHECK(!o->prompt.empty(), "no prompt: use -p TEXT or -f FILE");
        ChatRequest req;
        req.sampler = o->f.params();
        req.think = o->f.think;
        if (!o->system.empty()) req.messages.push_back({"system", o->system});
        req.messages.push_back({"user", o->prompt});
        const TextModel tm = TextModel::load(o->f.model_dir(), o->f.tokenizer_dir(),
                                             precision_from_name(o->f.precision), o->f.backend,
                                             o->f.backend_options());
        ProgressBar bar("generating");
        int64_t committed = 0;
        const auto t0 = std::chrono::steady_clock::now();
        // The prompt length is known only inside complete_chat; the canvas printer shows the
        // answer part, located from the end of the canvas.
        TextStepCallback cb = [&](const TextStep& st) {
          const int64_t prompt_len = int64_t(st.canvas->size()) - req.sampler.gen_length;
          return make_step_printer(tm, prompt_len, o->show_steps, &bar, &committed)(st);
        };
        const ChatReply r = complete_chat(tm, req, cb);
        bar.finish();
        std::printf("%s\n", r.text.c_str());
        if (o->stats) {
          const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::fprintf(stderr, "prompt %lld tokens, generated %lld, %lld network calls, %lld steps skipped by early stop, %.2f s\n",
                       (long long)r.prompt_tokens, (long long)r.answer_ids.size(),
                       (long long)r.stats.network_calls, (long long)r.stats.steps_skipped, s);
        }
        return 0;
      };
    });

Command chat_cmd(
    "chat", "Interactive multi-turn chat in the terminal (/reset, /quit, Ctrl-D)",
    [](CLI::App& sub) -> RunFn {
      auto o = std::make_shared<GenerateOpts>();
      o->f.add(sub);
      sub.add_option("--system", o->system, "an optional system message");
      return [o] {
        const TextSamplerParams params = o->f.params();
        const TextModel tm = TextModel::load(o->f.model_dir(), o->f.tokenizer_dir(),
                                             precision_from_name(o->f.precision), o->f.backend,
                                             o->f.backend_options());
        const bool tty = isatty(STDIN_FILENO);
        std::vector<ChatMessage> history;
        if (!o->system.empty()) history.push_back({"system", o->system});
        if (tty) std::fprintf(stderr, "mmada chat: type a message; /reset clears the history, /quit or Ctrl-D leaves.\n");
        std::string line;
        for (;;) {
          if (tty) std::fprintf(stderr, "> "), std::fflush(stderr);
          if (!std::getline(std::cin, line)) break;
          if (line == "/quit" || line == "/exit") break;
          if (line == "/reset") {
            history.erase(history.begin() + (o->system.empty() ? 0 : 1), history.end());
            std::fprintf(stderr, "(history cleared)\n");
            continue;
          }
          if (line.empty()) continue;
          history.push_back({"user", line});
          ChatRequest req;
          req.messages = history;
          req.sampler = params;
          req.think = o->f.think;
          ProgressBar bar("thinking", tty && isatty(STDERR_FILENO));
          int64_t committed = 0;
          try {
            const ChatReply r = complete_chat(tm, req, make_step_printer(tm, 0, false, &bar, &committed));
            bar.finish();
            std::printf("%s\n", r.text.c_str());
            std::fflush(stdout);
            history.push_back({"assistant", r.text});
          } catch (const Error& e) {  // e.g. the history grew past the context: say so, go on
            bar.finish();
            history.pop_back();
            std::fprintf(stderr, "error: %s (try /reset)\n", e.what());
          }
        }
        return 0;
      };
    });

}  // namespace
}  // namespace mmada::cli
