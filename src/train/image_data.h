// Class-labelled image data for the t2i and mmu tasks (issue 7 item 4), Fashion-MNIST style:
//   IDX files <dir>/<split>-images-idx3-ubyte[.gz] + <split>-labels-idx1-ubyte[.gz] (io/idx.h)
//   -> grey 28x28 images centred on a black 32x32 canvas (2-pixel border; MAGVIT needs sides
//      that are multiples of its down-sampling factor), grey copied to R, G and B, in [-1, 1]
//   -> MAGVIT-v2 codes, computed once and cached in a safetensors file keyed by the tokenizer's
//      content, the dataset file, the image size and the count (training.md §1.6 encodes on the
//      fly; caching is the CPU-friendly equivalent for a frozen tokenizer).
// Rows: t2i = a caption drawn from templates ("a photo of a {name}") -> the image's codes;
// mmu = the codes + a question -> the class name as the assistant's answer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "sample/rng.h"
#include "train/objectives.h"
#include "train/text_encoder.h"

namespace mmada::train {

// The ten documented Fashion-MNIST class names, label order 0..9.
const std::vector<std::string>& fashion_mnist_classes();

struct ImageSourceSpec {
  std::string path;         // folder with the IDX files
  std::string vq;           // MAGVIT-v2 folder (mmada make-vq or showlab/magvitv2)
  std::string split = "train";
  int64_t limit = 0;        // first `limit` images (0 = all)
  int64_t image_size = 32;  // canvas side fed to the tokenizer
  std::string cache_dir;    // "" = no cache
  std::vector<std::string> captions;   // t2i templates with "{name}"
  std::vector<std::string> questions;  // mmu questions
  std::vector<std::string> class_names;  // empty = Fashion-MNIST's
  // Templates of the labels first..last (inclusive), used there instead of `captions` (e.g.
  // "draw the {name}" for the digits of a Fashion-MNIST + MNIST set, docs/data.md).
  struct CaptionGroup {
    int64_t first = 0, last = 0;
    std::vector<std::string> templates;
  };
  std::vector<CaptionGroup> caption_groups;
  // Training-set augmentation, applied when the codes are made (so it is cached with them):
  // every image is tokenised `copies` times, copy 0 as it is, the others moved by a seeded
  // whole-pixel offset in [-shift, shift] on each axis and, for the labels in `flip_labels`,
  // mirrored left-right with probability 1/2. Only mmu rows (describing) see the copies; t2i
  // rows draw the originals, so generation learns the images as they are. Evaluations tokenise
  // their split without it. Why: a small model memorises 69,000 images' codes within three
  // epochs (docs/demo-model.md).
  struct Augment {
    int64_t copies = 1, shift = 0;
    std::vector<int64_t> flip_labels;  // e.g. the garments but not the shoes (all face left)
    bool any() const { return copies > 1; }
  } augment;
  // Rows draw a class uniformly, then an image of it (instead of an image uniformly), so a
  // class with fewer images (the ~900 digits a class beside 6,000 garments) is not drowned.
  bool balance_classes = false;
  // Each image code of an mmu row is replaced by [MASK] with this probability (seeded per
  // micro-step, row and position): a regulariser for describing, in the model's own masked-token
  // form, against memorising the training images' exact codes. t2i rows and evaluations see the
  // codes unmasked.
  double mmu_code_mask = 0;
};
// The caption templates of class `label`: its group's, else `captions`, else the defaults.
std::vector<std::string> caption_templates(const ImageSourceSpec& spec, int64_t label);
std::vector<std::string> default_caption_templates();
std::vector<std::string> default_questions();

struct LabelledImages {
  int64_t count = 0, height = 0, width = 0;
  std::vector<uint8_t> pixels;  // [count, height, width] grey
  std::vector<uint8_t> labels;  // [count]
  std::string images_file, labels_file;
};
// Reads <dir>/<split>-{images-idx3,labels-idx1}-ubyte[.gz]; images and labels must agree in
// count; labels must be below `num_classes`.
LabelledImages load_labelled_idx(const std::string& dir, const std::string& split, int64_t limit,
                                 int64_t num_classes);

// Images [begin, begin+n) as MAGVIT input [n, 3, size, size] in [-1, 1]: each grey image
// centred on a black canvas (size >= its sides), grey copied to all three channels.
Tensor grey_to_pixels(const LabelledImages& d, int64_t begin, int64_t n, int64_t size);
// Where one image goes on the canvas: moved right by dx and down by dy from the centre (what
// leaves the canvas is cut off), optionally mirrored left-right first.
struct Placement {
  int64_t dx = 0, dy = 0;
  bool flip = false;
};
// Copy `copy` of image i under `aug` (copy 0 and an empty augmentation: centred, unflipped).
Placement augment_placement(const ImageSourceSpec::Augment& aug, int64_t copy, int64_t i, uint8_t label);
// The same as grey_to_pixels with image begin+k placed by place[k].
Tensor grey_to_pixels(const LabelledImages& d, int64_t begin, int64_t size, const std::vector<Placement>& place);

struct ImageCodes {
  int64_t count = 0, per_image = 0, codebook = 0;
  std::vector<int32_t> codes;   // [count, per_image]; augmented copies follow the originals
  std::vector<uint8_t> labels;  // [count]
  int64_t copies = 1;           // count = copies x the split's images (the originals first)
  int64_t originals() const { return count / copies; }
  bool from_cache = false;
  std::string cache_file;       // "" without a cache
};
// Tokenises `spec`'s split (or `split_override`) once; a later call with the same tokenizer
// content, dataset file, size and count reads the cache instead of encoding. `backend` (a
// make_backend name) runs the encoder: "cuda" for the hundreds of thousands of augmented copies.
ImageCodes tokenize_images(const ImageSourceSpec& spec, const std::string& split_override = "",
                           const std::string& backend = "cpu");

// A fingerprint (FNV-1a) of a MAGVIT-v2 folder's config and checkpoint files: the cache key of
// its codes, and what a codes classifier (image_classifier.h) records to refuse another tokenizer.
uint64_t vq_identity(const std::string& path);

// "{name}" in `tmpl` replaced by `name` (every occurrence).
std::string fill_template(const std::string& tmpl, const std::string& name);
// The mmu text of a question and its answer: one user turn, then the assistant turn (the same
// chat markup as the chat data, jsonl_data.h).
std::string mmu_text(const std::string& question, const std::string& answer);
// The mmu prompt up to the assistant header (what describe generates after).
std::string mmu_prompt_text(const std::string& question);

// Draws t2i and mmu rows from tokenised images. Every draw is a function of (seed, micro-step,
// row), like the text loader, so a resumed run draws the same rows.
class ImageTaskData {
 public:
  ImageTaskData(ImageCodes codes, const ImageSourceSpec& spec, const TextEncoder& enc);
  const ImageCodes& codes() const { return codes_; }
  int64_t image_tokens() const { return codes_.per_image; }
  // Token ids of image i's codes (image_code_offset() + code).
  std::vector<int64_t> image_ids(size_t i) const;
  const std::vector<std::string>& class_names() const { return names_; }
  // The image a uniform u in [0, 1) draws: uniform over images, or with balance_classes a class
  // uniformly (among those with images), then an image of it, both from u. `originals`: only
  // the un-augmented copies.
  size_t draw_image(double u, bool originals = false) const;

