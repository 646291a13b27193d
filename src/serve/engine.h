// What the server runs on its engine thread: chat completions (text and image understanding)
// and text-to-image generation over one loaded model and MAGVIT. Not thread-safe: the job
// queue calls it from one thread.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/image_settings.h"
#include "pipeline/text_model.h"
#include "serve/api_requests.h"
#include "vq/magvit.h"

namespace mmada::serve {

struct EngineOptions {
  std::string model_dir, tokenizer_dir, vq_dir;  // vq_dir empty: no image routes
  Precision precision = Precision::BF16;
  std::string backend = "cpu";  // cpu or cuda[:N]: the transformer and MAGVIT-v2
  BackendOptions backend_options;  // --gpu-weights
  bool vq_exact = false;        // GPU: float32 instead of TF32 convolutions when decoding
  int64_t t2i_text_len = 0;  // text part of the T2I row; 0: the model's (513 for MMaDA)
  int mmu_size = 0;          // attached images are fitted to this square; 0: the model's (512 for MMaDA)
  int preview_every = 2;       // T2I: a preview picture every N steps (0 = none)
};

// A request the engine refuses because of what the client sent (an undecodable image, a
// prompt longer than the model's context): the server answers 400.
struct EngineInputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ChatOutcome {
  std::string text;
  std::string finish_reason;  // "stop" (end of text reached) or "length"
  int64_t prompt_tokens = 0, completion_tokens = 0;
  bool cancelled = false;
};

struct ImageProgress {
  int64_t step = 0, total = 0;
  int64_t grid_w = 0, grid_h = 0;
  std::vector<int64_t> committed;           // [n, h*w] codes, -1 where still masked
  std::vector<std::vector<uint8_t>> previews;  // PNG per image, empty on steps without one
};

struct ImageOutcome {
  std::vector<std::vector<uint8_t>> pngs;
  bool cancelled = false;
};

class Engine {
 public:
  explicit Engine(const EngineOptions& o);
  const std::string& model_id() const { return model_id_; }
  bool has_vq() const { return vq_ != nullptr; }
  // The model's image side (image_settings.h): the default size of generated images; 0 without a VQ.
  int64_t image_side() const { return vq_ ? image_.side : 0; }

  // on_text gets the text of each newly finished block (the answer grows block by block);
  // keep_going is polled at every denoising step, false cancels.
  ChatOutcome chat(const ChatCompletionRequest& r, const std::function<void(const std::string&)>& on_text,
                   const std::function<bool()>& keep_going);
  ImageOutcome images(const ImageGenerationRequest& r,
                      const std::function<void(const ImageProgress&)>& on_progress,
                      const std::function<bool()>& keep_going);

 private:
  std::vector<int64_t> image_codes(const std::vector<uint8_t>& encoded);
  std::vector<std::vector<uint8_t>> decode_pngs(const std::vector<int64_t>& codes, int64_t n,
                                                int64_t h, int64_t w) const;
  EngineOptions o_;
  std::string model_id_;
  TextModel tm_;
  std::unique_ptr<Magvit> vq_;
  ImageSettings image_;  // the model's, with --t2i-text-len applied (--mmu-size: image_codes)
};

}  // namespace mmada::serve
