// A small image classifier trained by our own trainer (`mmada train-classifier`), the local
// stand-in for GenEval's object detector and for CLIP/ImageReward (spec/unigrpo.md §5.3): the
// UniGRPO reward of text-to-image rollouts on class-labelled images (Fashion-MNIST).
//
// Model: a SwiGLU MLP without biases, written out plainly with train_ops.h:
//   h = silu(x·W_gateᵀ) ⊙ (x·W_upᵀ),  logits = h·W_outᵀ
// where x is the feature vector with a constant 1 appended (the bias the linear layers lack).
// Inputs ("input"):
//   pixels  the grey canvas the VQ encodes (image_size², grey in [-1, 1], the 28x28 image centred
//           on black as image_data.h builds it); generated codes are decoded by the run's VQ first
//           (mean of the three channels).
//   codes   the image's VQ codes as LFQ bits ±1 per position (per_image × bits), the
//           featurisation of CodeCentroids (eval_images.h). Only meaningful with the VQ it was
//           trained on: its fingerprint (vq_identity) is recorded and checked.
// Saved as a folder: model.safetensors (w_gate [H, F], w_up [H, F], w_out [C, H], float32) and
// classifier.json (input, sizes, class names, the VQ fingerprint, held-out accuracy).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mmada::train {

enum class ClassifierInput { Pixels, Codes };

struct ClassifierSpec {
  ClassifierInput input = ClassifierInput::Codes;
  int64_t hidden = 128;
  std::vector<std::string> class_names;
  int64_t image_size = 0;            // pixels: canvas side
  int64_t per_image = 0, codebook = 0;  // codes: positions and codebook size
  std::string vq_fingerprint;        // codes: vq_identity of the tokenizer (16 hex digits)
  double heldout_accuracy = -1;      // written by train-classifier (informational)
  int64_t heldout_count = 0;

  int64_t bits() const;        // LFQ bits per code: ceil(log2 codebook)
  int64_t features() const;    // F, including the constant 1
};

class ImageClassifier {
 public:
  ImageClassifier() = default;
  ImageClassifier(ClassifierSpec spec, uint64_t seed);  // random init (std 1/sqrt(fan-in))

  static ImageClassifier load(const std::string& dir);
  void save(const std::string& dir) const;

  const ClassifierSpec& spec() const { return spec_; }
  int64_t classes() const { return int64_t(spec_.class_names.size()); }

  // Feature rows (F floats each, the trailing 1 included).
  void features_of_codes(const int32_t* codes, float* out) const;       // [per_image] codes
  void features_of_pixels(const float* grey, float* out) const;         // [image_size²] in [-1, 1]

  // Class probabilities [n, C] of n feature rows.
  std::vector<double> probabilities(const std::vector<float>& x, int64_t n) const;

  // One optimisation pass's pieces (train-classifier): mean cross-entropy of the batch and its
  // gradients (same layout as the weights) into g_gate, g_up, g_out (overwritten).
  double loss_and_grads(const std::vector<float>& x, const std::vector<int64_t>& labels,
                        std::vector<float>& g_gate, std::vector<float>& g_up,
                        std::vector<float>& g_out) const;

  void set_heldout(double accuracy, int64_t count) {
    spec_.heldout_accuracy = accuracy;
    spec_.heldout_count = count;
  }
  std::vector<float>& w_gate() { return w_gate_; }
  std::vector<float>& w_up() { return w_up_; }
  std::vector<float>& w_out() { return w_out_; }

 private:
  ClassifierSpec spec_;
  std::vector<float> w_gate_, w_up_, w_out_;  // [H, F], [H, F], [C, H]
};

// `mmada train-classifier`: Fashion-MNIST-style IDX folder -> a classifier folder.
struct ClassifierTrainOptions {
  std::string data;          // IDX folder
  std::string vq;            // MAGVIT-v2 folder (codes input; also needed for nothing else)
  std::string cache_dir;     // codes cache (as data.images.cache_dir)
  ClassifierInput input = ClassifierInput::Codes;
  int64_t image_size = 32;
  int64_t train_limit = 0;   // first N training images (0 = all)
  int64_t test_limit = 2000; // first N t10k images for the held-out accuracy
  int64_t hidden = 128;
  int64_t steps = 2000, batch = 64;
  double lr = 1e-3, weight_decay = 0.0;
  uint64_t seed = 1;
  std::vector<std::string> class_names;  // empty = Fashion-MNIST's
  std::string output;        // folder to write
};
struct ClassifierTrainResult {
  int64_t train_count = 0, test_count = 0, test_correct = 0;
  double final_loss = 0, seconds = 0;
};
ClassifierTrainResult train_classifier(const ClassifierTrainOptions& o,
                                       void (*progress)(int64_t step, double loss) = nullptr);

}  // namespace mmada::train
