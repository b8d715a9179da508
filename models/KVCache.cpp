// Growable per-layer key/value buffers.
#include "models/KVCache.h"

#include "common/Error.h"

namespace rslora::models {

KVCache::KVCache(int64_t numLayers)
    : m_keys(static_cast<size_t>(numLayers)), m_values(static_cast<size_t>(numLayers)),
      m_length(static_cast<size_t>(numLayers), 0) {}

std::pair<torch::Tensor, torch::Tensor> KVCache::append(int64_t layer, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
    if (layer < 0)
        throw Error("KV cache: negative layer index");
    if (layer >= numLayers()) {
        m_keys.resize(static_cast<size_t>(layer + 1));
        m_values.resize(static_cast<size_t>(layer + 1));
        m_length.resize(static_cast<size_t>(layer + 1), 0);
    }
    const size_t l = static_cast<size_t>(layer);
    const int64_t t = k.size(2);
    int64_t& len = m_length[l];
    torch::Tensor& kb = m_keys[l];
    torch::Tensor& vb = m_values[l];
    if (kb.defined() && (kb.size(0) != k.size(0) || kb.size(1) != k.size(1) || kb.size(3) != k.size(3)))
        throw Error("KV cache: layer " + std::to_string(layer) + " holds batch/heads/dim " +
                    std::to_string(kb.size(0)) + "/" + std::to_string(kb.size(1)) + "/" + std::to_string(kb.size(3)) +
                    ", new keys have " + std::to_string(k.size(0)) + "/" + std::to_string(k.size(1)) + "/" +
                    std::to_string(k.size(3)));
    if (!kb.defined() || len + t > kb.size(2)) {
        int64_t capacity = std::max<int64_t>(len + t, kb.defined() ? 2 * kb.size(2) : len + t);
        auto nk = torch::empty({k.size(0), k.size(1), capacity, k.size(3)}, k.options());
        auto nv = torch::empty({v.size(0), v.size(1), capacity, v.size(3)}, v.options());
        if (len > 0) {
            nk.narrow(2, 0, len).copy_(kb.narrow(2, 0, len));
            nv.narrow(2, 0, len).copy_(vb.narrow(2, 0, len));
        }
        kb = nk;
        vb = nv;
    }
    kb.narrow(2, len, t).copy_(k);
    vb.narrow(2, len, t).copy_(v);
    len += t;
    return {kb.narrow(2, 0, len), vb.narrow(2, 0, len)};
}

void KVCache::clear() {
    for (size_t i = 0; i < m_keys.size(); ++i) {
        m_keys[i] = torch::Tensor();
        m_values[i] = torch::Tensor();
        m_length[i] = 0;
    }
}

void KVCache::selectRows(const torch::Tensor& rows) {
    for (size_t i = 0; i < m_keys.size(); ++i) {
        if (!m_keys[i].defined())
            continue;
        auto idx = rows.to(m_keys[i].device());
        m_keys[i] = m_keys[i].index_select(0, idx);
        m_values[i] = m_values[i].index_select(0, idx);
    }
}

void KVCache::dropFront(int64_t count) {
    if (count <= 0)
        return;
    if (count > length())
        throw Error("KV cache: cannot drop " + std::to_string(count) + " tokens of " + std::to_string(length()));
    for (size_t i = 0; i < m_keys.size(); ++i) {
        if (!m_keys[i].defined())
            continue;
        m_keys[i] = m_keys[i].narrow(2, count, m_length[i] - count).clone();
        m_values[i] = m_values[i].narrow(2, count, m_length[i] - count).clone();
        m_length[i] -= count;
    }
}

void KVCache::appendRows(const KVCache& other) {
    if (other.numLayers() != numLayers())
        throw Error("KV cache: cannot join a cache of " + std::to_string(other.numLayers()) + " layers to one of " +
                    std::to_string(numLayers()));
    const int64_t len = std::max(length(), other.length());
    // Left-pads the filled part of `buffer` to `len` tokens.
    auto padded = [len](const torch::Tensor& buffer, int64_t filled) {
        auto out = torch::zeros({buffer.size(0), buffer.size(1), len, buffer.size(3)}, buffer.options());
        out.narrow(2, len - filled, filled).copy_(buffer.narrow(2, 0, filled));
        return out;
    };
    for (size_t i = 0; i < m_keys.size(); ++i) {
        if (!other.m_keys[i].defined())
            continue;
        if (!m_keys[i].defined()) {
            m_keys[i] = other.m_keys[i].narrow(2, 0, other.m_length[i]).clone();
            m_values[i] = other.m_values[i].narrow(2, 0, other.m_length[i]).clone();
            m_length[i] = other.m_length[i];
            continue;
        }
        m_keys[i] = torch::cat({padded(m_keys[i], m_length[i]), padded(other.m_keys[i], other.m_length[i])}, 0);
        m_values[i] = torch::cat({padded(m_values[i], m_length[i]), padded(other.m_values[i], other.m_length[i])}, 0);
        m_length[i] = len;
    }
}

} // namespace rslora::models
