// tokenizer.json "pre_tokenizer": splits normalized text into pre-tokens (words) that BPE encodes
// one by one. Split (regex), ByteLevel, Metaspace, Sequence, Whitespace, WhitespaceSplit, Digits,
// Punctuation, CharDelimiterSplit and BertPreTokenizer.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace rslora::models {

struct PreToken {
    std::string text;
    // How many leading bytes of `text` come from the input's first character (offset 0 in the
    // reference's alignments); a piece with any starts the input (Metaspace's prepend_scheme "first").
    std::size_t startBytes = 0;
    bool atStart() const { return startBytes > 0; }
};

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    // Replaces every piece by its sub-pieces.
    void apply(std::vector<PreToken>& pieces) const;
    virtual void split(const PreToken& piece, std::vector<PreToken>& out) const = 0;
    virtual std::string describe() const = 0;

    static std::unique_ptr<PreTokenizer> fromJson(const nlohmann::json& j, const std::string& where);
};

// Names of the split patterns of well-known tokenizers, for describe(): "GPT-2", "Llama-3",
// "Qwen2"; empty when the pattern is none of them.
std::string knownSplitPatternName(const std::string& pattern);

namespace patterns {
extern const char* const kGpt2;
extern const char* const kLlama3;
extern const char* const kQwen2;
} // namespace patterns

} // namespace rslora::models
