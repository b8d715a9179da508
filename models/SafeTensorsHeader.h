// Parsing and validation of a safetensors header, as strict as the reference reader. Knows no
// LibTorch, so it is cheap to compile, to test and to fuzz.
#pragma once

#include "models/Dtype.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rslora::models {

struct TensorInfo {
    std::string name;
    Dtype dtype = Dtype::F32;
    std::vector<uint64_t> shape;
    // Byte range relative to the start of the data section, end exclusive.
    uint64_t begin = 0;
    uint64_t end = 0;

    uint64_t numel() const;
    uint64_t byteSize() const { return end - begin; }
};

class SafeTensorsHeader {
public:
    // The reference reader's cap on the JSON header length.
    static constexpr uint64_t kMaxHeaderSize = 100'000'000;

    // `bytes` holds the first `available` bytes of a file of `fileSize` bytes (the whole file or
    // at least its 8 + N header bytes). Throws rslora::Error naming `fileName` (and the tensor) on
    // any violation: short file, header too large or past the end, invalid UTF-8 or JSON,
    // duplicate names, unknown dtype, bad shape or offsets, holes, overlaps, trailing bytes.
    static SafeTensorsHeader parse(const uint8_t* bytes, uint64_t available, uint64_t fileSize,
                                   const std::string& fileName);

    // Tensors in data order (sorted by offset).
    const std::vector<TensorInfo>& tensors() const { return m_tensors; }
    // nullptr when absent.
    const TensorInfo* find(const std::string& name) const;
    const std::map<std::string, std::string>& metadata() const { return m_metadata; }
    // File offset of the data section: 8 + header length.
    uint64_t dataStart() const { return m_dataStart; }

private:
    std::vector<TensorInfo> m_tensors;
    std::map<std::string, size_t> m_index;
    std::map<std::string, std::string> m_metadata;
    uint64_t m_dataStart = 0;
};

} // namespace rslora::models
