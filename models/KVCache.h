// Keys and values of past tokens per layer, for incremental decoding.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

namespace rslora::models {

class KVCache {
public:
    explicit KVCache(int64_t numLayers = 0);

    // Tokens already cached (all layers hold the same count after a forward).
    int64_t length() const { return m_length.empty() ? 0 : m_length[0]; }
    int64_t numLayers() const { return static_cast<int64_t>(m_keys.size()); }
    // Appends post-RoPE k, v of shape [B, nKV, T, D] for `layer`; returns all cached keys and
    // values [B, nKV, S, D] (views of a buffer that grows by doubling, so decode is not O(n²) copies).
    std::pair<torch::Tensor, torch::Tensor> append(int64_t layer, const torch::Tensor& k, const torch::Tensor& v);
    void clear();
    // Keeps only the given batch rows (e.g. drops finished sequences).
    void selectRows(const torch::Tensor& rows);
    // Appends the rows of `other` after this cache's rows (continuous batching: sequences joining a
    // running batch). The shorter side is left-padded with zeros to the longer length, so the
    // caller left-pads its attention mask the same way. Both caches must have the same layers.
    void appendRows(const KVCache& other);
    // Drops the first `count` cached tokens of every row (columns that are padding in all rows).
    void dropFront(int64_t count);

private:
    std::vector<torch::Tensor> m_keys, m_values;  // [B, nKV, capacity, D]
    std::vector<int64_t> m_length;
};

} // namespace rslora::models
