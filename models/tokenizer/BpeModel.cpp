// Byte-pair encoding with a rank table keyed by (left id, right id) and a priority queue ordered by
// (rank, position): the order of tokenizers' Word::merge_all, so ties and stale entries resolve the same.
#include "models/tokenizer/BpeModel.h"

#include "common/Error.h"
#include "common/Log.h"
#include "models/tokenizer/Utf8.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <queue>

namespace rslora::models {

std::unique_ptr<BpeModel> BpeModel::fromJson(const nlohmann::json& model, const std::string& where) {
    if (!model.is_object())
        throw Error(where + ": expected the model object, found " + std::string(model.type_name()));
    const std::string type = model.value("type", std::string("BPE"));
    if (type != "BPE")
        throw Error(where + ": unsupported model type \"" + type + "\" (only BPE is supported)",
                    "the workbench reads BPE tokenizers (byte-level and SentencePiece-style); Unigram, WordPiece and WordLevel models cannot be loaded");
    std::unique_ptr<BpeModel> m(new BpeModel());

    auto optString = [&](const char* key) -> std::optional<std::string> {
        auto it = model.find(key);
        if (it == model.end() || it->is_null())
            return std::nullopt;
        if (!it->is_string())
            throw Error(where + "." + key + ": expected a string or null, found " + it->type_name());
        return it->get<std::string>();
    };
    auto optBool = [&](const char* key, bool fallback) {
        auto it = model.find(key);
        if (it == model.end() || it->is_null())
            return fallback;
        if (!it->is_boolean())
            throw Error(where + "." + key + ": expected true or false, found " + it->type_name());
        return it->get<bool>();
    };
    m->m_unkToken = optString("unk_token");
    m->m_continuingSubwordPrefix = optString("continuing_subword_prefix").value_or("");
    m->m_endOfWordSuffix = optString("end_of_word_suffix").value_or("");
    m->m_fuseUnk = optBool("fuse_unk", false);
    m->m_byteFallback = optBool("byte_fallback", false);
    m->m_ignoreMerges = optBool("ignore_merges", false);
    if (auto it = model.find("dropout"); it != model.end() && !it->is_null()) {
        if (!it->is_number() || it->get<double>() < 0.0 || it->get<double>() > 1.0)
            throw Error(where + ".dropout: expected a number in [0, 1] or null, found " + it->dump());
        // The tokenizers library skips merges at random with this probability (subword regularization
        // for training); the workbench encodes deterministically, as with dropout 0.
        if (it->get<double>() > 0.0)
            logWarning(where + ".dropout is " + it->dump() +
                       ": BPE dropout is not applied; text is encoded deterministically (as with dropout 0)");
    }

    const auto vit = model.find("vocab");
    if (vit == model.end() || !vit->is_object())
        throw Error(where + ".vocab: expected an object mapping token to id");
    m->m_vocab.reserve(vit->size() * 2);
    int64_t maxId = -1;
    for (auto it = vit->begin(); it != vit->end(); ++it) {
        if (!it.value().is_number_unsigned())
            throw Error(where + ".vocab[\"" + it.key() + "\"]: expected a non-negative integer id, found " +
                        it.value().dump());
        if (!it.value().is_number_unsigned() || it.value().get<uint64_t>() > INT32_MAX)
            throw Error(where + ".vocab[\"" + it.key() + "\"]: id " + it.value().dump() +
                        " is above the largest supported id (2147483647)");
        const auto id = it.value().get<int64_t>();
        m->m_vocab.emplace(it.key(), static_cast<int32_t>(id));
        maxId = std::max(maxId, id);
    }
    if (maxId > 50'000'000)
        throw Error(where + ".vocab: id " + std::to_string(maxId) + " is implausibly large");
    m->m_idToToken.assign(static_cast<std::size_t>(maxId + 1), std::string());
    m->m_hasId.assign(static_cast<std::size_t>(maxId + 1), false);
    for (const auto& [tok, id] : m->m_vocab) {
        m->m_idToToken[id] = tok;
        m->m_hasId[id] = true;
    }

    if (m->m_unkToken) {
        auto it = m->m_vocab.find(*m->m_unkToken);
        if (it != m->m_vocab.end())
            m->m_unkId = it->second;
    }
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        auto it = m->m_vocab.find(name);
        m->m_byteIds[b] = it == m->m_vocab.end() ? -1 : it->second;
    }

    const auto mit = model.find("merges");
    if (mit != model.end() && !mit->is_null()) {
        if (!mit->is_array())
            throw Error(where + ".merges: expected an array");
        m->m_merges.reserve(mit->size() * 2);
        const std::size_t prefixLen = m->m_continuingSubwordPrefix.size();
        std::string a, b, merged;
        for (std::size_t rank = 0; rank < mit->size(); ++rank) {
            const auto& entry = (*mit)[rank];
            const std::string here = where + ".merges[" + std::to_string(rank) + "]";
            if (entry.is_string()) {
                const auto& s = entry.get_ref<const std::string&>();
                const auto space = s.find(' ');
                if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
                    throw Error(here + ": expected \"left right\" (exactly one space), found \"" + s + "\"");
                a = s.substr(0, space);
                b = s.substr(space + 1);
            } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
                a = entry[0].get<std::string>();
                b = entry[1].get<std::string>();
            } else {
                throw Error(here + ": expected \"a b\" or [\"a\", \"b\"], found " + entry.dump());
            }
            auto ia = m->m_vocab.find(a);
            if (ia == m->m_vocab.end())
                throw Error(here + ": merge token \"" + a + "\" is not in the vocabulary");
            auto ib = m->m_vocab.find(b);
            if (ib == m->m_vocab.end())
                throw Error(here + ": merge token \"" + b + "\" is not in the vocabulary");
            merged = a;
            merged.append(b, std::min(prefixLen, b.size()), std::string::npos);
            auto im = m->m_vocab.find(merged);
            if (im == m->m_vocab.end())
                throw Error(here + ": merged token \"" + merged + "\" is not in the vocabulary");
            // Duplicate pairs: the later entry wins, as when the reference collects into a hash map.
            m->m_merges[pairKey(ia->second, ib->second)] = Merge{static_cast<int32_t>(rank), im->second};
        }
    }
    return m;
}

