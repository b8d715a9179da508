// Decoders, following tokenizers' decode_chain semantics token by token.
#include "models/tokenizer/Decoder.h"

#include "models/tokenizer/ByteLevel.h"
#include "models/tokenizer/JsonFields.h"
#include "models/tokenizer/OnigRegex.h"
#include "models/tokenizer/Utf8.h"

namespace rslora::models {

std::string Decoder::decode(std::vector<std::string> tokens) const {
    decodeChain(tokens);
    std::string out;
    for (const auto& t : tokens)
        out += t;
    return out;
}

namespace {

class ByteLevelDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override {
        std::string bytes;
        for (const auto& t : tokens)
            bytelevel::appendTokenBytes(bytes, t);
        tokens.assign(1, utf8::sanitize(bytes));
    }
    std::string describe() const override { return "ByteLevel"; }
};

class ByteFallbackDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        std::string pending;
        std::size_t pendingCount = 0;
        auto flush = [&] {
            if (pendingCount == 0)
                return;
            if (utf8::isValid(pending)) {
                out.push_back(pending);
            } else {
                for (std::size_t i = 0; i < pendingCount; ++i)
                    out.push_back(utf8::encode(utf8::kReplacementChar));
            }
            pending.clear();
            pendingCount = 0;
        };
        for (auto& t : tokens) {
            int byte = -1;
            if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
                auto hex = [](char c) {
                    if (c >= '0' && c <= '9') return c - '0';
                    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                    return -1;
                };
                const int hi = hex(t[3]), lo = hex(t[4]);
                if (hi >= 0 && lo >= 0)
                    byte = hi * 16 + lo;
            }
            if (byte >= 0) {
                pending.push_back(static_cast<char>(byte));
                ++pendingCount;
            } else {
                flush();
                out.push_back(std::move(t));
            }
        }
        flush();
        tokens = std::move(out);
    }
    std::string describe() const override { return "ByteFallback"; }
};

class FuseDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const auto& t : tokens)
            all += t;
        tokens.assign(1, all);
    }
    std::string describe() const override { return "Fuse"; }
};

class StripDecoder final : public Decoder {
public:
    StripDecoder(char32_t content, std::size_t start, std::size_t stop) : m_content(content), m_start(start), m_stop(stop) {}
    void decodeChain(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens) {
            auto cps = utf8::toCodePoints(t);
            std::size_t startCut = 0;
            for (std::size_t i = 0; i < m_start && i < cps.size(); ++i) {
                if (cps[i] != m_content)
                    break;
                startCut = i + 1;
            }
            std::size_t stopCut = cps.size();
            for (std::size_t i = 0; i < m_stop && i < cps.size(); ++i) {
                const std::size_t index = cps.size() - i - 1;
                if (cps[index] != m_content)
                    break;
                stopCut = index;
            }
            if (stopCut < startCut)
                stopCut = startCut;
            t = utf8::fromCodePoints(std::vector<char32_t>(cps.begin() + startCut, cps.begin() + stopCut));
        }
    }
    std::string describe() const override { return "Strip"; }

private:
    char32_t m_content;
    std::size_t m_start, m_stop;
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(std::unique_ptr<OnigRegex> regex, std::string content) : m_regex(std::move(regex)), m_content(std::move(content)) {}
    void decodeChain(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens)
            t = m_regex->replaceAll(t, m_content);
    }
    std::string describe() const override { return "Replace"; }

private:
    std::unique_ptr<OnigRegex> m_regex;
    std::string m_content;
};

class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(std::string replacement, bool prepend) : m_replacement(std::move(replacement)), m_prepend(prepend) {}
    void decodeChain(std::vector<std::string>& tokens) const override {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            std::string out;
            const std::string& t = tokens[i];
            std::size_t pos = 0;
            while (pos < t.size()) {
                if (t.compare(pos, m_replacement.size(), m_replacement) == 0) {
                    if (!(i == 0 && m_prepend))
                        out += ' ';
                    pos += m_replacement.size();
                } else {
                    out += t[pos++];
                }
            }
            tokens[i] = std::move(out);
        }
    }
    std::string describe() const override { return "Metaspace"; }

private:
    std::string m_replacement;
    bool m_prepend;
};

class BpeSuffixDecoder final : public Decoder {
public:
    explicit BpeSuffixDecoder(std::string suffix) : m_suffix(std::move(suffix)) {}
    void decodeChain(std::vector<std::string>& tokens) const override {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            std::string& t = tokens[i];
            const std::string replacement = i + 1 == tokens.size() ? "" : " ";
            std::string out;
            std::size_t last = 0, pos;
            while (!m_suffix.empty() && (pos = t.find(m_suffix, last)) != std::string::npos) {
                out.append(t, last, pos - last);
                out += replacement;
                last = pos + m_suffix.size();
            }
            out.append(t, last, std::string::npos);
            t = std::move(out);
        }
    }
    std::string describe() const override { return "BPEDecoder"; }

