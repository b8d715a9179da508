// Task arithmetic on dense deltas (see TaskArithmetic.h).
#include "engine/fusion/TaskArithmetic.h"

#include "common/Error.h"

#include <algorithm>
#include <cmath>

namespace rslora::engine::fusion {

uint64_t SplitMix64::next()
{
    uint64_t z = (m_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t moduleSeed(uint64_t seed, const std::string& module)
{
    uint64_t h = 0xcbf29ce484222325ull; // FNV-1a over the module name
    for (unsigned char c : module) {
        h ^= c;
        h *= 0x100000001b3ull;
    }
    return SplitMix64(seed ^ h).next();
}

uint64_t streamSalt(size_t adapterIndex)
{
    return SplitMix64(0xD1B54A32D192ED03ull * (uint64_t(adapterIndex) + 1)).next();
}

torch::Tensor dareKeepMask(uint64_t seed, const std::string& module, size_t adapterIndex, at::IntArrayRef shape,
                           double drop)
{
    torch::Tensor mask = torch::empty(shape, torch::kBool);
    SplitMix64 rng(moduleSeed(seed, module) ^ streamSalt(adapterIndex));
    bool* p = mask.data_ptr<bool>();
    const int64_t n = mask.numel();
    for (int64_t j = 0; j < n; ++j)
        p[j] = rng.uniform() >= drop;
    return mask;
}

int64_t keptCount(int64_t n, double density)
{
    return std::clamp<int64_t>(std::llround(density * double(n)), 1, std::max<int64_t>(n, 1));
}

torch::Tensor magnitudeMask(const torch::Tensor& t, double density)
{
    const torch::Tensor mag = t.abs();
    const int64_t n = mag.numel();
    const int64_t k = keptCount(n, density);
    if (k >= n)
        return torch::ones_like(t, torch::kBool);
    // The k-th largest magnitude is the (n − k + 1)-th smallest.
    const torch::Tensor threshold = std::get<0>(torch::kthvalue(mag.reshape({-1}), n - k + 1));
    return mag >= threshold;
}

torch::Tensor rademacherMatrix(int64_t rows, int64_t cols, uint64_t seed)
{
    torch::Tensor m = torch::empty({rows, cols}, torch::kFloat64);
    SplitMix64 rng(seed);
    double* p = m.data_ptr<double>();
    for (int64_t j = 0; j < rows * cols; ++j)
        p[j] = (rng.next() >> 63) ? 1.0 : -1.0;
    return m;
}

namespace {

// TIES's election and disjoint mean over already trimmed / dropped tensors.
torch::Tensor electAndAverage(const std::vector<torch::Tensor>& kept)
{
    torch::Tensor sum = torch::zeros_like(kept.front());
    for (const auto& t : kept)
        sum += t;
    const torch::Tensor elected = torch::where(sum >= 0, torch::ones_like(sum), -torch::ones_like(sum));
    torch::Tensor total = torch::zeros_like(sum), count = torch::zeros_like(sum);
    for (const auto& t : kept) {
        const torch::Tensor agrees = (torch::sign(t) == elected).to(t.scalar_type());
        total += t * agrees;
        count += agrees;
    }
    return total / count.clamp_min(1.0);
}

} // namespace

torch::Tensor mergeDeltas(FusionMethod method, const std::vector<torch::Tensor>& weighted,
                          const std::vector<size_t>& adapterIndices, const FusionPlan& plan, const std::string& module)
{
    if (weighted.empty() || weighted.size() != adapterIndices.size())
        throw Error("mergeDeltas: " + module + " needs one adapter index per delta");
    std::vector<torch::Tensor> kept;
    kept.reserve(weighted.size());
    for (size_t i = 0; i < weighted.size(); ++i) {
        const torch::Tensor& t = weighted[i];
        switch (method) {
        case FusionMethod::Ties:
        case FusionMethod::MagnitudePrune:
            kept.push_back(t * magnitudeMask(t, plan.density).to(t.scalar_type()));
            break;
        case FusionMethod::DareLinear:
        case FusionMethod::DareTies:
            kept.push_back(t * dareKeepMask(plan.seed, module, adapterIndices[i], t.sizes(), plan.drop).to(t.scalar_type())
                           / (1.0 - plan.drop));
            break;
        default:
            throw Error("mergeDeltas: " + fusionMethodName(method) + " does not work on dense deltas");
        }
    }
    if (method == FusionMethod::Ties || method == FusionMethod::DareTies)
        return electAndAverage(kept);
    torch::Tensor sum = torch::zeros_like(kept.front());
    for (const auto& t : kept)
        sum += t;
    return sum;
}

} // namespace rslora::engine::fusion
