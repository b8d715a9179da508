// The low-rank products of a mixed batch on the CPU, each row read from its own adapter's factors in
// place (nothing gathered or stacked), as the gather kernels of multi-LoRA servers do:
//   y[b, t] += c_b · B_b (A_b x[b, t])
// A changed batch composition costs no copy, and a step reads every row's factors once.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace rslora::engine {

// One row's factors: A [r, in] and B [out, r], float32, contiguous, on the CPU; c = w · s. An
// undefined A: the row adds nothing.
struct RowFactors {
    torch::Tensor a, b;
    float coef = 0.0f;
};

// Whether a factor can be read in place by addRowLowRank (CPU, float32, contiguous).
bool rowLowRankReads(const torch::Tensor& factor);

// Adds every row's product to y. x [B, T, in] and y [B, T, out]: float32, contiguous, CPU;
// rows.size() == B. Rows run in parallel on LibTorch's intra-op threads.
void addRowLowRank(const torch::Tensor& x, torch::Tensor& y, const std::vector<RowFactors>& rows);

} // namespace rslora::engine
