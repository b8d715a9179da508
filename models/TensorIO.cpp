// Zero-copy where possible: from_blob on the private mapping, with a deleter that holds the mapping.
#include "models/TensorIO.h"

#include "common/Error.h"
#include "models/AtenParallel.h"
#include "models/FiniteValues.h"
#include "models/SafeTensorsWriter.h"

#include <atomic>
#include <cstring>

namespace rslora::models {
namespace {
struct TypeRow {
    Dtype dtype;
    torch::ScalarType type;
};
const TypeRow kTypes[] = {
    {Dtype::F64, torch::kFloat64}, {Dtype::F32, torch::kFloat32}, {Dtype::F16, torch::kFloat16},
    {Dtype::BF16, torch::kBFloat16}, {Dtype::I64, torch::kInt64}, {Dtype::I32, torch::kInt32},
    {Dtype::I16, torch::kInt16},   {Dtype::I8, torch::kInt8},     {Dtype::U8, torch::kUInt8},
    {Dtype::Bool, torch::kBool},   {Dtype::C64, torch::kComplexFloat},
};
} // namespace

torch::ScalarType torchScalarType(Dtype dtype, const std::string& where) {
    for (const auto& r : kTypes)
        if (r.dtype == dtype)
            return r.type;
    throw Error(where + ": dtype " + dtypeName(dtype) + " is not supported by this LibTorch build");
}

std::optional<Dtype> dtypeFromTorch(torch::ScalarType type) {
    for (const auto& r : kTypes)
        if (r.type == type)
            return r.dtype;
    return std::nullopt;
}

torch::Tensor tensorFromFile(const SafeTensorsFile& file, const TensorInfo& info) {
    const std::string where = file.path().string() + ": tensor '" + info.name + "'";
    const auto type = torchScalarType(info.dtype, where);
    std::vector<int64_t> shape(info.shape.begin(), info.shape.end());
    const uint8_t* p = file.data(info);
    const size_t elem = dtypeSize(info.dtype);
    const auto options = torch::TensorOptions().dtype(type).device(torch::kCPU);
    if (info.byteSize() == 0)
        return torch::empty(shape, options);
    if (reinterpret_cast<uintptr_t>(p) % elem != 0) {
        auto t = torch::empty(shape, options);
        std::memcpy(t.data_ptr(), p, info.byteSize());
        return t;
    }
    std::shared_ptr<MappedFile> keep = file.mapping();
    // The private mapping is writable copy-on-write, so in-place updates never reach the file.
    return torch::from_blob(const_cast<uint8_t*>(p), shape, [keep](void*) mutable { keep.reset(); }, options);
}

void checkFiniteValues(const SafeTensorsFile& file, const TensorInfo& info)
{
    const uint64_t count = info.numel();
    if (count == 0)
        return;
    const uint8_t* data = file.data(info);
    const uint64_t elementSize = info.byteSize() / count;
    std::atomic<bool> finite{true}, fits{true};
    // Blocks of 1M elements: large enough that a small tensor stays on one thread.
    at::parallel_for(0, int64_t(count), int64_t(1) << 20, [&](int64_t begin, int64_t end) {
        const uint8_t* block = data + uint64_t(begin) * elementSize;
        if (finite.load(std::memory_order_relaxed) && !allFinite(block, uint64_t(end - begin), info.dtype))
            finite.store(false, std::memory_order_relaxed);
        if (fits.load(std::memory_order_relaxed) && !allFitFloat32(block, uint64_t(end - begin), info.dtype))
            fits.store(false, std::memory_order_relaxed);
    });
    if (!finite.load())
        throw Error(nonFiniteTensorMessage(file.path().string(), info.name));
    if (!fits.load())
        throw Error(beyondFloat32TensorMessage(file.path().string(), info.name));
}

std::vector<std::pair<std::string, torch::Tensor>> loadSafeTensors(const std::filesystem::path& path) {
    SafeTensorsFile file(path);
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const TensorInfo& t : file.tensors())
        out.emplace_back(t.name, tensorFromFile(file, t));
    return out;
}

std::map<std::string, torch::Tensor> loadSafeTensorsMap(const std::filesystem::path& path) {
    std::map<std::string, torch::Tensor> out;
    for (auto& [name, t] : loadSafeTensors(path))
        out.emplace(name, t);
    return out;
}

void saveSafeTensors(const std::filesystem::path& path,
                     const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata) {
    std::vector<torch::Tensor> keep;
    std::vector<TensorBytes> bytes;
    keep.reserve(tensors.size());
    for (const auto& [name, tensor] : tensors) {
        if (!tensor.defined())
            throw Error("cannot write " + path.string() + ": tensor '" + name + "' is undefined");
        auto dtype = dtypeFromTorch(tensor.scalar_type());
        if (!dtype)
            throw Error("cannot write " + path.string() + ": tensor '" + name + "' has element type " +
                        std::string(c10::toString(tensor.scalar_type())) + ", which safetensors cannot hold");
        torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
        keep.push_back(t);
        TensorBytes b;
        b.name = name;
        b.dtype = *dtype;
        for (int64_t d : t.sizes())
            b.shape.push_back(static_cast<uint64_t>(d));
        b.data = t.data_ptr();
        b.size = static_cast<uint64_t>(t.numel()) * t.element_size();
        bytes.push_back(std::move(b));
    }
    SafeTensorsWriter::write(path, std::move(bytes), metadata);
}

} // namespace rslora::models
