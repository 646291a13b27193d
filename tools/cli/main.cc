// mmada: one binary, one subcommand per job (generate, chat, refcheck, bench, ...).
#include <cstdio>
#include <exception>
#include <vector>

#include "command.h"
#include "core/error.h"

namespace mmada::cli {

namespace {
struct Entry {
  const char* name;
  const char* help;
  SetupFn setup;
};
std::vector<Entry>& registry() {
  static std::vector<Entry> r;
  return r;
}
}  // namespace

Command::Command(const char* name, const char* help, SetupFn setup) {
  registry().push_back({name, help, std::move(setup)});
}

}  // namespace mmada::cli

int main(int argc, char** argv) {
  using namespace mmada::cli;
  CLI::App app{"mmada.cpp: run and train MMaDA multimodal diffusion language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mmada 0.1.0");
  std::vector<std::pair<CLI::App*, RunFn>> subs;
  for (auto& e : registry()) {
    CLI::App* sub = app.add_subcommand(e.name, e.help);
    subs.emplace_back(sub, e.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : subs)
      if (sub->parsed()) return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mmada: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
