// Launchers of the CUDA kernels (all on the given stream; activations float32 unless said).
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace mmada::cuda {

enum class TableType { F32, BF16, F16 };

void embedding(const void* table, TableType tt, int64_t d, const int64_t* ids, int64_t n,
               float* out, cudaStream_t s);
void rmsnorm(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps,
             cudaStream_t s);
// cos/sin: float32 tables (host-built, exactly the CPU's) with a row for every position;
// positions: [B*L] or null (r % L).
void rope(float* x, int64_t B, int64_t L, int64_t heads, int64_t d, const int64_t* positions,
          const float* cos, const float* sin, cudaStream_t s);
void silu_gate(const float* gu, int64_t rows, int64_t F, float* out, cudaStream_t s);
void gather_rows(const float* x, const int64_t* rows, int64_t n, int64_t d, float* out,
                 cudaStream_t s);
void f32_to_bf16(const float* x, __nv_bfloat16* y, int64_t n, cudaStream_t s);

// E4M3 with one dynamic scale for the whole tensor (fp8.cu): q[i] = e4m3(x[i] / scale) with
// scale = max|x| / 448 written to *scale (device), so x ≈ scale · q. partial: device scratch of
// kFp8AmaxParts floats. Rounds to nearest even, saturating.
constexpr int kFp8AmaxParts = 1024;
void quantize_fp8(const float* x, int64_t n, uint8_t* q, float* scale, float* partial, cudaStream_t s);
void quantize_fp8(const __nv_bfloat16* x, int64_t n, uint8_t* q, float* scale, float* partial,
                  cudaStream_t s);
// y[i] = bf16(scale · q[i]): the fallback where a GEMM's layout does not suit the FP8 kernels.
void fp8_to_bf16(const uint8_t* q, const float* scale, int64_t n, __nv_bfloat16* y, cudaStream_t s);

// Block-quantized weights (core/quant.h layouts) on the device (quant.cu). W points at the
// first row used; rows are row_bytes apart; K is a multiple of the block.
enum class QuantType { Q8_0, Q4_0, Q4_K, Q6_K };
// dst[r, :] = bf16(dequantised row r), rows [0, rows): the CPU's dequantize_bf16 bits.
void quant_to_bf16(QuantType t, const uint8_t* src, int64_t rows, int64_t K, size_t row_bytes,
                   __nv_bfloat16* dst, cudaStream_t s);
void quant_embedding(QuantType t, const uint8_t* table, int64_t K, size_t row_bytes, const int64_t* ids,
                     int64_t n, float* out, cudaStream_t s);
// y[m, n] (+)= Σ_k x[m, k]·W[n, k], float32 on the fly from the blocks: for calls with few input
// rows (kQuantSmallM or fewer), where reading the weights is the whole cost.
// scratch: quant_small_scratch(M, K, N) floats of device memory (the K splits' partial sums;
// 0 = none needed, null is fine).
constexpr int64_t kQuantSmallM = 16;
int64_t quant_small_scratch(int64_t M, int64_t K, int64_t N);
void quant_linear_small(QuantType t, const uint8_t* W, size_t row_bytes, const float* x, int64_t M,
                        int64_t K, int64_t N, float* y, int64_t ldy, bool accumulate, float* scratch,
                        cudaStream_t s);

// Attention of the queries at positions [q0, q0 + Lq) of each row (q, out: [B*Lq, heads*d])
// against all L keys (k, v: [B*L, n_kv*d]), kv head = h / (n_heads / n_kv). mask: [B*L] or null;
// mode 0 = pair (m_i && m_j), 1 = hf-causal (j <= i && m_j). Rows with no visible key attend
// uniformly to all keys. The bf16 version is a fused flash-attention kernel on tensor cores
// (q, k, v already bf16; no L x L matrix in memory); the f32 one is the exact SIMT reference.
void attention_f32(const float* q, const float* k, const float* v, float* out, int64_t B,
                   int64_t L, int64_t q0, int64_t Lq, int64_t n_heads, int64_t n_kv, int64_t d,
                   const uint8_t* mask, int mode, cudaStream_t s);
void attention_bf16(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
                    float* out, int64_t B, int64_t L, int64_t q0, int64_t Lq, int64_t n_heads,
                    int64_t n_kv, int64_t d, const uint8_t* mask, int mode, cudaStream_t s);
bool attention_bf16_supports(int64_t d);
// P[h,r,:] = bf16(softmax(scale·S[h,r,:] over visible keys)) for H heads of one sequence and
// the queries r at positions q0 + r; S float32 [H, Lq, L]; mask [L] of that sequence or null;
// same visibility rules as above.
void masked_softmax_rows(const float* S, __nv_bfloat16* P, int64_t H, int64_t L, int64_t q0,
                         int64_t Lq, const uint8_t* mask, int mode, float scale, cudaStream_t s);

// Per row of logits [R, V]: tokens[r], probs[r] as cpu/pick.h (device pointers).
void pick_tokens(const float* logits, int64_t R, int64_t V, double temperature, uint64_t seed,
                 const uint64_t* streams, bool bf16_logits, int64_t* tokens, double* probs,
                 cudaStream_t s);

// The T2I draw of R slots (cpu/t2i_draw.h); uncond, fixed, guided may be null (device pointers).
void t2i_draw(const float* cond, const float* uncond, int64_t R, int64_t C, double guidance,
              bool bf16, const int64_t* fixed, uint64_t seed, const uint64_t* streams,
              float* guided, int64_t* codes, float* probs, cudaStream_t s);

}  // namespace mmada::cuda
