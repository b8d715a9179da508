// The signed 8-bit dynamic (tree) map of bitsandbytes (create_dynamic_map(signed=True)): the
// second-level code double quantization stores the block absmax in.
#pragma once

#include <array>
#include <cstdint>

namespace rslora::models::quant {

// 256 values in ascending order: ±10^(e-6)·(mid-points of linspace(0.1, 1, 2^e + 1)) for
// e = 0..6, plus 0 and 1, computed in float32 as bitsandbytes does.
const std::array<float, 256>& dynamicMap();

// The index of the value nearest to x in [-1, 1] (a tie takes the lower value).
uint8_t encodeDynamic(float x);

} // namespace rslora::models::quant
