// Dropout masks (see DropoutMask.h).
#include "engine/DropoutMask.h"

#include "models/AtenParallel.h"
#include "models/PrecisionPolicy.h"

#include <ATen/CPUGeneratorImpl.h>

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

template <typename T>
void fill(T* out, int64_t n, uint64_t seed, double p)
{
    // Keep an element when its 16-bit uniform value is at least p (p in steps of 1/65536); one
    // hash gives four elements' values.
    const uint64_t threshold = uint64_t(p * 65536.0 + 0.5);
    const T keep = T(1.0 / (1.0 - p));
    const uint64_t base = seed * 0x9E3779B97F4A7C15ull;
    const int64_t groups = (n + 3) / 4;
    at::parallel_for(0, groups, 1 << 12, [&](int64_t begin, int64_t end) {
        for (int64_t g = begin; g < end; ++g) {
            const uint64_t h = mix(base + uint64_t(g));
            const int64_t i0 = 4 * g;
            for (int k = 0; k < 4 && i0 + k < n; ++k)
                out[i0 + k] = ((h >> (16 * k)) & 0xFFFF) >= threshold ? keep : T(0);
        }
    });
}

} // namespace

uint64_t drawDropoutSeed()
{
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get<at::CPUGeneratorImpl>()->random64();
}

torch::Tensor dropoutMask(const torch::Tensor& like, double p)
{
    if (!like.device().is_cpu() || !models::PrecisionPolicy::seededDropoutTakes(like.scalar_type()))
        return torch::empty_like(like).bernoulli_(1.0 - p).div_(1.0 - p);
    return dropoutMask(like, p, drawDropoutSeed());
}

torch::Tensor dropoutMask(const torch::Tensor& like, double p, uint64_t seed)
{
    TORCH_CHECK(p >= 0.0 && p < 1.0, "dropout probability must be in [0, 1), got ", p);
    TORCH_CHECK(like.device().is_cpu(), "seeded dropout masks are made on the CPU");
    auto mask = torch::empty(like.sizes(), like.options().memory_format(c10::MemoryFormat::Contiguous));
    switch (mask.scalar_type()) {
    case torch::kFloat32:
        fill(mask.data_ptr<float>(), mask.numel(), seed, p);
        break;
    case torch::kFloat64:
        fill(mask.data_ptr<double>(), mask.numel(), seed, p);
        break;
    case torch::kBFloat16:
        fill(mask.data_ptr<c10::BFloat16>(), mask.numel(), seed, p);
        break;
    case torch::kFloat16:
        fill(mask.data_ptr<c10::Half>(), mask.numel(), seed, p);
        break;
    default:
        TORCH_CHECK(false, "dropout masks are made in float32, float64, bfloat16 or float16, not ", mask.scalar_type());
    }
    return mask;
}

} // namespace rslora::engine
