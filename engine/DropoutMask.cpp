// Dropout masks (see DropoutMask.h).
#include "engine/DropoutMask.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <mutex>

namespace rslora::engine {

namespace {

// splitmix64's finaliser: a well-mixed 64-bit value for each counter.
inline uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t drawSeed()
{
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get<at::CPUGeneratorImpl>()->random64();
}

template <typename T>
void fill(T* out, int64_t n, uint64_t seed, double p)
{
    // Keep an element when its 24-bit uniform value is at least p.
    const uint64_t threshold = uint64_t(p * double(1 << 24));
    const T keep = T(1.0 / (1.0 - p));
    const uint64_t base = seed * 0x9E3779B97F4A7C15ull;
    at::parallel_for(0, n, 1 << 14, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            out[i] = (mix(base + uint64_t(i)) >> 40) >= threshold ? keep : T(0);
    });
}

} // namespace

torch::Tensor dropoutMask(const torch::Tensor& like, double p)
{
    TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
    if (!like.device().is_cpu())
        return torch::empty_like(like).bernoulli_(1.0 - p).div_(1.0 - p);
    auto mask = torch::empty(like.sizes(), like.options().memory_format(c10::MemoryFormat::Contiguous));
    const uint64_t seed = drawSeed();
    switch (mask.scalar_type()) {
    case torch::kFloat32:
        fill(mask.data_ptr<float>(), mask.numel(), seed, p);
        break;
    case torch::kFloat64:
        fill(mask.data_ptr<double>(), mask.numel(), seed, p);
        break;
    default:
        return torch::empty_like(like).bernoulli_(1.0 - p).div_(1.0 - p);
    }
    return mask;
}

} // namespace rslora::engine
