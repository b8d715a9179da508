// One memory-mapped, validated .safetensors file: header plus raw tensor bytes.
#pragma once

#include "models/MappedFile.h"
#include "models/SafeTensorsHeader.h"

#include <filesystem>
#include <memory>

namespace rslora::models {

class SafeTensorsFile {
public:
    // Maps and validates the whole file; throws rslora::Error naming the file (and tensor).
    explicit SafeTensorsFile(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return m_file->path(); }
    const SafeTensorsHeader& header() const { return m_header; }
    const std::vector<TensorInfo>& tensors() const { return m_header.tensors(); }
    const TensorInfo* find(const std::string& name) const { return m_header.find(name); }
    // Throws naming the file when the tensor is absent.
    const TensorInfo& at(const std::string& name) const;
    // Start of the tensor's bytes inside the mapping (may be unaligned for files of other writers).
    const uint8_t* data(const TensorInfo& info) const { return m_file->data() + m_header.dataStart() + info.begin; }
    // The mapping, for keeping it alive as long as tensors viewing it.
    const std::shared_ptr<MappedFile>& mapping() const { return m_file; }

private:
    std::shared_ptr<MappedFile> m_file;
    SafeTensorsHeader m_header;
};

} // namespace rslora::models
