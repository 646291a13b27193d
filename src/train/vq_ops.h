// The MAGVIT-v2 conv path with backward passes, for training our own image tokenizer on the
// CPU (issue 11 item 2). Written like train_ops.h: llm.c style, templates over float (training)
// and double (finite-difference gradient checks, tests/train/vq_grad_check_test.cc), and a
// backward ACCUMULATES (+=) into the gradients of its inputs and parameters.
//
// Feature maps are channels-last like the engine's (src/vq): x[n, y, x, c] at
// ((n*H + y)*W + x)*C + c. Convolution weights keep the checkpoint layout [O, I, kh, kw].
#pragma once
#include <cstdint>
#include <vector>

namespace mmada::train {

struct ConvShape {
  int64_t n = 0, h = 0, w = 0;  // input batch and size
  int64_t in = 0, out = 0, k = 1, stride = 1, pad_lt = 0, pad_rb = 0;
  int64_t out_h() const { return (h + pad_lt + pad_rb - k) / stride + 1; }
  int64_t out_w() const { return (w + pad_lt + pad_rb - k) / stride + 1; }
};

// y[n, oy, ox, o] = b[o] + Σ_{i,dy,dx} W[o, i, dy, dx] · x[n, oy*s - pad_lt + dy, ox*s - pad_lt + dx, i]
// (zero outside the input), torch.nn.Conv2d with asymmetric padding (Downsample pads 0 / 1).
// im2col + train::gemm.
template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y);
// dx += ∂y/∂x ᵀ dy, dW += ..., db += Σ dy. dx may be null (the image input needs no gradient).
template <class T>
void conv2d_backward(const ConvShape& s, const T* dy, const T* x, const T* W, T* dx, T* dW,
                     T* db);

// GroupNorm over x [n, hw, c] in `groups` groups of c/groups channels (biased variance, eps),
// y = (x − mean)·rstd·gamma + beta. mean, rstd [n, groups] are saved for the backward.
// Statistics are summed in double, as the engine's group_norm does.
template <class T>
void group_norm_forward(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                        int64_t n, int64_t hw, int64_t c, int64_t groups, double eps);
// dx += rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = dy·gamma; dgamma += Σ dy·x̂; dbeta += Σ dy.
template <class T>
void group_norm_backward(const T* dy, const T* x, const T* gamma, const T* mean, const T* rstd,
                         T* dx, T* dgamma, T* dbeta, int64_t n, int64_t hw, int64_t c,
                         int64_t groups);

// y = x·sigmoid(x)   (nonlinearity of the MAGVIT blocks)
template <class T>
void swish_forward(const T* x, T* y, int64_t count);
// dx += dy·(s + x·s·(1 − s)), s = sigmoid(x)
template <class T>
void swish_backward(const T* dy, const T* x, T* dx, int64_t count);

// Nearest x2 (Upsample before its conv): [n, h, w, c] -> [n, 2h, 2w, c].
template <class T>
void upsample2x_forward(const T* x, T* y, int64_t n, int64_t h, int64_t w, int64_t c);
// dx[p] += the sum of dy over p's 2x2 block.
template <class T>
void upsample2x_backward(const T* dy, T* dx, int64_t n, int64_t h, int64_t w, int64_t c);

// Lookup-free quantiser losses (MAGVIT-v2 §3.1, as lucidrains' / Open-MAGVIT2's LFQ) on the
// pre-quantisation latent z [rows, bits] (one row per latent position of the batch):
//   q = +1 where z > 0 else −1 (the engine's code bits; the decoder sees q, and its gradient
//       passes straight through to z: that part is added by the caller).
//   commitment = mean (z − q)² with q held constant.
//   soft code distribution p(k | z) = softmax_k(−‖z − c_k‖² · inv_temperature) over the 2^bits
//       codes c_k ∈ {±1}^bits; it factorises over bits: bit b is +1 with u_b = sigmoid(4·t·z_b).
//   per-sample entropy = mean_rows H(p(·|z)) = mean_rows Σ_b h(u_b)   (exact);
//   codebook entropy   = H(mean_rows p(·|z)), enumerating all 2^bits codes (exact, no factorised
//       approximation; the caller caps bits).
//   entropy loss = per-sample entropy − gamma · codebook entropy     (nats)
// Returns the three terms; with dz != null adds
//   commitment_weight · ∂commitment/∂z + entropy_weight · ∂(entropy loss)/∂z  to dz.
struct LfqLossTerms {
  double commitment = 0, sample_entropy = 0, codebook_entropy = 0;
};
struct LfqLossWeights {
  double commitment = 0.25, entropy = 0.1, gamma = 1.0, inv_temperature = 100.0;
};
template <class T>
LfqLossTerms lfq_losses(const T* z, int64_t rows, int64_t bits, const LfqLossWeights& w, T* dz);

// Reconstruction loss between x̂ and x (count values): L2 = mean (x̂ − x)², L1 = mean |x̂ − x|.
// With dxhat != null adds weight · ∂loss/∂x̂ to it (L1 at x̂ = x: subgradient 0).
enum class ReconLoss { L2, L1 };
template <class T>
double recon_loss(const T* xhat, const T* x, int64_t count, ReconLoss kind, double weight,
                  T* dxhat);

}  // namespace mmada::train
