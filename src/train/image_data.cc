#include "train/image_data.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "backend/backend.h"
#include "core/error.h"
#include "io/idx.h"
#include "io/safetensors.h"
#include "train/jsonl_data.h"
#include "vq/magvit.h"

namespace mmada::train {

namespace fs = std::filesystem;

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

std::vector<std::string> default_caption_templates() {
  return {"a photo of a {name}", "draw a {name}", "an image of a {name}", "a picture of a {name}",
          "{name}"};
}
std::vector<std::string> default_questions() {
  return {"What is in this image?", "What is this?", "Which item is shown?"};
}

std::vector<std::string> caption_templates(const ImageSourceSpec& spec, int64_t label) {
  for (const ImageSourceSpec::CaptionGroup& g : spec.caption_groups)
    if (label >= g.first && label <= g.last) return g.templates;
  return spec.captions.empty() ? default_caption_templates() : spec.captions;
}

namespace {

// <dir>/<stem> or <dir>/<stem>.gz, whichever exists.
std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem, stem + ".gz"})
    if (fs::is_regular_file(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  fail(dir, ": no ", stem, " or ", stem, ".gz (IDX files, e.g. Debian's dataset-fashion-mnist "
       "under /usr/share/datasets/fashion-mnist)");
}

// FNV-1a, 64 bit: a content fingerprint for cache keys (not a security hash).
struct Fnv {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  }
  void add(const std::string& s) { add(s.data(), s.size() + 1); }
};

std::string hex16(uint64_t v) {
  char s[17];
  std::snprintf(s, sizeof s, "%016llx", (unsigned long long)v);
  return s;
}

}  // namespace

// The tokenizer's identity: the content of its config.json and checkpoint files, so a rewritten
// folder (another seed, other weights) misses the cache.
uint64_t vq_identity(const std::string& path) {
  Fnv f;
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path)) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".json" || ext == ".safetensors" || ext == ".bin"))
        files.push_back(e.path());
    }
  } else {
    files.push_back(path);
  }
  MMADA_CHECK(!files.empty(), path, ": no MAGVIT-v2 config or checkpoint files");
  std::sort(files.begin(), files.end());
  std::vector<char> buf(1 << 20);
  for (const fs::path& p : files) {
    f.add(p.filename().string());
    std::ifstream in(p, std::ios::binary);
    MMADA_CHECK(in.good(), p.string(), ": cannot read");
    while (in) {
      in.read(buf.data(), std::streamsize(buf.size()));
      f.add(buf.data(), size_t(in.gcount()));
    }
  }
  return f.h;
}

LabelledImages load_labelled_idx(const std::string& dir, const std::string& split, int64_t limit,
                                 int64_t num_classes) {
  LabelledImages d;
  d.images_file = find_idx(dir, split + "-images-idx3-ubyte");
  d.labels_file = find_idx(dir, split + "-labels-idx1-ubyte");
  IdxArray im = read_idx(d.images_file), lb = read_idx(d.labels_file);
  MMADA_CHECK(im.dims.size() == 3, d.images_file, ": image IDX must have 3 dimensions [n, h, w], has ",
              im.dims.size());
  MMADA_CHECK(lb.dims.size() == 1, d.labels_file, ": label IDX must have 1 dimension, has ",
              lb.dims.size());
  MMADA_CHECK(im.dims[0] == lb.dims[0], d.images_file, " holds ", im.dims[0], " images but ",
              d.labels_file, " ", lb.dims[0], " labels");
  d.count = limit > 0 ? std::min(limit, im.dims[0]) : im.dims[0];
  d.height = im.dims[1];
  d.width = im.dims[2];
  im.data.resize(size_t(d.count * d.height * d.width));
  d.pixels = std::move(im.data);
  d.labels.assign(lb.data.begin(), lb.data.begin() + d.count);
  for (int64_t i = 0; i < d.count; ++i)
    MMADA_CHECK(d.labels[size_t(i)] < num_classes, d.labels_file, ": label ", int(d.labels[size_t(i)]),
                " of item ", i, " is not below the ", num_classes, " class names");
  return d;
}

