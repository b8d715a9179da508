// The NF4 / FP4 tables and the midpoint encoder (see QuantType.h).
#include "models/quant/QuantType.h"

#include "common/Error.h"

namespace rslora::models::quant {
namespace {

// bitsandbytes get_4bit_type("nf4"), code order (QLoRA §3: 8 negative values incl. -1, zero, 7 positive + 1).
constexpr std::array<double, 16> kNf4 = {
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0};

// bitsandbytes get_4bit_type("fp4") before its division by the largest magnitude (12).
constexpr std::array<double, 16> kFp4Raw = {0.0,  0.0625,  8.0,  12.0,  4.0,  6.0,  2.0,  3.0,
                                            -0.0, -0.0625, -8.0, -12.0, -4.0, -6.0, -2.0, -3.0};

// FP4 magnitudes in ascending order and the 3-bit codes that hold them.
constexpr std::array<uint8_t, 8> kFp4Ascending = {0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011};

struct Tables {
    std::array<float, 16> nf4{}, fp4{};
    std::array<float, 15> nf4Pivots{};  // midpoints of neighbouring NF4 values, as float
    std::array<float, 7> fp4Pivots{};   // midpoints of neighbouring FP4 magnitudes
    Tables()
    {
        for (size_t i = 0; i < 16; ++i) {
            nf4[i] = float(kNf4[i]);
            fp4[i] = float(float(kFp4Raw[i]) / 12.0f);
        }
        // Midpoints taken in double from the double table and rounded once: the constants of
        // bitsandbytes' decision trees are these numbers.
        for (size_t i = 0; i < 15; ++i)
            nf4Pivots[i] = float((kNf4[i] + kNf4[i + 1]) / 2.0);
        for (size_t i = 0; i < 7; ++i)
            fp4Pivots[i] = float((kFp4Raw[kFp4Ascending[i]] + kFp4Raw[kFp4Ascending[i + 1]]) / 24.0);
    }
};

const Tables& tables()
{
    static const Tables t;
    return t;
}

} // namespace

std::string quantTypeName(QuantType type) { return type == QuantType::Nf4 ? "nf4" : "fp4"; }

QuantType parseQuantType(const std::string& name, const std::string& where)
{
    if (name == "nf4")
        return QuantType::Nf4;
    if (name == "fp4")
        return QuantType::Fp4;
    throw Error(where + ": unknown 4-bit type '" + name + "' (expected nf4 or fp4)");
}

const std::array<float, 16>& codeTable(QuantType type) { return type == QuantType::Nf4 ? tables().nf4 : tables().fp4; }

uint8_t encodeFourBit(float x, QuantType type)
{
    const Tables& t = tables();
    // Counting the midpoints x lies strictly above is the decision tree flattened; NaN is above
    // none, as in the tree.
    if (type == QuantType::Nf4) {
        uint8_t code = 0;
        for (float p : t.nf4Pivots)
            code += x > p ? 1 : 0;
        return code;
    }
    const uint8_t sign = x < 0.0f ? 0b1000 : 0;
    const float m = x < 0.0f ? -x : x;
    size_t rank = 0;
    for (float p : t.fp4Pivots)
        rank += m > p ? 1 : 0;
    return uint8_t(kFp4Ascending[rank] | sign);
}

bool isAllowedBlockSize(int64_t blockSize)
{
    for (int64_t b = 32; b <= 4096; b *= 2)
        if (b == blockSize)
            return true;
    return false;
}

std::string allowedBlockSizesText() { return "32, 64, 128, 256, 512, 1024, 2048 or 4096"; }

} // namespace rslora::models::quant
