// Defaults that the build knows: where the embedded model and the shipped assets are.
#include <cstdlib>

#include "pipeline/text_model.h"
#include "text_flags.h"

#ifndef MMADA_DEFAULT_MODEL_DIR
#define MMADA_DEFAULT_MODEL_DIR ""
#endif
#ifndef MMADA_ASSETS_DIR
#define MMADA_ASSETS_DIR ""
#endif

namespace mmada::cli {

std::string default_model_dir() {
  const char* e = std::getenv("MMADA_MODEL");
  return e && *e ? e : MMADA_DEFAULT_MODEL_DIR;
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
