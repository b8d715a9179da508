// tokenizer_config.json (the transformers layer over tokenizer.json): special-token names,
// add_bos_token / add_eos_token, clean-up of spaces, and the chat templates (also read from
// chat_template.jinja and additional_chat_templates/*.jinja, which take priority).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rslora::models {

// An entry of tokenizer_config.json's added_tokens_decoder, or a special token written as an
// {"__type": "AddedToken", ...} object.
struct ConfigAddedToken {
    long long id = 0;
    std::string content;
    bool special = false;
    bool normalized = false;
    bool lstrip = false;
    bool rstrip = false;
    bool singleWord = false;
};

struct TokenizerConfig {
    std::string tokenizerClass;
    std::optional<std::string> bosToken;
    std::optional<std::string> eosToken;
    std::optional<std::string> padToken;
    std::optional<std::string> unkToken;
    std::optional<std::string> sepToken;
    std::optional<std::string> clsToken;
    std::optional<std::string> maskToken;
    // additional_special_tokens, then extra_special_tokens (a list, or a dict of named tokens), then
    // model_specific_special_tokens (transformers 5: a dict of named tokens such as image_token).
    std::vector<std::string> additionalSpecialTokens;
    // The named ones of those dicts ("image_token" -> "<|image_pad|>"): chat templates see them as
    // variables, as transformers passes its special-tokens map.
    std::map<std::string, std::string> namedSpecialTokens;
    // The special-token keys the files set, null included (class defaults fill only the others).
    std::vector<std::string> specialTokenKeys;
    // Special tokens given as AddedToken objects, by content: their flags.
    std::map<std::string, ConfigAddedToken> specialTokenObjects;
    std::optional<bool> addBosToken;
    std::optional<bool> addEosToken;
    bool cleanUpTokenizationSpaces = false;
    bool splitSpecialTokens = false;
    bool addPrefixSpace = false;
    std::vector<ConfigAddedToken> addedTokens; // added_tokens_decoder, by id
    std::optional<long long> modelMaxLength; // absent or "unbounded" (1e30) -> nullopt
    // Named chat templates; the unnamed one is "default".
    std::map<std::string, std::string> chatTemplates;
    // Where each piece came from, for messages.
    std::string sourcePath;

    const std::string* chatTemplate(const std::string& name = "default") const;
    // The tokenizer_config.json path for messages (sourcePath may name the folder).
    std::string fileName() const;
    // transformers' all_special_tokens: bos, eos, unk, sep, pad, cls, mask, then the additional ones,
    // each once.
    std::vector<std::string> allSpecialTokens() const;

    // Parses tokenizer_config.json text; `where` names the file in errors.
    static TokenizerConfig fromJson(const nlohmann::json& j, const std::string& where);
    // Reads dir/tokenizer_config.json when present, then dir/chat_template.jinja,
    // dir/chat_template.json and dir/additional_chat_templates/*.jinja. A missing folder is an error;
    // missing files are not.
    static TokenizerConfig loadFromDirectory(const std::filesystem::path& dir);
};

} // namespace rslora::models
