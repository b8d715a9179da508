// Added and special tokens: split out of the text before normalization and BPE with a
// leftmost-longest match, honouring single_word, lstrip, rstrip, normalized and special.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace rslora::models {

class Normalizer;

struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool singleWord = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;
    bool special = false;
};

class AddedVocabulary {
public:
    // One segment of a split: plain text (id < 0) or an added token (id >= 0).
    struct Segment {
        std::size_t begin, end;
        int32_t id;
    };

    // Adds `token` as the reference's AddedVocabulary::add_tokens does and returns its id (token.id is
    // not used): content already added keeps its id, its flags replaced by this token's; content in
    // the model vocabulary takes the model's id (`modelId`); anything else gets the next free id, the
    // model's vocabulary size or, once an added id reached it, the largest added id + 1.
    int32_t add(AddedToken token, std::optional<int32_t> modelId, std::size_t modelVocabSize);
    // Builds the matchers; normalized tokens are matched by their normalized form.
    void build(const Normalizer* normalizer);

    // Splits `text` with the raw-text matcher (normalized == false tokens) or the normalized-text
    // matcher. `encodeSpecial` = true leaves special tokens in the text (split_special_tokens).
    std::vector<Segment> split(std::string_view text, bool normalizedSet, bool encodeSpecial) const;

    const AddedToken* byId(int32_t id) const;
    std::optional<int32_t> idOf(std::string_view content) const;
    // Token text for decoding (the normalized form for normalized tokens, as the reference does).
    const std::string* decodeText(int32_t id) const;
    bool isSpecialContent(std::string_view content) const;
    // Same content and flags as a token already added (adding it again changes nothing).
    bool hasIdentical(const AddedToken& token) const;
    std::size_t size() const { return m_tokens.size(); }
    const std::vector<AddedToken>& tokens() const { return m_tokens; }

private:
    class Matcher {
    public:
        void insert(const std::string& pattern, int32_t id);
        bool empty() const { return m_nodes.size() <= 1; }
        // Longest pattern starting at `pos`: returns (length, id) or length 0.
        std::pair<std::size_t, int32_t> longestAt(std::string_view text, std::size_t pos) const;
        bool mayStartWith(unsigned char c) const { return m_first[c]; }

    private:
        struct Node {
            std::vector<std::pair<unsigned char, int32_t>> children;
            int32_t id = -1;
        };
        std::vector<Node> m_nodes{Node{}};
        std::array<bool, 256> m_first{};
    };

    std::vector<AddedToken> m_tokens;
    int64_t m_maxId = -1;
    std::unordered_map<int32_t, std::size_t> m_byId;
    std::unordered_map<std::string, int32_t> m_byContent;
    std::unordered_map<std::string, std::size_t> m_indexOf;
    std::unordered_map<int32_t, std::string> m_normalizedForm;
    std::unordered_set<std::string> m_specialContents;
    Matcher m_raw;
    Matcher m_normalized;
};

} // namespace rslora::models