std::optional<int32_t> BpeModel::tokenToId(std::string_view token) const {
    auto it = m_vocab.find(std::string(token));
    if (it == m_vocab.end())
        return std::nullopt;
    return it->second;
}

const std::string* BpeModel::idToToken(int32_t id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= m_idToToken.size() || !m_hasId[id])
        return nullptr;
    return &m_idToToken[id];
}

void BpeModel::clearCache() const {
    for (auto& shard : m_cache) {
        std::lock_guard<std::mutex> lock(shard.mutex);
        shard.map.clear();
    }
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty())
        return;
    if (m_ignoreMerges) {
        auto it = m_vocab.find(std::string(word));
        if (it != m_vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    const bool cacheable = word.size() < kCacheMaxWordBytes;
    std::string key;
    CacheShard* shard = nullptr;
    if (cacheable) {
        key.assign(word);
        shard = &m_cache[std::hash<std::string>{}(key) % kCacheShards];
        std::lock_guard<std::mutex> lock(shard->mutex);
        auto it = shard->map.find(key);
        if (it != shard->map.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int32_t> ids;
    mergeWord(word, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    if (shard) {
        std::lock_guard<std::mutex> lock(shard->mutex);
        if (shard->map.size() < kCacheCapacityPerShard)
            shard->map.emplace(std::move(key), std::move(ids));
    }
}

void BpeModel::mergeWord(std::string_view w, std::vector<int32_t>& out) const {
    struct Symbol {
        int32_t id;
        int32_t prev;
        int32_t next;
        uint32_t len; // bytes covered; 0 once merged into its left neighbour
    };
    std::vector<Symbol> symbols;
    symbols.reserve(w.size());
    auto add = [&](int32_t id, uint32_t len) {
        const auto n = static_cast<int32_t>(symbols.size());
        if (n > 0)
            symbols.back().next = n;
        symbols.push_back({id, n - 1, -1, len});
    };

    // A pending unk symbol (id, byte length), held back so consecutive unks can be fused.
    bool hasUnk = false;
    int32_t unkId = -1;
    uint32_t unkLen = 0;
    std::string s;
    std::size_t pos = 0;
    while (pos < w.size()) {
        char32_t cp;
        const std::size_t len = utf8::decode(w, pos, cp);
        const bool isFirst = pos == 0;
        const bool isLast = pos + len >= w.size();
        s.clear();
        if (!isFirst)
            s += m_continuingSubwordPrefix;
        s.append(w.substr(pos, len));
        if (isLast)
            s += m_endOfWordSuffix;
        pos += len;

        auto it = m_vocab.find(s);
        if (it != m_vocab.end()) {
            if (hasUnk) {
                add(unkId, unkLen);
                hasUnk = false;
            }
            add(it->second, static_cast<uint32_t>(len));
            continue;
        }
        if (m_byteFallback) {
            bool all = true;
            for (unsigned char c : s)
                if (m_byteIds[c] < 0) {
                    all = false;
                    break;
                }
            if (all) {
                // The reference emits the byte tokens without flushing a pending unk first.
                for (unsigned char c : s)
                    add(m_byteIds[c], 1);
                continue;
            }
        }
        if (m_unkToken) {
            if (!m_unkId)
                throw Error("BPE: unk_token \"" + *m_unkToken + "\" is not in the vocabulary");
            if (hasUnk && m_fuseUnk) {
                unkLen += static_cast<uint32_t>(len);
            } else {
                if (hasUnk)
                    add(unkId, unkLen);
                hasUnk = true;
                unkId = *m_unkId;
                unkLen = static_cast<uint32_t>(len);
            }
        }
        // Without an unk token the character is dropped, as in the reference.
    }
    if (hasUnk)
        add(unkId, unkLen);

    struct Candidate {
        int32_t rank;
        int32_t pos;
        int32_t newId;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        auto it = m_merges.find(pairKey(symbols[i].id, symbols[i + 1].id));
        if (it != m_merges.end())
            queue.push({it->second.rank, static_cast<int32_t>(i), it->second.newId});
    }
    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        Symbol& left = symbols[top.pos];
        if (left.len == 0 || left.next < 0)
            continue;
        const int32_t nextPos = left.next;
        const Symbol right = symbols[nextPos];
        auto it = m_merges.find(pairKey(left.id, right.id));
        if (it == m_merges.end() || it->second.newId != top.newId)
            continue; // stale entry
        left.id = top.newId;
        left.len += right.len;
        left.next = right.next;
        symbols[nextPos].len = 0;
        if (right.next >= 0)
            symbols[right.next].prev = top.pos;
        if (left.prev >= 0) {
            auto p = m_merges.find(pairKey(symbols[left.prev].id, left.id));
            if (p != m_merges.end())
                queue.push({p->second.rank, left.prev, p->second.newId});
        }
        if (left.next >= 0) {
            auto n = m_merges.find(pairKey(left.id, symbols[left.next].id));
            if (n != m_merges.end())
                queue.push({n->second.rank, top.pos, n->second.newId});
        }
    }
    for (const auto& sym : symbols)
        if (sym.len != 0)
            out.push_back(sym.id);
}

} // namespace rslora::models
