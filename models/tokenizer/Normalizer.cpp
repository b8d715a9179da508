// The normalizers found in LLM tokenizer.json files; unsupported ones are refused at load time.
#include "models/tokenizer/Normalizer.h"

#include "models/tokenizer/ByteLevel.h"
#include "models/tokenizer/JsonFields.h"
#include "models/tokenizer/OnigRegex.h"
#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <optional>
#include <vector>

namespace rslora::models {

namespace {

class UnicodeNormalizer final : public Normalizer {
public:
    UnicodeNormalizer(unicode::Form form, std::string name) : m_form(form), m_name(std::move(name)) {}
    void normalize(std::string& text) const override { text = unicode::normalize(text, m_form); }
    std::string describe() const override { return m_name; }

private:
    unicode::Form m_form;
    std::string m_name;
};

class LowercaseNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override { text = unicode::toLower(text); }
    std::string describe() const override { return "Lowercase"; }
};

class StripAccentsNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override { text = unicode::stripAccents(text); }
    std::string describe() const override { return "StripAccents"; }
};

class StripNormalizer final : public Normalizer {
public:
    StripNormalizer(bool left, bool right) : m_left(left), m_right(right) {}
    void normalize(std::string& text) const override {
        const auto bounds = utf8::charBoundaries(text);
        std::size_t first = 0, last = bounds.size() - 1; // indices into bounds
        auto cpAt = [&](std::size_t i) {
            char32_t cp;
            utf8::decode(text, bounds[i], cp);
            return cp;
        };
        if (m_left)
            while (first < last && utf8::isWhitespace(cpAt(first)))
                ++first;
        if (m_right)
            while (last > first && utf8::isWhitespace(cpAt(last - 1)))
                --last;
        text = text.substr(bounds[first], bounds[last] - bounds[first]);
    }
    void normalizeTracking(std::string& text, std::size_t& start) const override {
        const std::size_t before = text.size();
        std::string left = text;
        if (m_left) {
            StripNormalizer(true, false).normalize(left);
            const std::size_t removed = before - left.size();
            start = start > removed ? start - removed : 0;
        }
        normalize(text);
        start = std::min(start, text.size());
    }
    std::string describe() const override { return "Strip"; }

private:
    bool m_left, m_right;
};

class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string prefix) : m_prefix(std::move(prefix)) {}
    void normalize(std::string& text) const override {
        if (!text.empty())
            text.insert(0, m_prefix);
    }
    // The prefix takes the alignment of the character it is put before.
    void normalizeTracking(std::string& text, std::size_t& start) const override {
        normalize(text);
        if (start > 0)
            start += m_prefix.size();
    }
    std::string describe() const override { return "Prepend(" + m_prefix + ")"; }

private:
    std::string m_prefix;
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(std::string literal, std::unique_ptr<OnigRegex> regex, std::string content)
        : m_literal(std::move(literal)), m_regex(std::move(regex)), m_content(std::move(content)) {}
    void normalize(std::string& text) const override {
        if (m_regex) {
            text = m_regex->replaceAll(text, m_content);
            return;
        }
        if (m_literal.empty())
            return;
        std::string out;
        std::size_t last = 0, pos;
        while ((pos = text.find(m_literal, last)) != std::string::npos) {
            out.append(text, last, pos - last);
            out += m_content;
            last = pos + m_literal.size();
        }
        if (last == 0)
            return;
        out.append(text, last, std::string::npos);
        text = std::move(out);
    }
    // A match that begins inside the leading bytes keeps its replacement there; one that removes
    // the first character entirely leaves nothing aligned to the start.
    void normalizeTracking(std::string& text, std::size_t& start) const override {
        if (start > 0) {
            std::vector<std::pair<std::size_t, std::size_t>> matches;
            if (m_regex) {
                matches = m_regex->findAll(text);
            } else if (!m_literal.empty()) {
                for (std::size_t pos = text.find(m_literal); pos != std::string::npos; pos = text.find(m_literal, pos + m_literal.size()))
                    matches.emplace_back(pos, pos + m_literal.size());
            }
            // Matches before the end of the leading bytes shift it by their change in length; one that
            // reaches past it ends them with its replacement.
            long long shift = 0;
            std::optional<long long> end;
            for (const auto& [b, e] : matches) {
                if (b >= start)
                    break;
                if (e >= start) {
                    end = static_cast<long long>(b) + shift + static_cast<long long>(m_content.size());
                    break;
                }
                shift += static_cast<long long>(m_content.size()) - static_cast<long long>(e - b);
            }
            start = static_cast<std::size_t>(end ? *end : static_cast<long long>(start) + shift);
        }
        normalize(text);
        start = std::min(start, text.size());
    }
    std::string describe() const override { return "Replace"; }

