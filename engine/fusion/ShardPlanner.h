// How a merged model's tensors are split into safetensors shards: the size limit as users write it
// ("2GB", "500MB", bytes), the tensor order, the split and the shard file names transformers uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rslora::engine::fusion {

// "2GB", "500MB", "100KB" (powers of 1000, as transformers reads them), "1GiB", "512MiB", "64KiB"
// (powers of 1024), "4096" or "4096B" (bytes). Case-insensitive, a decimal number allowed
// ("1.5GB"). Throws rslora::Error quoting the text for anything else, zero or a negative size.
uint64_t parseShardSize(const std::string& text);

// Orders tensor names so that numbers compare as numbers: "layers.2" before "layers.10". Shards
// then hold whole neighbouring layers, as transformers' own shards do.
bool naturalLess(const std::string& a, const std::string& b);

// Splits tensors of the given byte sizes, in the given order, into shards: a shard is closed when the
// next tensor would take it past `maxBytes`; a tensor larger than `maxBytes` gets a shard of its own.
// Returns the tensor indices of each shard (at least one shard, even for no tensors).
std::vector<std::vector<size_t>> planShards(const std::vector<uint64_t>& sizes, uint64_t maxBytes);

// "model.safetensors" for a single shard, else "model-00002-of-00005.safetensors" (1-based index).
std::string shardFileName(size_t index, size_t count);

} // namespace rslora::engine::fusion
