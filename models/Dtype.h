// Element types of checkpoint tensors: names as safetensors spells them, their bit sizes and their
// order (the safetensors writer lays tensors out by this order, largest alignment first).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rslora::models {

// Declared in the same order as the reference implementation's enum (increasing alignment), so
// that comparing enumerators compares alignment the way its writer does.
enum class Dtype {
    Bool,
    F4,
    F6_E2M3,
    F6_E3M2,
    U8,
    I8,
    F8_E5M2,
    F8_E4M3,
    F8_E8M0,
    F8_E4M3FNUZ,
    F8_E5M2FNUZ,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    C64,
    F64,
    I64,
    U64,
};

// Parses "F32", "BF16", ... as written in safetensors headers; nullopt for an unknown name.
std::optional<Dtype> dtypeFromName(std::string_view name);
std::string dtypeName(Dtype dtype);
// Bits per element (4 and 6 for the packed float formats).
size_t dtypeBits(Dtype dtype);
// Bytes per element; 0 for the sub-byte formats.
size_t dtypeSize(Dtype dtype);
// All known names, comma separated, for error messages.
std::string knownDtypeNames();

} // namespace rslora::models
