// A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) in C++: byte-level BPE
// (GPT-2, Llama-3, Qwen2/3) and SentencePiece-style BPE with byte fallback (Llama-2, Mistral),
// producing the same ids as the Rust `tokenizers` library. Immutable after loading; copies share
// the loaded data and may be used from several threads.
//
// Invalid UTF-8 input is not an error: each maximal invalid subsequence is replaced by U+FFFD
// before encoding (the rule of Python's errors="replace" and Rust's from_utf8_lossy).
#pragma once

#include "models/tokenizer/AddedVocabulary.h"
#include "models/tokenizer/TokenizerConfig.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rslora::models {

struct EncodeOptions {
    // Add the post-processor's special tokens (BOS for Llama, nothing for Qwen).
    bool addSpecialTokens = true;
    // Recognise special tokens written in the text ("<|im_end|>" -> one id). false treats them as
    // plain text (transformers' split_special_tokens=True). Unset: the tokenizer_config.json value.
    std::optional<bool> parseSpecialTokens;
};

struct Encoding {
    std::vector<int64_t> ids;
    std::vector<std::string> tokens; // vocabulary strings ("Ġworld", "<|im_end|>")
    std::vector<bool> special;       // added/special token or post-processor token
};

class Tokenizer {
public:
    // `path` is a model folder (tokenizer.json, tokenizer_config.json, chat_template.jinja) or a
    // tokenizer.json file (the config beside it is read when present).
    static Tokenizer load(const std::filesystem::path& path);
    // Whether the folder `dir` holds files load() reads: tokenizer.json, or vocab.json with
    // merges.txt. Callers for whom a tokenizer is optional ask this rather than probing names.
    static bool existsIn(const std::filesystem::path& dir);
    // From tokenizer.json text; `where` names it in error messages.
    static Tokenizer fromJsonString(std::string_view json, TokenizerConfig config = {},
                                    const std::string& where = "tokenizer.json");

    std::vector<int64_t> encode(std::string_view text, bool addSpecialTokens = true) const;
    Encoding encodeDetailed(std::string_view text, const EncodeOptions& options = {}) const;

    // Ids -> text through the tokenizer's decoder (byte joining, byte fallback, Metaspace).
    // Unknown ids are skipped. `cleanUpTokenizationSpaces` applies transformers' " ." -> "." rules.
    std::string decode(const std::vector<int64_t>& ids, bool skipSpecialTokens = false,
                       bool cleanUpTokenizationSpaces = false) const;

    std::optional<int64_t> tokenToId(std::string_view token) const;
    std::optional<std::string> idToToken(int64_t id) const;
    // Model vocabulary plus added tokens not in it.
    std::size_t vocabSize(bool withAddedTokens = true) const;
    // Largest id + 1 (the embedding rows needed).
    int64_t idLimit() const;
    bool isSpecialId(int64_t id) const;
    const std::vector<AddedToken>& addedTokens() const;

    const TokenizerConfig& config() const;
    std::optional<std::string> bosToken() const;
    std::optional<std::string> eosToken() const;
    std::optional<std::string> padToken() const;
    std::optional<int64_t> bosId() const;
    std::optional<int64_t> eosId() const;
    std::optional<int64_t> padId() const;
    // What encode(..., addSpecialTokens = true) puts before and after the text.
    std::vector<int64_t> prefixSpecialIds() const;
    std::vector<int64_t> suffixSpecialIds() const;

    // One-line summary for `rslora inspect`, e.g.
    // "byte-level BPE (Qwen2 split pattern), vocab 151643 + 26 added, normalizer NFC, adds nothing; eos <|im_end|>".
    std::string describe() const;
    // "byte-level-bpe", "sentencepiece-bpe" or "bpe".
    std::string kindName() const;
    const std::string& source() const;

private:
    struct Impl;
    static Tokenizer build(const nlohmann::json& j, TokenizerConfig config, const std::string& where);
    std::shared_ptr<const Impl> m_impl;
};

// Incremental decoding for streaming generation: feed ids one at a time and get the text that
// became final. Holds back output while the tail would end in an incomplete UTF-8 character
// (tokenizers' DecodeStream).
class DecodeStream {
public:
    explicit DecodeStream(Tokenizer tokenizer, bool skipSpecialTokens = true);
    // Returns newly completed text (possibly empty).
    std::string step(int64_t id);

private:
    Tokenizer m_tokenizer;
    bool m_skipSpecial;
    std::vector<int64_t> m_ids;
    std::string m_prefix;
    std::size_t m_prefixIndex = 0;
};

} // namespace rslora::models
