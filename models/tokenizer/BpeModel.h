// The BPE model of tokenizer.json: vocabulary, ranked merges, byte fallback, unk handling,
// ignore_merges, and a cache of pre-token -> ids.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <array>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rslora::models {

class BpeModel {
public:
    // Reads the "model" object. Merges may be "a b" strings or ["a", "b"] pairs; a merge whose parts
    // or result are not in the vocabulary is an error naming the merge (as the reference does).
    static std::unique_ptr<BpeModel> fromJson(const nlohmann::json& model, const std::string& where);

    // Appends the ids of one pre-token. Empty input appends nothing.
    void tokenize(std::string_view word, std::vector<int32_t>& out) const;

    std::optional<int32_t> tokenToId(std::string_view token) const;
    // nullptr for an id the vocabulary does not have.
    const std::string* idToToken(int32_t id) const;
    std::size_t vocabSize() const { return m_vocab.size(); }
    std::size_t mergeCount() const { return m_merges.size(); }
    int32_t maxId() const { return static_cast<int32_t>(m_idToToken.size()) - 1; }

    bool byteFallback() const { return m_byteFallback; }
    bool ignoreMerges() const { return m_ignoreMerges; }
    const std::optional<std::string>& unkToken() const { return m_unkToken; }

    void clearCache() const;

private:
    BpeModel() = default;
    void mergeWord(std::string_view word, std::vector<int32_t>& out) const;
    static uint64_t pairKey(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }

    struct Merge {
        int32_t rank;
        int32_t newId;
    };

    std::unordered_map<std::string, int32_t> m_vocab;
    std::vector<std::string> m_idToToken; // indexed by id; holes are empty strings with m_hasId false
    std::vector<bool> m_hasId;
    std::unordered_map<uint64_t, Merge> m_merges;
    std::optional<std::string> m_unkToken;
    std::optional<int32_t> m_unkId;
    std::string m_continuingSubwordPrefix;
    std::string m_endOfWordSuffix;
    bool m_fuseUnk = false;
    bool m_byteFallback = false;
    bool m_ignoreMerges = false;
    int32_t m_byteIds[256];

    // Pre-token -> ids cache, sharded so that threads encoding in parallel rarely wait on each other.
    static constexpr std::size_t kCacheMaxWordBytes = 256;
    static constexpr std::size_t kCacheShards = 16;
    static constexpr std::size_t kCacheCapacityPerShard = 16384;
    struct CacheShard {
        std::mutex mutex;
        std::unordered_map<std::string, std::vector<int32_t>> map;
    };
    mutable std::array<CacheShard, kCacheShards> m_cache;
};

} // namespace rslora::models
