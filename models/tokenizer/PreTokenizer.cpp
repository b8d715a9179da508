// Pre-tokenizers and the split behaviours of tokenizers' NormalizedString::split.
#include "models/tokenizer/PreTokenizer.h"

#include "models/tokenizer/ByteLevel.h"
#include "models/tokenizer/JsonFields.h"
#include "models/tokenizer/OnigRegex.h"
#include "models/tokenizer/UnicodeTables.h"
#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <functional>

namespace rslora::models {

namespace patterns {
const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
} // namespace patterns

std::string knownSplitPatternName(const std::string& p) {
    if (p == patterns::kGpt2)
        return "GPT-2";
    if (p == patterns::kLlama3)
        return "Llama-3";
    if (p == patterns::kQwen2)
        return "Qwen2";
    return {};
}

void PreTokenizer::apply(std::vector<PreToken>& pieces) const {
    std::vector<PreToken> out;
    out.reserve(pieces.size() * 2);
    for (const auto& p : pieces)
        split(p, out);
    pieces = std::move(out);
}

namespace {

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parseBehavior(const std::string& s, const std::string& where) {
    if (s == "Removed") return Behavior::Removed;
    if (s == "Isolated") return Behavior::Isolated;
    if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
    if (s == "MergedWithNext") return Behavior::MergedWithNext;
    if (s == "Contiguous") return Behavior::Contiguous;
    throw Error(where + ": unknown split behavior \"" + s +
                "\" (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

struct Span {
    std::size_t begin, end;
    bool isMatch;
};

// Turns match offsets into the (offsets, is_match) list covering the whole text.
std::vector<Span> coverWithMatches(std::size_t length, const std::vector<std::pair<std::size_t, std::size_t>>& matches) {
    std::vector<Span> spans;
    if (length == 0) {
        spans.push_back({0, 0, false});
        return spans;
    }
    std::size_t prev = 0;
    for (const auto& [b, e] : matches) {
        if (prev != b)
            spans.push_back({prev, b, false});
        spans.push_back({b, e, true});
        prev = e;
    }
    if (prev != length)
        spans.push_back({prev, length, false});
    return spans;
}

// Applies a split behaviour (tokenizers' NormalizedString::split) and appends the pieces.
void emitSplits(const PreToken& piece, std::vector<Span> spans, Behavior behavior, std::vector<PreToken>& out) {
    std::vector<std::pair<Span, bool>> result; // (span, remove)
    switch (behavior) {
    case Behavior::Isolated:
        for (auto& s : spans)
            result.push_back({s, false});
        break;
    case Behavior::Removed:
        for (auto& s : spans)
            result.push_back({s, s.isMatch});
        break;
    case Behavior::Contiguous: {
        bool previous = false;
        for (auto& s : spans) {
            if (s.isMatch == previous && !result.empty())
                result.back().first.end = s.end;
            else
                result.push_back({s, false});
            previous = s.isMatch;
        }
        break;
    }
    case Behavior::MergedWithPrevious: {
        bool previous = false;
        for (auto& s : spans) {
            if (s.isMatch && !previous && !result.empty())
                result.back().first.end = s.end;
            else
                result.push_back({s, false});
            previous = s.isMatch;
        }
        break;
    }
    case Behavior::MergedWithNext: {
        bool previous = false;
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
            if (it->isMatch && !previous && !result.empty())
                result.back().first.begin = it->begin;
            else
                result.push_back({*it, false});
            previous = it->isMatch;
        }
        std::reverse(result.begin(), result.end());
        break;
    }
    }
    for (const auto& [s, remove] : result) {
        if (remove)
            continue;
        const std::size_t startBytes = s.begin < piece.startBytes ? std::min(piece.startBytes, s.end) - s.begin : 0;
        out.push_back({piece.text.substr(s.begin, s.end - s.begin), startBytes});
    }
}

// Matches of a per-character predicate, one match per character.
std::vector<std::pair<std::size_t, std::size_t>> charMatches(const std::string& text,
                                                             const std::function<bool(char32_t)>& pred) {
    std::vector<std::pair<std::size_t, std::size_t>> m;
    std::size_t pos = 0;
    while (pos < text.size()) {
        char32_t cp;
        const std::size_t len = utf8::decode(text, pos, cp);
        if (pred(cp))
            m.emplace_back(pos, pos + len);
        pos += len;
    }
    return m;
}

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(std::unique_ptr<OnigRegex> regex, Behavior behavior, bool invert)
        : m_regex(std::move(regex)), m_behavior(behavior), m_invert(invert) {}
    void split(const PreToken& piece, std::vector<PreToken>& out) const override {
        auto spans = coverWithMatches(piece.text.size(), m_regex->findAll(piece.text));
        if (m_invert)
            for (auto& s : spans)
                s.isMatch = !s.isMatch;
        emitSplits(piece, std::move(spans), m_behavior, out);
    }
    std::string describe() const override {
        const std::string known = knownSplitPatternName(m_regex->pattern());
        return "Split(" + (known.empty() ? std::string("custom pattern") : known + " pattern") + ")";
    }
    const std::string& pattern() const { return m_regex->pattern(); }

private:
    std::unique_ptr<OnigRegex> m_regex;
    Behavior m_behavior;
    bool m_invert;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : m_addPrefixSpace(addPrefixSpace), m_useRegex(useRegex) {}
    void split(const PreToken& piece, std::vector<PreToken>& out) const override {
        PreToken p = piece;
        // Prepending to an empty piece does nothing (NormalizedString::prepend).
        if (m_addPrefixSpace && !p.text.empty() && p.text[0] != ' ') {
            p.text.insert(0, " ");
            if (p.startBytes > 0)
                ++p.startBytes;
        }
        const std::size_t first = out.size();
        if (m_useRegex)
            emitSplits(p, coverWithMatches(p.text.size(), gpt2Regex().findAll(p.text)), Behavior::Isolated, out);
        else
            out.push_back(std::move(p));
        for (std::size_t i = first; i < out.size(); ++i) {
            if (out[i].startBytes > 0)
                out[i].startBytes = bytelevel::encode(out[i].text.substr(0, out[i].startBytes)).size();
            out[i].text = bytelevel::encode(out[i].text);
        }
    }
    std::string describe() const override {
        return std::string("ByteLevel") + (m_useRegex ? "(GPT-2 pattern)" : "") + (m_addPrefixSpace ? "(prefix space)" : "");
    }
    static const OnigRegex& gpt2Regex() {
        static const OnigRegex re(patterns::kGpt2, "ByteLevel pre-tokenizer");
        return re;
    }

private:
    bool m_addPrefixSpace, m_useRegex;
};

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    enum class Prepend { Always, First, Never };
    MetaspacePreTokenizer(std::string replacement, Prepend scheme, bool splitOnReplacement)
        : m_replacement(std::move(replacement)), m_scheme(scheme), m_split(splitOnReplacement) {}
    void split(const PreToken& piece, std::vector<PreToken>& out) const override {
        PreToken p;
        p.text.reserve(piece.text.size() + 3);
        for (std::size_t i = 0; i < piece.text.size(); ++i) {
            if (i == piece.startBytes)
                p.startBytes = p.text.size();
            if (piece.text[i] == ' ')
                p.text += m_replacement;
            else
                p.text += piece.text[i];
        }
        if (piece.startBytes >= piece.text.size())
            p.startBytes = p.text.size();
        const bool startsWith = p.text.compare(0, m_replacement.size(), m_replacement) == 0;
        // "first": only a piece whose first character is the input's first (its original offset is 0).
        if (!p.text.empty() && !startsWith &&
            (m_scheme == Prepend::Always || (m_scheme == Prepend::First && piece.atStart()))) {
            p.text.insert(0, m_replacement);
            if (p.startBytes > 0)
                p.startBytes += m_replacement.size();
        }
        if (!m_split) {
            out.push_back(std::move(p));
            return;
        }
        std::vector<std::pair<std::size_t, std::size_t>> matches;
        for (std::size_t pos = p.text.find(m_replacement); pos != std::string::npos;
             pos = p.text.find(m_replacement, pos + m_replacement.size()))
            matches.emplace_back(pos, pos + m_replacement.size());
        emitSplits(p, coverWithMatches(p.text.size(), matches), Behavior::MergedWithNext, out);
    }
    std::string describe() const override { return "Metaspace"; }

private:
    std::string m_replacement;
    Prepend m_scheme;
    bool m_split;
};

// Whitespace, WhitespaceSplit, Digits, Punctuation, CharDelimiterSplit: predicate- or regex-based.
class PredicatePreTokenizer final : public PreTokenizer {
public:
    PredicatePreTokenizer(std::string name, std::function<bool(char32_t)> pred, Behavior behavior)
        : m_name(std::move(name)), m_pred(std::move(pred)), m_behavior(behavior) {}
    void split(const PreToken& piece, std::vector<PreToken>& out) const override {
        emitSplits(piece, coverWithMatches(piece.text.size(), charMatches(piece.text, m_pred)), m_behavior, out);
    }
    std::string describe() const override { return m_name; }

private:
    std::string m_name;
    std::function<bool(char32_t)> m_pred;
    Behavior m_behavior;
};

class WhitespacePreTokenizer final : public PreTokenizer {
public:
    void split(const PreToken& piece, std::vector<PreToken>& out) const override {
        static const OnigRegex re(R"(\w+|[^\w\s]+)", "Whitespace pre-tokenizer");
        auto spans = coverWithMatches(piece.text.size(), re.findAll(piece.text));
        for (auto& s : spans)
            s.isMatch = !s.isMatch;
        emitSplits(piece, std::move(spans), Behavior::Removed, out);
    }
    std::string describe() const override { return "Whitespace"; }
};

class SequencePreTokenizer final : public PreTokenizer {
public:
    explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> items) : m_items(std::move(items)) {}
    void split(const PreToken& piece, std::vector<PreToken>& out) const override {
        std::vector<PreToken> pieces{piece};
        for (const auto& item : m_items)
            item->apply(pieces);
        for (auto& p : pieces)
            out.push_back(std::move(p));
    }
    std::string describe() const override {
        std::string s;
        for (std::size_t i = 0; i < m_items.size(); ++i)
            s += (i ? " + " : "") + m_items[i]->describe();
        return s;
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> m_items;
};

class BertPreTokenizer final : public PreTokenizer {
public:
    void split(const PreToken& piece, std::vector<PreToken>& out) const override {
        std::vector<PreToken> words;
        emitSplits(piece, coverWithMatches(piece.text.size(), charMatches(piece.text, utf8::isWhitespace)),
                   Behavior::Removed, words);
        for (const auto& w : words)
            emitSplits(w, coverWithMatches(w.text.size(), charMatches(w.text, unicode::isPunctuation)),
                       Behavior::Isolated, out);
    }
    std::string describe() const override { return "BertPreTokenizer"; }
};

} // namespace

