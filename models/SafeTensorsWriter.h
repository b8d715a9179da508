// Writes .safetensors files in the reference writer's layout, atomically. Knows no LibTorch: the
// caller hands over raw little-endian bytes.
#pragma once

#include "models/Dtype.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace rslora::models {

struct TensorBytes {
    std::string name;
    Dtype dtype = Dtype::F32;
    std::vector<uint64_t> shape;
    const void* data = nullptr;
    uint64_t size = 0;  // bytes at `data`; must equal numel * element size
};

class SafeTensorsWriter {
public:
    // Orders tensors as the reference writer does (dtype by decreasing alignment, then name) and
    // fills in their offsets. Returns the header bytes: JSON with "__metadata__" first (when
    // non-empty), padded with spaces to a multiple of 8. Throws on duplicate or reserved names and
    // on sizes that do not match shape × dtype. `data` is not read, so a plan without bytes works.
    static std::string header(std::vector<TensorBytes>& tensors, const std::map<std::string, std::string>& metadata);

    // Writes the file beside its final name, fsyncs, renames: `path` is either the old or the new
    // complete file, never a partial one.
    static void write(const std::filesystem::path& path, std::vector<TensorBytes> tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
};

} // namespace rslora::models
