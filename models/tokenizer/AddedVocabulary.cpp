// Leftmost-longest splitting of added tokens (the daachorse LeftmostLongest semantics the reference uses).
#include "models/tokenizer/AddedVocabulary.h"

#include "models/tokenizer/Normalizer.h"
#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>

namespace rslora::models {

namespace {

// Last code point before `pos` (pos > 0).
char32_t codePointBefore(std::string_view s, std::size_t pos) {
    std::size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && pos - start < 4)
        --start;
    char32_t cp;
    utf8::decode(s, start, cp);
    return cp;
}

char32_t codePointAt(std::string_view s, std::size_t pos) {
    char32_t cp;
    utf8::decode(s, pos, cp);
    return cp;
}

} // namespace

void AddedVocabulary::Matcher::insert(const std::string& pattern, int32_t id) {
    if (pattern.empty())
        return;
    int32_t node = 0;
    for (unsigned char c : pattern) {
        auto& children = m_nodes[node].children;
        auto it = std::find_if(children.begin(), children.end(), [c](const auto& p) { return p.first == c; });
        if (it == children.end()) {
            m_nodes.push_back(Node{});
            const auto child = static_cast<int32_t>(m_nodes.size() - 1);
            m_nodes[node].children.emplace_back(c, child);
            node = child;
        } else {
            node = it->second;
        }
    }
    m_nodes[node].id = id;
    m_first[static_cast<unsigned char>(pattern[0])] = true;
}

std::pair<std::size_t, int32_t> AddedVocabulary::Matcher::longestAt(std::string_view text, std::size_t pos) const {
    std::pair<std::size_t, int32_t> best{0, -1};
    int32_t node = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        const auto& children = m_nodes[node].children;
        auto it = std::find_if(children.begin(), children.end(), [c](const auto& p) { return p.first == c; });
        if (it == children.end())
            break;
        node = it->second;
        if (m_nodes[node].id >= 0)
            best = {i + 1 - pos, m_nodes[node].id};
    }
    return best;
}

int32_t AddedVocabulary::add(AddedToken token, std::optional<int32_t> modelId, std::size_t modelVocabSize) {
    if (token.content.empty())
        return -1;
    if (auto it = m_indexOf.find(token.content); it != m_indexOf.end()) {
        token.id = m_tokens[it->second].id;
        m_tokens[it->second] = token;
    } else {
        if (modelId)
            token.id = *modelId;
        else if (m_maxId >= static_cast<int64_t>(modelVocabSize) || modelVocabSize == 0)
            token.id = static_cast<int32_t>(m_maxId + 1);
        else
            token.id = static_cast<int32_t>(modelVocabSize);
        m_tokens.push_back(token);
        // A model token sharing an id with an earlier added token takes the id over for decoding, as in
        // the reference (only possible with a vocabulary whose ids have gaps).
        m_byId[token.id] = m_tokens.size() - 1;
        m_byContent[token.content] = token.id;
        m_indexOf[token.content] = m_tokens.size() - 1;
        m_maxId = std::max<int64_t>(m_maxId, token.id);
    }
    // The reference never takes a content out of its special set.
    if (token.special)
        m_specialContents.insert(token.content);
    return token.id;
}

bool AddedVocabulary::hasIdentical(const AddedToken& token) const {
    auto it = m_indexOf.find(token.content);
    if (it == m_indexOf.end())
        return false;
    const AddedToken& t = m_tokens[it->second];
    return t.singleWord == token.singleWord && t.lstrip == token.lstrip && t.rstrip == token.rstrip &&
           t.normalized == token.normalized && t.special == token.special;
}

void AddedVocabulary::build(const Normalizer* normalizer) {
    m_raw = Matcher();
    m_normalized = Matcher();
    m_normalizedForm.clear();
    for (const auto& t : m_tokens) {
        if (!t.normalized) {
            m_raw.insert(t.content, t.id);
            continue;
        }
        std::string form = t.content;
        if (normalizer)
            normalizer->normalize(form);
        if (form != t.content)
            m_normalizedForm[t.id] = form;
        m_normalized.insert(form, t.id);
    }
}

std::vector<AddedVocabulary::Segment> AddedVocabulary::split(std::string_view text, bool normalizedSet,
                                                             bool encodeSpecial) const {
    std::vector<Segment> segments;
    const Matcher& matcher = normalizedSet ? m_normalized : m_raw;
    if (text.empty() || matcher.empty()) {
        segments.push_back({0, text.size(), -1});
        return segments;
    }
    std::size_t startOffset = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        if (!matcher.mayStartWith(static_cast<unsigned char>(text[pos]))) {
            ++pos;
            continue;
        }
        const auto [len, id] = matcher.longestAt(text, pos);
        if (len == 0) {
            ++pos;
            continue;
        }
        std::size_t start = pos;
        std::size_t stop = pos + len;
        pos = stop; // matches never overlap: the scan resumes after this one, used or not
        const AddedToken* token = byId(id);
        if (encodeSpecial && token->special)
            continue;
        if (token->singleWord) {
            const bool startSpace = start == 0 || !unicode::isAlphanumericWord(codePointBefore(text, start));
            const bool stopSpace = stop == text.size() || !unicode::isAlphanumericWord(codePointAt(text, stop));
            if (!startSpace || !stopSpace)
                continue;
        }
        if (token->lstrip) {
            std::size_t newStart = start;
            while (newStart > 0) {
                const char32_t cp = codePointBefore(text, newStart);
                if (!utf8::isWhitespace(cp))
                    break;
                newStart -= utf8::encode(cp).size();
            }
            start = std::max(newStart, startOffset);
        }
        if (token->rstrip) {
            while (stop < text.size()) {
                char32_t cp;
                const std::size_t l = utf8::decode(text, stop, cp);
                if (!utf8::isWhitespace(cp))
                    break;
                stop += l;
            }
        }
        start = std::max(start, startOffset);
        if (startOffset < start)
            segments.push_back({startOffset, start, -1});
        segments.push_back({start, stop, id});
        startOffset = stop;
        pos = std::max(pos, stop);
    }
    if (startOffset != text.size())
        segments.push_back({startOffset, text.size(), -1});
    return segments;
}

const AddedToken* AddedVocabulary::byId(int32_t id) const {
    auto it = m_byId.find(id);
    return it == m_byId.end() ? nullptr : &m_tokens[it->second];
}

std::optional<int32_t> AddedVocabulary::idOf(std::string_view content) const {
    auto it = m_byContent.find(std::string(content));
    if (it == m_byContent.end())
        return std::nullopt;
    return it->second;
}

const std::string* AddedVocabulary::decodeText(int32_t id) const {
    if (auto it = m_normalizedForm.find(id); it != m_normalizedForm.end())
        return &it->second;
    const AddedToken* t = byId(id);
    return t ? &t->content : nullptr;
}

bool AddedVocabulary::isSpecialContent(std::string_view content) const {
    return m_specialContents.count(std::string(content)) != 0;
}

} // namespace rslora::models
