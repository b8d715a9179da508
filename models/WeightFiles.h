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
    // Why `name` (not in the checkpoint) may be missing, as a sentence to append to the error, or
    // "": in a sharded folder, the .safetensors file there that holds it but that the index does
    // not list (transformers loads only the files the weight_map names), else the shards of the
    // index's "-of-N" set that it does not list, each said present in the folder or absent.
    std::string missingTensorHint(const std::string& name) const;

private:
    std::filesystem::path m_dir;
    bool m_sharded = false;
    std::vector<std::unique_ptr<SafeTensorsFile>> m_files;
    std::map<std::string, size_t> m_where;
};

} // namespace rslora::models
