// The two 4-bit data types of a quantized base (NF4, FP4): their 16-entry tables exactly as
// bitsandbytes defines them, their names, and the encoder of one normalised value.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace rslora::models::quant {

enum class QuantType { Nf4, Fp4 };

// "nf4" / "fp4" (the names bitsandbytes and model.quantization use).
std::string quantTypeName(QuantType type);
// Throws rslora::Error naming `where` and the accepted names on anything else.
QuantType parseQuantType(const std::string& name, const std::string& where);

// The 16 values a code stands for, indexed by the code. NF4: QLoRA's NormalFloat (ascending with
// the code); FP4: bitsandbytes' 1-sign, 2-exponent, 1-mantissa type scaled to [-1, 1] (bit 3 is the sign).
const std::array<float, 16>& codeTable(QuantType type);

// The code of x (already divided by its block's absmax, so in [-1, 1]). Decides on the midpoints
// between neighbouring table values the way bitsandbytes' kernels do: a value on a midpoint gets the
// code of smaller magnitude (NF4: the lower value), NaN gets code 0.
uint8_t encodeFourBit(float x, QuantType type);

// Block sizes bitsandbytes accepts for 4-bit quantization.
bool isAllowedBlockSize(int64_t blockSize);
std::string allowedBlockSizesText();

} // namespace rslora::models::quant
