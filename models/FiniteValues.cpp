// Finite-value checks on stored tensor bytes (see FiniteValues.h).
#include "models/FiniteValues.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace rslora::models {

namespace {

// Blocks without an early exit inside, so that the compiler vectorizes the inner loop; measured at
// memory speed on a mapped checkpoint already in the page cache.
template <typename Bits>
bool allFiniteBits(const uint8_t* data, uint64_t count, Bits exponentMask)
{
    constexpr uint64_t kBlock = 4096;
    for (uint64_t start = 0; start < count; start += kBlock) {
        const uint64_t end = std::min(count, start + kBlock);
        bool nonFinite = false;
        for (uint64_t i = start; i < end; ++i) {
            Bits bits;
            std::memcpy(&bits, data + i * sizeof(Bits), sizeof(Bits)); // the data may be unaligned
            nonFinite |= (bits & exponentMask) == exponentMask;
        }
        if (nonFinite)
            return false;
    }
    return true;
}

} // namespace

bool allFinite(const uint8_t* data, uint64_t count, Dtype dtype)
{
    switch (dtype) {
    case Dtype::F16:
        return allFiniteBits<uint16_t>(data, count, 0x7c00u);
    case Dtype::BF16:
        return allFiniteBits<uint16_t>(data, count, 0x7f80u);
    case Dtype::F32:
        return allFiniteBits<uint32_t>(data, count, 0x7f800000u);
    case Dtype::F64:
        return allFiniteBits<uint64_t>(data, count, 0x7ff0000000000000ull);
    default:
        return true;
    }
}

bool allFitFloat32(const uint8_t* data, uint64_t count, Dtype dtype)
{
    if (dtype != Dtype::F64)
        return true;
    constexpr uint64_t kBlock = 4096;
    for (uint64_t start = 0; start < count; start += kBlock) {
        const uint64_t end = std::min(count, start + kBlock);
        bool beyond = false;
        for (uint64_t i = start; i < end; ++i) {
            double v;
            std::memcpy(&v, data + i * sizeof(double), sizeof(double));
            beyond |= std::fabs(v) >= kFloat32Overflow;
        }
        if (beyond)
            return false;
    }
    return true;
}

std::string beyondFloat32TensorMessage(const std::string& file, const std::string& name)
{
    return file + ": tensor '" + name + "' holds F64 values beyond float32's range (magnitude above 3.4e38), which "
           "become infinite when computed in float32 or narrower";
}

std::string nonFiniteTensorMessage(const std::string& file, const std::string& name)
{
    return file + ": tensor '" + name + "' holds NaN or infinite values";
}

} // namespace rslora::models
