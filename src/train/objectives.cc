#include "train/objectives.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace mmada::train {

const char* task_name(Task t) {
  switch (t) {
    case Task::T2i: return "t2i";
    case Task::Lm: return "lm";
    case Task::Mmu: return "mmu";
  }
  return "?";
}

namespace {
std::vector<int64_t> with_bos(const std::vector<int64_t>& text, const RowTokens& tk) {
  std::vector<int64_t> v;
  if (text.empty() || text[0] != tk.bos) v.push_back(tk.bos);
  v.insert(v.end(), text.begin(), text.end());
  return v;
}

// Index after the last <|end_header_id|> in ids[begin, end), or `begin` if there is none.
int64_t after_last_header(const std::vector<int64_t>& ids, int64_t begin, int64_t end,
                          const RowTokens& tk) {
  for (int64_t i = end - 1; i >= begin; --i)
    if (ids[size_t(i)] == tk.end_header) return i + 1;
  return begin;
}
}  // namespace

CleanRow lm_row(const std::vector<int64_t>& text, int64_t L, const RowTokens& tk) {
  MMADA_CHECK(L >= 1, "lm_row: row length ", L);
  std::vector<int64_t> t = with_bos(text, tk);
  CleanRow r;
  r.task = Task::Lm;
  // BOS tok… EOS EOS…; cut to the first L tokens (then no final EOS).
  r.content_len = std::min<int64_t>(L, int64_t(t.size()) + 1);
  t.resize(size_t(L), tk.eos);
  r.ids = std::move(t);
  r.real.assign(size_t(L), 1);
  return r;
}

CleanRow chat_row(const std::vector<int64_t>& text, int64_t L, const RowTokens& tk) {
  CleanRow r = lm_row(text, L, tk);
  r.chat = true;
  r.prompt_len = after_last_header(r.ids, 0, L, tk);  // in the padded row (§3.3)
  return r;
}

CleanRow t2i_row(const std::vector<int64_t>& caption, const std::vector<int64_t>& image_ids,
                 int64_t T, bool drop_caption, const RowTokens& tk) {
  const int64_t N = int64_t(image_ids.size());
  // Text part: <|t2i|> BOS caption EOS, exactly T+1 positions, left-padded with [iPAD];
  // if longer, its first T tokens plus EOS.
  std::vector<int64_t> text = {tk.t2i};
  const std::vector<int64_t> cap = with_bos(drop_caption ? std::vector<int64_t>{} : caption, tk);
  text.insert(text.end(), cap.begin(), cap.end());
  text.push_back(tk.eos);
  if (int64_t(text.size()) > T + 1) {
    text.resize(size_t(T));
    text.push_back(tk.eos);
  }
  CleanRow r;
  r.task = Task::T2i;
  r.ids.assign(size_t(T + 1 - int64_t(text.size())), tk.ipad);
  r.real.assign(r.ids.size(), 0);
  r.ids.insert(r.ids.end(), text.begin(), text.end());
  r.ids.push_back(tk.soi);
  r.ids.insert(r.ids.end(), image_ids.begin(), image_ids.end());
  r.ids.push_back(tk.eoi);
  r.real.resize(size_t(T + N + 3), 1);
  r.prompt_len = T + 1;
  return r;
}

CleanRow mmu_row(const std::vector<int64_t>& image_ids, const std::vector<int64_t>& text,
                 int64_t T, const RowTokens& tk) {
  const int64_t N = int64_t(image_ids.size());
  // Text part: BOS text EOS then EOS padding, T positions; if too long, first T−1 plus EOS.
  std::vector<int64_t> t = with_bos(text, tk);
  if (int64_t(t.size()) > T - 1) t.resize(size_t(T - 1));
  t.push_back(tk.eos);
  t.resize(size_t(T), tk.eos);
  CleanRow r;
  r.task = Task::Mmu;
  r.ids = {tk.mmu, tk.soi};
  r.ids.insert(r.ids.end(), image_ids.begin(), image_ids.end());
  r.ids.push_back(tk.eoi);
  r.ids.insert(r.ids.end(), t.begin(), t.end());
  r.real.assign(r.ids.size(), 1);
  r.prompt_len = after_last_header(r.ids, N + 3, N + 3 + T, tk);
  return r;
}

