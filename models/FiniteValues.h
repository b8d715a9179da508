// Whether stored tensors hold only finite numbers, decided on their bytes as safetensors stores them
// (little-endian IEEE): an element is NaN or infinite exactly when its exponent bits are all set. No
// copy and no allocation, so a memory-mapped checkpoint of many GB is checked as it is read.
#pragma once

#include "models/Dtype.h"

#include <cstdint>
#include <string>

namespace rslora::models {

// True when none of the `count` elements at `data` (unaligned is fine) is NaN or infinite. F16, BF16,
// F32 and F64 are checked; other element types (integers, packed 4-bit, 8-bit floats) count as finite.
bool allFinite(const uint8_t* data, uint64_t count, Dtype dtype);

// "<file>: tensor '<name>' holds NaN or infinite values", the message of every reader that refuses one.
std::string nonFiniteTensorMessage(const std::string& file, const std::string& name);

// True when every element keeps a finite value in float32, the widest type weights and adapters are
// computed in: only F64 can hold more (a finite 1e39 that becomes inf as float32, and then NaN
// outputs); other element types count as fitting. NaN elements are allFinite's to find.
bool allFitFloat32(const uint8_t* data, uint64_t count, Dtype dtype);

// The magnitude from which an F64 value rounds to infinity in float32 (FLT_MAX plus half its last unit).
inline constexpr double kFloat32Overflow = 0x1.ffffffp+127;

// "<file>: tensor '<name>' holds values beyond float32's range ...", for the readers that refuse one.
std::string beyondFloat32TensorMessage(const std::string& file, const std::string& name);

} // namespace rslora::models