Tensor grey_to_pixels(const LabelledImages& d, int64_t begin, int64_t size, const std::vector<Placement>& place) {
  const int64_t n = int64_t(place.size());
  MMADA_CHECK(begin >= 0 && begin + n <= d.count, "images [", begin, ", ", begin + n,
              ") out of range (", d.count, ")");
  MMADA_CHECK(size >= d.height && size >= d.width, "canvas ", size, " smaller than the ", d.height,
              "x", d.width, " images");
  Tensor t = Tensor::empty(DType::F32, {n, 3, size, size});
  float* p = t.ptr<float>();
  std::fill(p, p + t.numel(), -1.0f);  // black border
  for (int64_t i = 0; i < n; ++i) {
    const Placement& pl = place[size_t(i)];
    const int64_t top = (size - d.height) / 2 + pl.dy, left = (size - d.width) / 2 + pl.dx;
    for (int64_t y = 0; y < d.height; ++y) {
      if (top + y < 0 || top + y >= size) continue;
      for (int64_t x = 0; x < d.width; ++x) {
        if (left + x < 0 || left + x >= size) continue;
        const int64_t sx = pl.flip ? d.width - 1 - x : x;
        const uint8_t g = d.pixels[size_t(((begin + i) * d.height + y) * d.width + sx)];
        const float v = float(g) / 127.5f - 1.0f;
        for (int64_t c = 0; c < 3; ++c) p[((i * 3 + c) * size + top + y) * size + left + x] = v;
      }
    }
  }
  return t;
}

Tensor grey_to_pixels(const LabelledImages& d, int64_t begin, int64_t n, int64_t size) {
  MMADA_CHECK(n >= 0, "images: negative count ", n);
  return grey_to_pixels(d, begin, size, std::vector<Placement>(size_t(n)));
}

Placement augment_placement(const ImageSourceSpec::Augment& aug, int64_t copy, int64_t i, uint8_t label) {
  Placement pl;
  if (copy == 0 || !aug.any()) return pl;
  constexpr uint64_t kAugmentStream = 0x6175670000000000ull;
  const CounterRng rng{0x5eed};
  const uint64_t s = kAugmentStream + uint64_t(copy), k = 3 * uint64_t(i);
  const int64_t span = 2 * aug.shift + 1;
  pl.dx = int64_t(std::min<double>(double(span - 1), rng.uniform(s, k) * double(span))) - aug.shift;
  pl.dy = int64_t(std::min<double>(double(span - 1), rng.uniform(s, k + 1) * double(span))) - aug.shift;
  pl.flip = std::find(aug.flip_labels.begin(), aug.flip_labels.end(), int64_t(label)) != aug.flip_labels.end() &&
            rng.uniform(s, k + 2) < 0.5;
  return pl;
}

ImageCodes tokenize_images(const ImageSourceSpec& spec, const std::string& split_override,
                           const std::string& backend) {
  const std::string split = split_override.empty() ? spec.split : split_override;
  const size_t classes = spec.class_names.empty() ? fashion_mnist_classes().size()
                                                  : spec.class_names.size();
  const LabelledImages d = load_labelled_idx(spec.path, split, spec.limit, int64_t(classes));
  // Keyed by content, not path: a copied or moved data folder (another machine, another
  // checkout) reuses the codes; other pixels, labels or tokenizer weights miss.
  Fnv pixels, labels;
  pixels.add(d.pixels.data(), d.pixels.size());
  labels.add(d.labels.data(), d.labels.size());
  const ImageSourceSpec::Augment& aug = spec.augment;
  std::string key =
      str_cat("mmada-image-codes v2|vq ", hex16(vq_identity(spec.vq)), "|images ", hex16(pixels.h), " ",
              d.count, "x", d.height, "x", d.width, "|labels ", hex16(labels.h), "|canvas ", spec.image_size,
              " centred grey->rgb");
  if (aug.any()) {
    key += str_cat("|augment copies ", aug.copies, " shift ", aug.shift, " flip");
    for (int64_t l : aug.flip_labels) key += str_cat(" ", l);
  }
  const int64_t copies = aug.any() ? aug.copies : 1, total = d.count * copies;
  ImageCodes out;
  out.count = total;
  out.copies = copies;
  for (int64_t c = 0; c < copies; ++c) out.labels.insert(out.labels.end(), d.labels.begin(), d.labels.end());
  if (!spec.cache_dir.empty()) {
    Fnv f;
    f.add(key);
    out.cache_file = (fs::path(spec.cache_dir) / ("codes-" + hex16(f.h) + ".safetensors")).string();
    if (fs::exists(out.cache_file)) {
      const auto st = SafeTensorsFile::open(out.cache_file);
      const auto it = st->metadata().find("key");
      if (it != st->metadata().end() && it->second == key && st->has("codes")) {
        const Tensor& c = st->get("codes");
        MMADA_CHECK(c.dtype == DType::I32 && c.shape.size() == 2 && c.shape[0] == total,
                    out.cache_file, ": cached codes have the wrong shape or type; delete the file");
        out.per_image = c.shape[1];
        out.codebook = std::stoll(st->metadata().at("codebook"));
        out.codes.assign(c.ptr<int32_t>(), c.ptr<int32_t>() + c.numel());
        out.from_cache = true;
        return out;
      }
    }
  }
  Magvit vq = Magvit::load(spec.vq);
  if (backend != "cpu") vq.use_backend(make_backend(backend));
  const int64_t f = vq.config().downsample_factor();
  MMADA_CHECK(spec.image_size % f == 0, "image size ", spec.image_size, " is not a multiple of the",
              " tokenizer's down-sampling factor ", f);
  out.codebook = vq.config().codebook_size();
  out.per_image = (spec.image_size / f) * (spec.image_size / f);
  out.codes.resize(size_t(total * out.per_image));
  const auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr, "tokenising %lld %s images%s with %s (%lld codes each, %s)...\n", (long long)d.count,
               split.c_str(), copies > 1 ? str_cat(" x ", copies, " augmented copies").c_str() : "",
               spec.vq.c_str(), (long long)out.per_image, backend.c_str());
  const int64_t kChunk = backend == "cpu" ? 64 : 512;  // a GPU wants larger batches
  for (int64_t c = 0; c < copies; ++c)
    for (int64_t b = 0; b < d.count; b += kChunk) {
      const int64_t n = std::min(kChunk, d.count - b);
      std::vector<Placement> place(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) place[size_t(i)] = augment_placement(aug, c, b + i, d.labels[size_t(b + i)]);
      const Tensor codes = vq.encode(grey_to_pixels(d, b, spec.image_size, place));
      const size_t at = size_t((c * d.count + b) * out.per_image);
      for (int64_t i = 0; i < n * out.per_image; ++i) out.codes[at + size_t(i)] = int32_t(codes.ptr<int64_t>()[i]);
    }
  std::fprintf(stderr, "tokenised in %.1f s\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (!out.cache_file.empty()) {
    fs::create_directories(spec.cache_dir);
    Tensor c = Tensor::empty(DType::I32, {total, out.per_image});
    std::copy(out.codes.begin(), out.codes.end(), c.ptr<int32_t>());
    write_safetensors(out.cache_file, {{"codes", c}},
                      {{"key", key}, {"codebook", std::to_string(out.codebook)}});
  }
  return out;
}

