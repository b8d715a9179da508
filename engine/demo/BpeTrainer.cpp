// The demo's BPE trainer (see BpeTrainer.h).
#include "engine/demo/BpeTrainer.h"

#include "common/Error.h"

#include <cctype>
#include <set>

namespace rslora::engine {

namespace {

bool isLetter(unsigned char c) { return std::isalpha(c) || c >= 0x80; }
bool isDigit(unsigned char c) { return std::isdigit(c) != 0; }
bool isSpace(unsigned char c) { return std::isspace(c) != 0; }

} // namespace

std::string BpeTrainer::byteToUnicode(unsigned char b)
{
    // Bytes that are printable Latin-1 stand for themselves; the others are shifted to U+0100...
    auto printable = [](int c) { return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF); };
    int code = b;
    if (!printable(b)) {
        int n = 0;
        for (int c = 0; c < b; ++c)
            n += !printable(c);
        code = 256 + n;
    }
    std::string out;
    if (code < 0x80) {
        out += char(code);
    } else {
        out += char(0xC0 | (code >> 6));
        out += char(0x80 | (code & 0x3F));
    }
    return out;
}

std::vector<std::string> BpeTrainer::preTokenize(const std::string& text)
{
    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ with each digit alone.
    std::vector<std::string> out;
    const size_t n = text.size();
    size_t i = 0;
    auto u = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    while (i < n) {
        const size_t start = i;
        if (text[i] == '\'') {
            bool matched = false;
            for (const char* c : {"s", "t", "re", "ve", "m", "ll", "d"}) {
                const std::string suffix(c);
                if (text.compare(i + 1, suffix.size(), suffix) == 0) {
                    out.push_back(text.substr(i, 1 + suffix.size()));
                    i += 1 + suffix.size();
                    matched = true;
                    break;
                }
            }
            if (matched)
                continue;
        }
        size_t j = i;
        // Digits are isolated before the ByteLevel step, so a space never joins a digit.
        if (text[j] == ' ' && j + 1 < n && !isSpace(u(j + 1)) && !isDigit(u(j + 1)))
            ++j;
        if (isLetter(u(j))) {
            while (j < n && isLetter(u(j)))
                ++j;
        } else if (isDigit(u(j))) {
            ++j; // digits are split one by one before the ByteLevel step
        } else if (!isSpace(u(j))) {
            while (j < n && !isSpace(u(j)) && !isLetter(u(j)) && !isDigit(u(j)))
                ++j;
        } else {
            // Whitespace: a run, leaving its last character to the next word when one follows.
            while (j < n && isSpace(u(j)))
                ++j;
            if (j < n && j - start > 1)
                --j;
        }
        if (j == start)
            ++j;
        out.push_back(text.substr(start, j - start));
        i = j;
    }
    return out;
}

void BpeTrainer::addText(const std::string& text, int64_t weight)
{
    for (const auto& w : preTokenize(text))
        m_words[w] += weight;
}

void BpeTrainer::train(int vocabSize)
{
    m_vocab.clear();
    m_merges.clear();
    for (int b = 0; b < 256; ++b)
        m_vocab.push_back(byteToUnicode(static_cast<unsigned char>(b)));
    if (vocabSize < 256)
        throw Error("a byte-level BPE vocabulary needs at least 256 entries, asked for " + std::to_string(vocabSize));
    struct Word {
        std::vector<std::string> symbols;
        int64_t count;
    };
    std::vector<Word> words;
    for (const auto& [w, count] : m_words) {
        Word word{{}, count};
        for (unsigned char c : w)
            word.symbols.push_back(byteToUnicode(c));
        words.push_back(std::move(word));
    }
    std::set<std::string> known(m_vocab.begin(), m_vocab.end());
    while (int(m_vocab.size()) < vocabSize) {
        std::map<std::pair<std::string, std::string>, int64_t> pairs;
        for (const auto& w : words)
            for (size_t i = 0; i + 1 < w.symbols.size(); ++i)
                pairs[{w.symbols[i], w.symbols[i + 1]}] += w.count;
        const std::pair<std::string, std::string>* best = nullptr;
        int64_t bestCount = 1;
        for (const auto& [p, c] : pairs)
            if (c > bestCount) { // map order: the first of equal counts is the smallest pair
                best = &p;
                bestCount = c;
            }
        if (!best)
            break;
        const auto merge = *best;
        const std::string joined = merge.first + merge.second;
        m_merges.push_back(merge);
        if (known.insert(joined).second)
            m_vocab.push_back(joined);
        for (auto& w : words) {
            std::vector<std::string> merged;
            for (size_t i = 0; i < w.symbols.size(); ++i) {
                if (i + 1 < w.symbols.size() && w.symbols[i] == merge.first && w.symbols[i + 1] == merge.second) {
                    merged.push_back(joined);
                    ++i;
                } else {
                    merged.push_back(w.symbols[i]);
                }
            }
            w.symbols = std::move(merged);
        }
    }
}

nlohmann::ordered_json BpeTrainer::tokenizerJson(const std::vector<std::string>& specialTokens) const
{
    using ojson = nlohmann::ordered_json;
    ojson added = ojson::array();
    for (size_t i = 0; i < specialTokens.size(); ++i)
        added.push_back({{"id", int64_t(m_vocab.size() + i)},
                         {"content", specialTokens[i]},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", false},
                         {"special", true}});
    ojson vocab = ojson::object();
    for (size_t i = 0; i < m_vocab.size(); ++i)
        vocab[m_vocab[i]] = int64_t(i);
    ojson merges = ojson::array();
    for (const auto& [a, b] : m_merges)
        merges.push_back(ojson::array({a, b}));
    const ojson byteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    ojson j;
    j["version"] = "1.0";
    j["truncation"] = nullptr;
    j["padding"] = nullptr;
    j["added_tokens"] = added;
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers", ojson::array({ojson{{"type", "Digits"}, {"individual_digits", true}}, byteLevel})}};
    j["post_processor"] = nullptr;
    j["decoder"] = byteLevel;
    j["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", nullptr},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", false},
                  {"byte_fallback", false},
                  {"ignore_merges", false},
                  {"vocab", vocab},
                  {"merges", merges}};
    return j;
}

} // namespace rslora::engine