std::unique_ptr<PreTokenizer> PreTokenizer::fromJson(const nlohmann::json& j, const std::string& where) {
    if (j.is_null())
        return nullptr;
    const std::string type = jsonf::requireString(j, "type", where);
    if (type == "Split") {
        auto regex = OnigRegex::fromPatternJson(jsonf::require(j, "pattern", where), where + ".pattern");
        return std::make_unique<SplitPreTokenizer>(std::move(regex),
                                                   parseBehavior(jsonf::requireString(j, "behavior", where), where),
                                                   jsonf::getBool(j, "invert", where, false));
    }
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelPreTokenizer>(jsonf::getBool(j, "add_prefix_space", where, true),
                                                       jsonf::getBool(j, "use_regex", where, true));
    if (type == "Metaspace") {
        const std::string replacement = jsonf::requireString(j, "replacement", where);
        if (utf8::length(replacement) != 1)
            throw Error(where + ".replacement: expected one character, found \"" + replacement + "\"");
        std::string scheme = jsonf::getString(j, "prepend_scheme", where, "always");
        auto prepend = MetaspacePreTokenizer::Prepend::Always;
        if (scheme == "first")
            prepend = MetaspacePreTokenizer::Prepend::First;
        else if (scheme == "never")
            prepend = MetaspacePreTokenizer::Prepend::Never;
        else if (scheme != "always")
            throw Error(where + ".prepend_scheme: expected always, first or never, found \"" + scheme + "\"");
        if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>()) {
            if (j.contains("prepend_scheme") && prepend != MetaspacePreTokenizer::Prepend::Never)
                throw Error(where + ": add_prefix_space false contradicts prepend_scheme \"" + scheme + "\"");
            prepend = MetaspacePreTokenizer::Prepend::Never;
        }
        return std::make_unique<MetaspacePreTokenizer>(replacement, prepend, jsonf::getBool(j, "split", where, true));
    }
    if (type == "Sequence") {
        const auto& list = jsonf::require(j, "pretokenizers", where);
        if (!list.is_array())
            throw Error(where + ".pretokenizers: expected an array, found " + list.type_name());
        std::vector<std::unique_ptr<PreTokenizer>> items;
        for (std::size_t i = 0; i < list.size(); ++i)
            if (auto p = fromJson(list[i], where + ".pretokenizers[" + std::to_string(i) + "]"))
                items.push_back(std::move(p));
        return std::make_unique<SequencePreTokenizer>(std::move(items));
    }
    if (type == "Whitespace")
        return std::make_unique<WhitespacePreTokenizer>();
    if (type == "WhitespaceSplit")
        return std::make_unique<PredicatePreTokenizer>("WhitespaceSplit", utf8::isWhitespace, Behavior::Removed);
    if (type == "Digits") {
        const bool individual = jsonf::getBool(j, "individual_digits", where, false);
        // Rust's char::is_numeric, whose Unicode (16) may be newer than utf8proc's.
        const auto numeric = [](char32_t c) { return unicode::isNumeric(c) || unicode::numericAfterUtf8proc(c); };
        return std::make_unique<PredicatePreTokenizer>("Digits", numeric,
                                                       individual ? Behavior::Isolated : Behavior::Contiguous);
    }
    if (type == "Punctuation")
        return std::make_unique<PredicatePreTokenizer>(
            "Punctuation", unicode::isPunctuation,
            parseBehavior(jsonf::getString(j, "behavior", where, "Isolated"), where));
    if (type == "CharDelimiterSplit") {
        const std::string d = jsonf::requireString(j, "delimiter", where);
        const auto cps = utf8::toCodePoints(d);
        if (cps.size() != 1)
            throw Error(where + ".delimiter: expected one character, found \"" + d + "\"");
        const char32_t delim = cps[0];
        return std::make_unique<PredicatePreTokenizer>(
            "CharDelimiterSplit", [delim](char32_t c) { return c == delim; }, Behavior::Removed);
    }
    if (type == "BertPreTokenizer")
        return std::make_unique<BertPreTokenizer>();
    throw Error(where + ": unsupported pre-tokenizer type \"" + type +
                    "\" (supported: Split, ByteLevel, Metaspace, Sequence, Whitespace, WhitespaceSplit, Digits, "
                    "Punctuation, CharDelimiterSplit, BertPreTokenizer)",
                "this tokenizer needs a pre-tokenizer the workbench does not implement yet");
}

} // namespace rslora::models
