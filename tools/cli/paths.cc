// Defaults that the build knows: where the embedded model and the shipped assets are.
#include <cstdlib>
#include <filesystem>

#include "pipeline/text_model.h"
#include "text_flags.h"

#ifndef MMADA_DEMO_MODEL_DIR
#define MMADA_DEMO_MODEL_DIR ""
#endif
#ifndef MMADA_TINY_MODEL_DIR
#define MMADA_TINY_MODEL_DIR ""
#endif
#ifndef MMADA_ASSETS_DIR
#define MMADA_ASSETS_DIR ""
#endif

namespace mmada::cli {

// $MMADA_MODEL, else the shipped demo model (models/mmada-demo, trained by the project) when the
// source tree has it, else the random tiny model the build writes. Decided at run time, so a
// model folder added after configuring is found.
std::string default_model_dir() {
  const char* e = std::getenv("MMADA_MODEL");
  if (e && *e) return e;
  std::error_code ec;
  const std::string demo = MMADA_DEMO_MODEL_DIR;
  if (!demo.empty() && std::filesystem::is_regular_file(std::filesystem::path(demo) / "model.safetensors", ec))
    return demo;
  return MMADA_TINY_MODEL_DIR;
}

std::string assets_dir() {
  const char* e = std::getenv("MMADA_ASSETS");
  return e && *e ? e : MMADA_ASSETS_DIR;
}

std::string TextFlags::model_dir() const { return model.empty() ? default_model_dir() : model; }

std::string TextFlags::tokenizer_dir() const {
  return tokenizer.empty() ? find_tokenizer_dir(model_dir(), assets_dir() + "/llada-tokenizer") : tokenizer;
}

}  // namespace mmada::cli