  // `row` numbers the rows of the task within the micro-step.
  CleanRow t2i(const CounterRng& rng, int64_t micro_step, int64_t row, int64_t T,
               double cond_dropout_prob, const RowTokens& tk) const;
  CleanRow mmu(const CounterRng& rng, int64_t micro_step, int64_t row, int64_t T,
               const RowTokens& tk) const;
  // Longest text part (t2i: <|t2i|> BOS caption EOS; mmu: BOS text EOS) any template gives.
  int64_t longest_t2i_text() const, longest_mmu_text() const;

 private:
  ImageCodes codes_;
  std::vector<std::string> names_;
  int64_t offset_ = 0;
  double mmu_code_mask_ = 0;
  // With balance_classes: the non-empty classes' images, all copies and the originals only.
  std::vector<std::vector<uint32_t>> by_class_[2];
  std::vector<std::vector<std::vector<int64_t>>> captions_;  // [class][template]
  std::vector<std::vector<std::vector<int64_t>>> mmu_text_;  // [question][class]
};

// The class a generated answer names: the longest class name found in it (so "T-shirt/top"
// wins over "Shirt"), case-insensitive; -1 if none.
int64_t class_named_in(const std::string& answer, const std::vector<std::string>& names);
// A looser reading for tiny models that misspell: the class whose name is nearest to the
// (trimmed) answer in edit distance, case-insensitive (ties: the lower label). An answer that
// does not depend on the image still scores 1/classes on a balanced set.
int64_t nearest_class_name(const std::string& answer, const std::vector<std::string>& names);

}  // namespace mmada::train
