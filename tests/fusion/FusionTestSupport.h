// Helpers shared by the fusion tests: the shared fixtures folder and tensor differences in float64.
#pragma once

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>

namespace rslora::fusiontest {

inline std::filesystem::path fixtures()
{
    const char* d = std::getenv("RSLORA_SHARED_DIR");
    return d ? std::filesystem::path(d) / "fixtures" : std::filesystem::path();
}

inline double maxDiff(const torch::Tensor& a, const torch::Tensor& b)
{
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

} // namespace rslora::fusiontest
