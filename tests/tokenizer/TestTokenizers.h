// Small tokenizer.json documents built in code for the unit tests (no downloads): a byte-level BPE
// (GPT-2 alphabet + chosen words and merges) and a SentencePiece-style BPE with byte fallback.
#pragma once

#include "models/tokenizer/ByteLevel.h"
#include "models/tokenizer/Tokenizer.h"
#include "models/tokenizer/Utf8.h"

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace testtok {

using nlohmann::json;

struct ByteLevelSpec {
    std::vector<std::string> words;                              // extra vocabulary entries (byte-level form)
    std::vector<std::pair<std::string, std::string>> merges;     // in rank order
    bool pairMerges = false;                                     // ["a","b"] instead of "a b"
    bool ignoreMerges = false;
    json preTokenizer = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    json normalizer = nullptr;
    json postProcessor = nullptr;
    json addedTokens = json::array();
};

// Ids: the 256 byte characters first (id = byte value order of bytes_to_unicode), then `words`.
inline json byteLevelJson(const ByteLevelSpec& spec) {
    json vocab = json::object();
    int next = 0;
    for (int b = 0; b < 256; ++b)
        vocab[rslora::models::bytelevel::byteToChars()[b]] = next++;
    for (const auto& w : spec.words)
        if (!vocab.contains(w))
            vocab[w] = next++;
    json merges = json::array();
    for (const auto& [a, b] : spec.merges) {
        if (spec.pairMerges)
            merges.push_back(json::array({a, b}));
        else
            merges.push_back(a + " " + b);
    }
    json added = spec.addedTokens;
    for (auto& t : added)
        if (!t.contains("id"))
            t["id"] = next++;
    return json{{"version", "1.0"},
                {"truncation", nullptr},
                {"padding", nullptr},
                {"added_tokens", added},
                {"normalizer", spec.normalizer},
                {"pre_tokenizer", spec.preTokenizer},
                {"post_processor", spec.postProcessor},
                {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
                {"model",
                 {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                  {"ignore_merges", spec.ignoreMerges}, {"vocab", vocab}, {"merges", merges}}}};
}

inline json addedToken(const std::string& content, bool special = true, bool normalized = false, bool lstrip = false,
                       bool rstrip = false, bool singleWord = false) {
    return json{{"content", content}, {"single_word", singleWord}, {"lstrip", lstrip}, {"rstrip", rstrip},
                {"normalized", normalized}, {"special", special}};
}

inline rslora::models::Tokenizer make(const json& j, rslora::models::TokenizerConfig config = {}) {
    return rslora::models::Tokenizer::fromJsonString(j.dump(), std::move(config), "test tokenizer.json");
}

// SentencePiece-style (Llama-2 legacy conversion): Prepend("▁") + Replace(" " -> "▁"), no
// pre-tokenizer, byte fallback, <unk>, <s>, </s>, TemplateProcessing "<s> $A".
inline json spmJson(const std::vector<std::string>& words, const std::vector<std::pair<std::string, std::string>>& merges,
                    bool fuseUnk = true, bool withBytes = true, json normalizer = nullptr, json preTokenizer = nullptr) {
    json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
    int next = 3;
    if (withBytes)
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            vocab[name] = next++;
        }
    json m = json::array();
    for (const auto& [a, b] : merges)
        m.push_back(a + " " + b);
    // Each word gets its characters and a left-to-right chain of merges ("▁H e", "▁He l", ...).
    for (const auto& w : words) {
        const auto cps = rslora::models::utf8::toCodePoints(w);
        std::string prefix;
        for (std::size_t i = 0; i < cps.size(); ++i) {
            const std::string c = rslora::models::utf8::encode(cps[i]);
            if (!vocab.contains(c))
                vocab[c] = next++;
            if (i > 0) {
                if (!vocab.contains(prefix + c))
                    vocab[prefix + c] = next++;
                m.push_back(prefix + " " + c);
            }
            prefix += c;
        }
    }
    if (normalizer.is_null() && preTokenizer.is_null())
        normalizer = {{"type", "Sequence"},
                      {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", "\u2581"}},
                                                   {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}})}};
    return json{
        {"version", "1.0"},
        {"added_tokens", json::array({json{{"id", 0}, {"content", "<unk>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}},
                                      json{{"id", 1}, {"content", "<s>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}},
                                      json{{"id", 2}, {"content", "</s>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}}})},
        {"normalizer", normalizer},
        {"pre_tokenizer", preTokenizer},
        {"post_processor",
         {{"type", "TemplateProcessing"},
          {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
          {"pair", json::array()},
          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", json::array({1})}, {"tokens", json::array({"<s>"})}}}}}}},
        {"decoder",
         {{"type", "Sequence"},
          {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                    {{"type", "ByteFallback"}},
                                    {{"type", "Fuse"}},
                                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
        {"model",
         {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr}, {"fuse_unk", fuseUnk}, {"byte_fallback", withBytes}, {"vocab", vocab}, {"merges", m}}}};
}

inline std::vector<std::string> tokens(const rslora::models::Tokenizer& t, const std::string& text, bool special = false) {
    rslora::models::EncodeOptions o;
    o.addSpecialTokens = special;
    return t.encodeDetailed(text, o).tokens;
}

struct BadFile {
    const char* name;
    std::string json;
    std::string message;
};

// Malformed tokenizer.json texts and a part of the error each must produce.
inline std::vector<BadFile> badTokenizerFiles() {
    return {
        {"not json", "{\"version\": ", "invalid JSON: parse error at line 1"}, // without the JSON library's id
        {"bad version", R"({"version": "2.0", "model": {"type": "BPE", "vocab": {}, "merges": []}})", "unknown tokenizer.json version"},
        {"no model", R"({"version": "1.0"})", "missing field \"model\""},
        {"unigram", R"({"version": "1.0", "model": {"type": "Unigram", "vocab": []}})", "unsupported model type \"Unigram\""},
        {"merge not in vocab", R"({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})", "merges[0]: merged token \"ab\""},
        {"bad merge string", R"({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}})", "exactly one space"},
        {"bad regex", R"({"version": "1.0", "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated"}, "model": {"type": "BPE", "vocab": {}, "merges": []}})", "invalid regular expression"},
        {"unknown normalizer", R"({"version": "1.0", "normalizer": {"type": "Precompiled"}, "model": {"type": "BPE", "vocab": {}, "merges": []}})", "unsupported normalizer type \"Precompiled\""},
        {"negative id", R"({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}})", "non-negative integer id"},
        {"id beyond 2^31", R"({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 4000000000}, "merges": []}})",
         "vocab[\"a\"]: id 4000000000 is above the largest supported id (2147483647)"},
        {"id beyond 2^64", R"({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 18446744073709551615}, "merges": []}})",
         "vocab[\"a\"]: id 18446744073709551615 is above the largest supported id (2147483647)"},
        // The stored id of an added token is not used, but it must be there and be a u32, as the reference requires.
        {"added id negative", R"({"version": "1.0", "added_tokens": [{"id": -1, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
         "added_tokens[0].id: expected an id from 0 to 4294967295, found -1"},
        {"added id missing", R"({"version": "1.0", "added_tokens": [{"content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
         "added_tokens[0]: missing field \"id\""},
    };
}

} // namespace testtok