std::string fill_template(const std::string& tmpl, const std::string& name) {
  std::string s = tmpl;
  for (size_t k = s.find("{name}"); k != std::string::npos; k = s.find("{name}", k + name.size()))
    s.replace(k, 6, name);
  return s;
}

std::string mmu_prompt_text(const std::string& question) {
  return render_chat_turns({{"user", question}}) + "<|start_header_id|>assistant<|end_header_id|>\n";
}
std::string mmu_text(const std::string& question, const std::string& answer) {
  return render_chat_turns({{"user", question}, {"assistant", answer}});
}

namespace {
// Streams of the image-row draws, apart from the text loader's and the noise streams.
constexpr uint64_t kT2iDrawStream = 0x7432690000000000ull, kMmuDrawStream = 0x6d6d750000000000ull,
                   kMmuCodeMaskStream = 0x6d6d756d00000000ull;
size_t pick(double u, size_t n) { return std::min(n - 1, size_t(u * double(n))); }
}  // namespace

ImageTaskData::ImageTaskData(ImageCodes codes, const ImageSourceSpec& spec, const TextEncoder& enc)
    : codes_(std::move(codes)),
      names_(spec.class_names.empty() ? fashion_mnist_classes() : spec.class_names),
      offset_(enc.image_code_offset()),
      mmu_code_mask_(spec.mmu_code_mask) {
  MMADA_CHECK(codes_.count > 0, spec.path, ": no images");
  const std::vector<std::string> qs = spec.questions.empty() ? default_questions() : spec.questions;
  for (const ImageSourceSpec::CaptionGroup& g : spec.caption_groups)
    MMADA_CHECK(g.last < int64_t(names_.size()), spec.path, ": caption group for labels ", g.first, "..", g.last,
                " but there are ", names_.size(), " class names");
  for (size_t k = 0; k < names_.size(); ++k) {
    captions_.emplace_back();
    for (const std::string& t : caption_templates(spec, int64_t(k)))
      captions_.back().push_back(enc.encode(fill_template(t, names_[k])));
  }
  for (const std::string& q : qs) {
    mmu_text_.emplace_back();
    for (const std::string& n : names_) mmu_text_.back().push_back(enc.encode(mmu_text(q, n)));
  }
  if (spec.balance_classes) {
    for (int orig = 0; orig < 2; ++orig) {
      std::vector<std::vector<uint32_t>> all(names_.size());
      const size_t n = size_t(orig ? codes_.originals() : codes_.count);
      for (size_t i = 0; i < n; ++i) all[codes_.labels[i]].push_back(uint32_t(i));
      for (std::vector<uint32_t>& c : all)
        if (!c.empty()) by_class_[orig].push_back(std::move(c));
    }
  }
}