NoisedRow noise_t2i(const CleanRow& row, int64_t N, double min_rate, const RowDraws& d,
                    const RowTokens& tk) {
  const int64_t L = int64_t(row.ids.size()), img0 = L - N - 1;  // first image position
  NoisedRow n;
  n.task = Task::T2i;
  n.ids = row.ids;
  n.real = row.real;
  double ratio = std::cos(M_PI * d(0) / 2);
  ratio = std::max(ratio, min_rate);
  // torch.round: half to even (the default rounding mode).
  const int64_t count = std::max<int64_t>(1, int64_t(std::nearbyint(double(N) * ratio)));
  // Uniformly without replacement: argsort of N uniform draws, the first `count`.
  std::vector<int64_t> order(static_cast<size_t>(N));
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> key(static_cast<size_t>(N));
  for (int64_t j = 0; j < N; ++j) key[size_t(j)] = d(uint64_t(2 + j));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return key[size_t(a)] < key[size_t(b)]; });
  std::vector<uint8_t> masked(size_t(N), 0);
  for (int64_t j = 0; j < std::min(count, N); ++j) masked[size_t(order[size_t(j)])] = 1;
  // Loss positions: soi, the masked image tokens, eoi (§4.1: soi and eoi carry labels).
  n.positions.push_back(img0 - 1);
  for (int64_t j = 0; j < N; ++j)
    if (masked[size_t(j)]) {
      n.positions.push_back(img0 + j);
      n.ids[size_t(img0 + j)] = tk.mask;
    }
  n.positions.push_back(L - 1);
  for (int64_t pos : n.positions) n.labels.push_back(row.ids[size_t(pos)]);
  n.p = ratio;
  return n;
}

NoisedRow noise_text(const CleanRow& row, double eps, const RowDraws& d, const RowTokens& tk) {
  const int64_t L = int64_t(row.ids.size());
  NoisedRow n;
  n.task = row.task;
  n.chat = row.chat;
  n.ids = row.ids;
  n.real = row.real;
  n.p = (1 - eps) * d(0) + eps;
  const bool restore = row.task == Task::Mmu || row.chat;
  const int64_t first = restore ? row.prompt_len : 0;
  n.answer_len = L - row.prompt_len;
  n.content_len = std::max<int64_t>(1, row.content_len);
  for (int64_t i = 0; i < L; ++i) {
    // The Bernoulli draw is made for every position (prompt included), then prompt positions
    // are restored: the same draws as the reference's mask-then-restore.
    const bool m = d(uint64_t(1 + i)) < n.p;
    if (m && i >= first) {
      n.positions.push_back(i);
      n.labels.push_back(row.ids[size_t(i)]);
      n.ids[size_t(i)] = tk.mask;
    }
  }
  return n;
}

std::vector<double> task_weights(const std::vector<NoisedRow>& rows, LmNormaliser lm_norm) {
  int64_t B[kNumTasks] = {0, 0, 0}, t2i_count = 0;
  for (const NoisedRow& r : rows) {
    B[int(r.task)]++;
    if (r.task == Task::T2i) t2i_count += int64_t(r.positions.size());
  }
  std::vector<double> w;
  for (const NoisedRow& r : rows) {
    const double L = double(r.ids.size()), Bt = double(B[int(r.task)]);
    double v = 0;
    if (r.task == Task::T2i) {
      v = 1.0 / double(t2i_count);  // token mean over the whole t2i sub-batch, no 1/t
    } else if (r.task == Task::Mmu || r.chat) {
      v = r.answer_len > 0 ? 1.0 / (Bt * r.p * double(r.answer_len)) : 0.0;
    } else if (lm_norm == LmNormaliser::RowLength) {
      v = 1.0 / (Bt * L * r.p);
    } else {
      v = 1.0 / (Bt * r.p * double(r.content_len));
    }
    w.insert(w.end(), r.positions.size(), v);
  }
  return w;
}

}  // namespace mmada::train
