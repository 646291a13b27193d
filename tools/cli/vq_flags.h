// Helpers shared by the image commands (imagine, describe, vq): the --vq folder and output
// file naming.
#pragma once
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "vq/magvit.h"

namespace mmada::cli {

// Loads the MAGVIT-v2 tokenizer named by --vq, with a hint when the flag is missing, and puts
// its networks on `backend` (the transformer's, when there is one, so both share the device).
inline Magvit load_vq(const std::string& dir, const std::shared_ptr<Backend>& backend = cpu_backend(),
                      ConvMath decode_math = ConvMath::Exact) {
  MMADA_CHECK(!dir.empty(), "pass --vq DIR (a MAGVIT-v2 folder such as showlab/magvitv2)");
  std::error_code ec;
  MMADA_CHECK(std::filesystem::exists(dir, ec), "--vq ", dir, ": no such folder or file");
  Magvit vq = Magvit::load(dir);
  vq.use_backend(backend, decode_math);
  return vq;
}

// The image size must give a whole token grid.
inline void check_image_size(int64_t size, int64_t factor) {
  MMADA_CHECK(size > 0 && size % factor == 0, "--size ", size, " must be a positive multiple of ",
              factor, " (the tokenizer's down-sampling factor)");
}

// GPU decoding uses TF32 convolutions unless the user asks for exact float32 ones.
inline ConvMath decode_math(bool exact) { return exact ? ConvMath::Exact : ConvMath::Tf32; }

// out.png -> out-3.png when several images are written, and out.step05.png for previews.
inline std::string output_path(const std::string& out, int index, int count, int step = -1) {
  const std::filesystem::path p(out);
  std::string stem = (p.parent_path() / p.stem()).string();
  if (count > 1) stem += "-" + std::to_string(index);
  if (step >= 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ".step%02d", step);
    stem += buf;
  }
  return stem + (p.has_extension() ? p.extension().string() : ".png");
}

}  // namespace mmada::cli