size_t ImageTaskData::draw_image(double u, bool originals) const {
  const std::vector<std::vector<uint32_t>>& by_class = by_class_[originals];
  if (by_class.empty()) return pick(u, size_t(originals ? codes_.originals() : codes_.count));
  // One uniform for both draws: its integer part over the classes picks the class, the
  // fraction left the image (53 random bits leave plenty for both).
  const double scaled = u * double(by_class.size());
  const size_t c = std::min(by_class.size() - 1, size_t(scaled));
  const std::vector<uint32_t>& imgs = by_class[c];
  return imgs[pick(scaled - double(c), imgs.size())];
}

std::vector<int64_t> ImageTaskData::image_ids(size_t i) const {
  std::vector<int64_t> ids(static_cast<size_t>(codes_.per_image));
  for (int64_t j = 0; j < codes_.per_image; ++j)
    ids[size_t(j)] = offset_ + codes_.codes[i * size_t(codes_.per_image) + size_t(j)];
  return ids;
}


CleanRow ImageTaskData::t2i(const CounterRng& rng, int64_t ms, int64_t row, int64_t T,
                            double cond_dropout_prob, const RowTokens& tk) const {
  const uint64_t s = kT2iDrawStream + uint64_t(ms);
  const size_t img = draw_image(rng.uniform(s, 3 * uint64_t(row)), /*originals=*/true);
  const std::vector<std::vector<int64_t>>& caps = captions_[codes_.labels[img]];
  const size_t tmpl = pick(rng.uniform(s, 3 * uint64_t(row) + 1), caps.size());
  const bool drop = rng.uniform(s, 3 * uint64_t(row) + 2) < cond_dropout_prob;
  return t2i_row(caps[tmpl], image_ids(img), T, drop, tk);
}

CleanRow ImageTaskData::mmu(const CounterRng& rng, int64_t ms, int64_t row, int64_t T,
                            const RowTokens& tk) const {
  const uint64_t s = kMmuDrawStream + uint64_t(ms);
  const size_t img = draw_image(rng.uniform(s, 2 * uint64_t(row)));
  const size_t q = pick(rng.uniform(s, 2 * uint64_t(row) + 1), mmu_text_.size());
  std::vector<int64_t> ids = image_ids(img);
  if (mmu_code_mask_ > 0) {
    const uint64_t m = kMmuCodeMaskStream + uint64_t(ms), base = uint64_t(row) * ids.size();
    for (size_t i = 0; i < ids.size(); ++i)
      if (rng.uniform(m, base + i) < mmu_code_mask_) ids[i] = tk.mask;
  }
  return mmu_row(ids, mmu_text_[q][codes_.labels[img]], T, tk);
}

int64_t ImageTaskData::longest_t2i_text() const {
  size_t m = 0;
  for (const auto& per_class : captions_)
    for (const auto& c : per_class) m = std::max(m, c.size() + 3);  // <|t2i|> BOS … EOS
  return int64_t(m);
}
int64_t ImageTaskData::longest_mmu_text() const {
  size_t m = 0;
  for (const auto& q : mmu_text_)
    for (const auto& c : q) m = std::max(m, c.size() + 2);  // BOS … EOS
  return int64_t(m);
}

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

int64_t nearest_class_name(const std::string& answer, const std::vector<std::string>& names) {
  size_t b = 0, e = answer.size();
  while (b < e && std::isspace(static_cast<unsigned char>(answer[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(answer[e - 1]))) --e;
  const std::string a = lower(answer.substr(b, e - b));
  int64_t best = -1;
  size_t best_d = 0;
  for (size_t k = 0; k < names.size(); ++k) {
    const std::string n = lower(names[k]);
    std::vector<size_t> row(n.size() + 1);
    for (size_t j = 0; j <= n.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= n.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == n[j - 1] ? 0 : 1)});
        diag = up;
      }
    }
    if (best < 0 || row[n.size()] < best_d) best = int64_t(k), best_d = row[n.size()];
  }
  return best;
}

int64_t class_named_in(const std::string& answer, const std::vector<std::string>& names) {
  const std::string a = lower(answer);
  int64_t best = -1;
  for (size_t k = 0; k < names.size(); ++k)
    if (a.find(lower(names[k])) != std::string::npos &&
        (best < 0 || names[k].size() > names[size_t(best)].size()))
      best = int64_t(k);
  return best;
}

}  // namespace mmada::train
