// Element-wise, normalisation and attention operators on float32 channels-last (NHWC,
// [N, H, W, C]) feature maps used by MAGVIT-v2, and the NCHW <-> NHWC transposes.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace mmada {

Tensor nchw_to_nhwc(const Tensor& x);  // [N, C, H, W] -> [N, H, W, C]
Tensor nhwc_to_nchw(const Tensor& x);  // [N, H, W, C] -> [N, C, H, W]

// GroupNorm over x NHWC (biased variance over C/groups channels x H x W per sample,
// statistics in float64) with per-channel affine gamma/beta [C], optionally followed by
// swish x*sigmoid(x).
Tensor group_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t groups,
                  float eps, bool swish);

// Nearest-neighbour x2: [N, H, W, C] -> [N, 2H, 2W, C], each pixel copied into a 2x2 block.
Tensor upsample_nearest2x(const Tensor& x);

// Single-head attention over the H*W positions (raster order) of q, k, v [N, H, W, C]:
// o_i = sum_j softmax_j(q_i . k_j * C^-0.5) v_j, returned as [N, H, W, C].
Tensor spatial_attention(const Tensor& q, const Tensor& k, const Tensor& v);

}  // namespace mmada
