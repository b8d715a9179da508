// Table of safetensors element types: the one place their names and sizes are spelled.
#include "models/Dtype.h"

namespace rslora::models {
namespace {
struct DtypeRow {
    Dtype dtype;
    const char* name;
    size_t bits;
};
constexpr DtypeRow kDtypes[] = {
    {Dtype::Bool, "BOOL", 8},
    {Dtype::F4, "F4", 4},
    {Dtype::F6_E2M3, "F6_E2M3", 6},
    {Dtype::F6_E3M2, "F6_E3M2", 6},
    {Dtype::U8, "U8", 8},
    {Dtype::I8, "I8", 8},
    {Dtype::F8_E5M2, "F8_E5M2", 8},
    {Dtype::F8_E4M3, "F8_E4M3", 8},
    {Dtype::F8_E8M0, "F8_E8M0", 8},
    {Dtype::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {Dtype::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {Dtype::I16, "I16", 16},
    {Dtype::U16, "U16", 16},
    {Dtype::F16, "F16", 16},
    {Dtype::BF16, "BF16", 16},
    {Dtype::I32, "I32", 32},
    {Dtype::U32, "U32", 32},
    {Dtype::F32, "F32", 32},
    {Dtype::C64, "C64", 64},
    {Dtype::F64, "F64", 64},
    {Dtype::I64, "I64", 64},
    {Dtype::U64, "U64", 64},
};

const DtypeRow* row(Dtype dtype) {
    for (const auto& r : kDtypes)
        if (r.dtype == dtype)
            return &r;
    return nullptr;
}
} // namespace

std::optional<Dtype> dtypeFromName(std::string_view name) {
    for (const auto& r : kDtypes)
        if (name == r.name)
            return r.dtype;
    return std::nullopt;
}

std::string dtypeName(Dtype dtype) {
    const DtypeRow* r = row(dtype);
    return r ? r->name : "?";
}

size_t dtypeBits(Dtype dtype) {
    const DtypeRow* r = row(dtype);
    return r ? r->bits : 0;
}

size_t dtypeSize(Dtype dtype) {
    size_t bits = dtypeBits(dtype);
    return bits % 8 == 0 ? bits / 8 : 0;
}

std::string knownDtypeNames() {
    std::string out;
    for (const auto& r : kDtypes) {
        if (!out.empty())
            out += ", ";
        out += r.name;
    }
    return out;
}

} // namespace rslora::models
