// mmada describe: multimodal understanding. Image -> resize/crop (vq.md §6) -> MAGVIT-v2 codes
// -> app.py prompt with the image prefix (prompting.md §5.2 A) -> text sampler -> answer.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "io/image.h"
#include "pipeline/image_settings.h"
#include "pipeline/text_model.h"
#include "progress.h"
#include "text_flags.h"
#include "vq/preprocess.h"
#include "vq_flags.h"

namespace mmada::cli {
namespace {

struct DescribeOpts {
  TextFlags f;
  std::string vq, image, prompt = "Please describe this image in detail.", fit;
  int64_t size = 0;  // 0: the model's (image_settings.h)
  bool squash = false, stats = false;
  bool lengths_given = false;  // --gen-length, --steps or --block-length on the command line
};

int run_describe(DescribeOpts& o) {
  MMADA_CHECK(!o.image.empty(), "no image: use -i FILE");
  if (o.size != 0) check_image_size(o.size, 16);
  MMADA_CHECK(!(o.squash && !o.fit.empty()), "pass --squash or --fit, not both");
  if (!o.fit.empty()) resize_mode_from_name(o.fit);  // a bad name fails before loading
  ChatRequest req;
  req.sampler = o.f.params();
  req.think = o.f.think;
  req.messages.push_back({"user", o.prompt});
  // Read the image before loading any model, so a bad file fails fast.
  const RgbImage img = load_image(o.image);
  TextModel tm = TextModel::load(o.f.model_dir(), o.f.tokenizer_dir(), precision_from_name(o.f.precision),
                                 o.f.backend, o.f.backend_options());
  const Magvit vq = load_vq(model_vq_dir(o.vq, o.f.model_dir()), tm.model->shared_backend());
  const ImageSettings model_image = ImageSettings::for_model(tm.model->config(), vq.config().downsample_factor());
  const int64_t size = o.size != 0 ? o.size : model_image.side;
  // A model trained on fixed rows (recorded layout) answers in the rest of its row unless the
  // user chose any of the lengths.
  if (model_image.row_length > 0 && !o.lengths_given) req.fill_row = model_image.row_length;
  const ResizeMode fit = o.squash ? ResizeMode::Squash : !o.fit.empty() ? resize_mode_from_name(o.fit) : model_image.fit;
  check_image_size(size, vq.config().downsample_factor());
  tm.tokens.codebook_size = vq.config().codebook_size();
  tm.tokens.check_image_codes_fit();
  const auto t0 = std::chrono::steady_clock::now();
  const Tensor pixels = preprocess_image(img, int(size), fit);
  const Tensor codes = vq.encode(pixels);
  req.image_codes.assign(codes.ptr<int64_t>(), codes.ptr<int64_t>() + codes.numel());
  const auto t1 = std::chrono::steady_clock::now();
  ProgressBar bar("describing");
  int64_t committed = 0;
  const ChatReply r = complete_chat(tm, req, [&](const TextStep& st) {
    for (int64_t t : st.transferred) committed += t;
    bar.update(long(st.step), long(st.total_steps), long(committed), "tok");
    return true;
  });
  bar.finish();
  std::printf("%s\n", r.text.c_str());
  if (o.stats) {
    const auto t2 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "image %dx%d -> %lld codes in %.2f s; prompt %lld tokens, %lld generated, %.2f s\n",
                 img.width, img.height, (long long)codes.numel(), std::chrono::duration<double>(t1 - t0).count(),
                 (long long)r.prompt_tokens, (long long)r.answer_ids.size(),
                 std::chrono::duration<double>(t2 - t1).count());
  }
  return 0;
}

Command describe_cmd("describe", "Answer a question about an image (multimodal understanding)",
                     [](CLI::App& sub) -> RunFn {
                       auto o = std::make_shared<DescribeOpts>();
                       o->f.add(sub);
                       sub.add_option("--vq", o->vq, "MAGVIT-v2 folder (e.g. showlab/magvitv2); default: the model folder's vq/");
                       sub.add_option("-i,--image", o->image, "PNG or JPEG file");
                       sub.add_option("-p,--prompt", o->prompt, "the question")->capture_default_str();
                       sub.add_option("--size", o->size, "resolution fed to the tokenizer (multiple of 16; 0 = the model's, 512 for MMaDA)")->capture_default_str();
                       sub.add_option("--fit", o->fit, "crop (resize + centre crop), squash (resize both sides) or pad (centre on a black canvas, as mmada train); default: the model's (crop for MMaDA)");
                       sub.add_flag("--squash", o->squash, "the same as --fit squash");
                       sub.add_flag("--stats", o->stats, "print timings (stderr)");
                       const std::vector<const CLI::Option*> lengths = {
                           sub.get_option("--gen-length"), sub.get_option("--steps"), sub.get_option("--block-length")};
                       return [o, lengths] {
                         o->lengths_given = std::any_of(lengths.begin(), lengths.end(),
                                                        [](const CLI::Option* opt) { return opt->count() > 0; });
                         return run_describe(*o);
                       };
                     });

}  // namespace
}  // namespace mmada::cli