private:
    std::string m_literal;
    std::unique_ptr<OnigRegex> m_regex;
    std::string m_content;
};

class ByteLevelNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override { text = bytelevel::encode(text); }
    std::string describe() const override { return "ByteLevel"; }
};

class SequenceNormalizer final : public Normalizer {
public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> items) : m_items(std::move(items)) {}
    void normalize(std::string& text) const override {
        for (const auto& n : m_items)
            n->normalize(text);
    }
    void normalizeTracking(std::string& text, std::size_t& start) const override {
        for (const auto& n : m_items)
            n->normalizeTracking(text, start);
    }
    std::string describe() const override {
        std::string s = "Sequence[";
        for (std::size_t i = 0; i < m_items.size(); ++i)
            s += (i ? ", " : "") + m_items[i]->describe();
        return s + "]";
    }

private:
    std::vector<std::unique_ptr<Normalizer>> m_items;
};

} // namespace

// Character-wise normalizers (case, accents, byte mapping, the normalization forms): the leading bytes
// are what the leading characters normalize to, extended over the characters they compose with.
void Normalizer::normalizeTracking(std::string& text, std::size_t& start) const {
    if (start == 0) {
        normalize(text);
        return;
    }
    const std::string before = text;
    normalize(text);
    std::size_t k = std::min(start, before.size());
    for (int extended = 0; extended < 32; ++extended) {
        std::string prefix = before.substr(0, k);
        normalize(prefix);
        if (text.compare(0, prefix.size(), prefix) == 0) {
            start = prefix.size();
            return;
        }
        if (k >= before.size())
            break;
        char32_t cp;
        k += utf8::decode(before, k, cp);
    }
    start = std::min(start, text.size());
}

std::unique_ptr<Normalizer> Normalizer::fromJson(const nlohmann::json& j, const std::string& where) {
    if (j.is_null())
        return nullptr;
    const std::string type = jsonf::requireString(j, "type", where);
    if (type == "NFC")
        return std::make_unique<UnicodeNormalizer>(unicode::Form::NFC, "NFC");
    if (type == "NFD")
        return std::make_unique<UnicodeNormalizer>(unicode::Form::NFD, "NFD");
    if (type == "NFKC")
        return std::make_unique<UnicodeNormalizer>(unicode::Form::NFKC, "NFKC");
    if (type == "NFKD")
        return std::make_unique<UnicodeNormalizer>(unicode::Form::NFKD, "NFKD");
    if (type == "Lowercase")
        return std::make_unique<LowercaseNormalizer>();
    if (type == "StripAccents")
        return std::make_unique<StripAccentsNormalizer>();
    if (type == "Strip")
        return std::make_unique<StripNormalizer>(jsonf::getBool(j, "strip_left", where, true),
                                                 jsonf::getBool(j, "strip_right", where, true));
    if (type == "Prepend")
        return std::make_unique<PrependNormalizer>(jsonf::requireString(j, "prepend", where));
    if (type == "Replace") {
        const auto& pattern = jsonf::require(j, "pattern", where);
        std::string literal;
        std::unique_ptr<OnigRegex> regex;
        if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string())
            literal = pattern["String"].get<std::string>();
        else
            regex = OnigRegex::fromPatternJson(pattern, where + ".pattern");
        return std::make_unique<ReplaceNormalizer>(std::move(literal), std::move(regex),
                                                   jsonf::requireString(j, "content", where));
    }
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelNormalizer>();
    if (type == "Sequence") {
        const auto& list = jsonf::require(j, "normalizers", where);
        if (!list.is_array())
            throw Error(where + ".normalizers: expected an array, found " + list.type_name());
        std::vector<std::unique_ptr<Normalizer>> items;
        for (std::size_t i = 0; i < list.size(); ++i)
            if (auto n = fromJson(list[i], where + ".normalizers[" + std::to_string(i) + "]"))
                items.push_back(std::move(n));
        return std::make_unique<SequenceNormalizer>(std::move(items));
    }
    throw Error(where + ": unsupported normalizer type \"" + type +
                    "\" (supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend, "
                    "ByteLevel, Sequence)",
                "this tokenizer needs a normalizer the workbench does not implement yet");
}

} // namespace rslora::models
