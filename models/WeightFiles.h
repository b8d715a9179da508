// The weights of a Hugging Face folder: model.safetensors, or shards listed by
// model.safetensors.index.json. Validates the index against the shard headers.
#pragma once

#include "models/SafeTensorsFile.h"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rslora::models {

class WeightFiles {
public:
    static constexpr const char* kSingleFile = "model.safetensors";
    static constexpr const char* kIndexFile = "model.safetensors.index.json";

    // Opens the index if present, else the single file. Throws naming the folder when neither
    // exists, and naming index/shard/tensor on any inconsistency.
    explicit WeightFiles(const std::filesystem::path& dir);

    const std::filesystem::path& directory() const { return m_dir; }
    bool sharded() const { return m_sharded; }
    // Tensor names in sorted order.
    std::vector<std::string> names() const;
    bool contains(const std::string& name) const { return m_where.count(name) != 0; }
    const SafeTensorsFile& fileOf(const std::string& name) const;
    const TensorInfo& info(const std::string& name) const;
    const std::vector<std::unique_ptr<SafeTensorsFile>>& files() const { return m_files; }
    uint64_t totalBytes() const;

private:
    std::filesystem::path m_dir;
    bool m_sharded = false;
    std::vector<std::unique_ptr<SafeTensorsFile>> m_files;
    std::map<std::string, size_t> m_where;
};

} // namespace rslora::models
