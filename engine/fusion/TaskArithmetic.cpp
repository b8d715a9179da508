// Task arithmetic on dense deltas (see TaskArithmetic.h).
#include "engine/fusion/TaskArithmetic.h"

#include "common/Error.h"
#include "models/AtenParallel.h"

#include <algorithm>
#include <cmath>
#include <functional>

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

// The magnitude of the keptCount-th largest entry (entries at least this large are kept).
template <typename T>
T magnitudeThreshold(const T* p, int64_t n, double density)
{
    const int64_t k = keptCount(n, density);
    std::vector<T> mags(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j)
        mags[size_t(j)] = std::abs(p[j]);
    std::nth_element(mags.begin(), mags.begin() + (k - 1), mags.end(), std::greater<T>());
    return mags[size_t(k - 1)];
}

// One pass over all entries: trim or drop each τᵢ, then sum or elect and average. The DARE streams
// advance once per entry in row-major order, as dareKeepMask draws them.
template <typename T>
torch::Tensor mergeTyped(FusionMethod method, const std::vector<torch::Tensor>& weighted,
                         const std::vector<size_t>& adapterIndices, const FusionPlan& plan, const std::string& module)
{
    const size_t count = weighted.size();
    const bool trim = method == FusionMethod::Ties || method == FusionMethod::MagnitudePrune;
    const bool dare = method == FusionMethod::DareLinear || method == FusionMethod::DareTies;
    const bool elect = method == FusionMethod::Ties || method == FusionMethod::DareTies;
    std::vector<torch::Tensor> inputs;
    std::vector<const T*> src;
    for (const auto& t : weighted) {
        inputs.push_back(t.contiguous());
        src.push_back(inputs.back().template data_ptr<T>());
    }
    const int64_t n = inputs.front().numel();
    std::vector<T> threshold(count, T(0));
    if (trim) // one adapter per thread
        at::parallel_for(0, int64_t(count), 1, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i)
                threshold[size_t(i)] = magnitudeThreshold(src[size_t(i)], n, plan.density);
        });
    std::vector<SplitMix64> rng;
    if (dare)
        for (size_t i = 0; i < count; ++i)
            rng.emplace_back(moduleSeed(plan.seed, module) ^ streamSalt(adapterIndices[i]));
    const T rescale = T(1.0 / (1.0 - plan.drop));
    torch::Tensor out = torch::empty_like(inputs.front());
    T* dst = out.template data_ptr<T>();
    // Entries are independent, except that DARE's streams are drawn in order: one range then.
    const int64_t grain = dare ? std::max<int64_t>(n, 1) : 32768;
    at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) {
        std::vector<T> v(count);
        for (int64_t j = begin; j < end; ++j) {
            T sum = 0;
            for (size_t i = 0; i < count; ++i) {
                T x = src[i][j];
                if (trim && std::abs(x) < threshold[i])
                    x = 0;
                if (dare)
                    x = rng[i].uniform() >= plan.drop ? x * rescale : T(0);
                v[i] = x;
                sum += x;
            }
            if (!elect) {
                dst[j] = sum;
                continue;
            }
            // Elected sign: that of the total mass (0 counts as +); mean over the entries that agree.
            const bool positive = sum >= 0;
            T agreeing = 0;
            int agree = 0;
            for (size_t i = 0; i < count; ++i)
                if (positive ? v[i] > 0 : v[i] < 0) {
                    agreeing += v[i];
                    ++agree;
                }
            dst[j] = agree ? agreeing / T(agree) : T(0);
        }
    });
    return out;
}

} // namespace

torch::Tensor mergeDeltas(FusionMethod method, const std::vector<torch::Tensor>& weighted,
                          const std::vector<size_t>& adapterIndices, const FusionPlan& plan, const std::string& module)
{
    if (weighted.empty() || weighted.size() != adapterIndices.size())
        throw Error("mergeDeltas: " + module + " needs one adapter index per delta");
    if (!isDenseMethod(method))
        throw Error("mergeDeltas: " + fusionMethodName(method) + " does not work on dense deltas");
    if (weighted.front().scalar_type() == torch::kFloat64)
        return mergeTyped<double>(method, weighted, adapterIndices, plan, module);
    std::vector<torch::Tensor> asFloat;
    for (const auto& t : weighted)
        asFloat.push_back(t.to(torch::kFloat32));
    return mergeTyped<float>(method, asFloat, adapterIndices, plan, module);
}

} // namespace rslora::engine::fusion