private:
    std::string m_suffix;
};

class WordPieceDecoder final : public Decoder {
public:
    WordPieceDecoder(std::string prefix, bool cleanup) : m_prefix(std::move(prefix)), m_cleanup(cleanup) {}
    void decodeChain(std::vector<std::string>& tokens) const override {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            std::string& t = tokens[i];
            if (i != 0) {
                if (t.compare(0, m_prefix.size(), m_prefix) == 0)
                    t.erase(0, m_prefix.size());
                else
                    t.insert(0, " ");
            }
            if (m_cleanup)
                t = cleanup(t);
        }
    }
    std::string describe() const override { return "WordPiece"; }

    static std::string cleanup(std::string s) {
        static const std::pair<const char*, const char*> rules[] = {
            {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
            {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
        for (const auto& [from, to] : rules) {
            std::string out;
            const std::string f = from;
            std::size_t last = 0, pos;
            while ((pos = s.find(f, last)) != std::string::npos) {
                out.append(s, last, pos - last);
                out += to;
                last = pos + f.size();
            }
            out.append(s, last, std::string::npos);
            s = std::move(out);
        }
        return s;
    }

private:
    std::string m_prefix;
    bool m_cleanup;
};

class SequenceDecoder final : public Decoder {
public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> items) : m_items(std::move(items)) {}
    void decodeChain(std::vector<std::string>& tokens) const override {
        for (const auto& d : m_items)
            d->decodeChain(tokens);
    }
    std::string describe() const override {
        std::string s;
        for (std::size_t i = 0; i < m_items.size(); ++i)
            s += (i ? " + " : "") + m_items[i]->describe();
        return s;
    }

private:
    std::vector<std::unique_ptr<Decoder>> m_items;
};

char32_t singleChar(const std::string& s, const std::string& where) {
    const auto cps = utf8::toCodePoints(s);
    if (cps.size() != 1)
        throw Error(where + ": expected one character, found \"" + s + "\"");
    return cps[0];
}

} // namespace

std::unique_ptr<Decoder> Decoder::fromJson(const nlohmann::json& j, const std::string& where) {
    if (j.is_null())
        return nullptr;
    const std::string type = jsonf::requireString(j, "type", where);
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelDecoder>();
    if (type == "ByteFallback")
        return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse")
        return std::make_unique<FuseDecoder>();
    if (type == "Strip") {
        const std::string content = jsonf::requireString(j, "content", where);
        return std::make_unique<StripDecoder>(singleChar(content, where + ".content"),
                                              static_cast<std::size_t>(jsonf::getInt(j, "start", where, 0)),
                                              static_cast<std::size_t>(jsonf::getInt(j, "stop", where, 0)));
    }
    if (type == "Replace")
        return std::make_unique<ReplaceDecoder>(
            OnigRegex::fromPatternJson(jsonf::require(j, "pattern", where), where + ".pattern"),
            jsonf::requireString(j, "content", where));
    if (type == "Metaspace") {
        const std::string replacement = jsonf::requireString(j, "replacement", where);
        singleChar(replacement, where + ".replacement");
        std::string scheme = jsonf::getString(j, "prepend_scheme", where, "always");
        if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>())
            scheme = "never";
        return std::make_unique<MetaspaceDecoder>(replacement, scheme != "never");
    }
    if (type == "BPEDecoder")
        return std::make_unique<BpeSuffixDecoder>(jsonf::getString(j, "suffix", where, "</w>"));
    if (type == "WordPiece")
        return std::make_unique<WordPieceDecoder>(jsonf::getString(j, "prefix", where, "##"),
                                                  jsonf::getBool(j, "cleanup", where, true));
    if (type == "Sequence") {
        const auto& list = jsonf::require(j, "decoders", where);
        if (!list.is_array())
            throw Error(where + ".decoders: expected an array");
        std::vector<std::unique_ptr<Decoder>> items;
        for (std::size_t i = 0; i < list.size(); ++i)
            if (auto d = fromJson(list[i], where + ".decoders[" + std::to_string(i) + "]"))
                items.push_back(std::move(d));
        return std::make_unique<SequenceDecoder>(std::move(items));
    }
    throw Error(where + ": unsupported decoder type \"" + type +
                "\" (supported: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, BPEDecoder, WordPiece, "
                "Sequence)");
}

} // namespace rslora::models
