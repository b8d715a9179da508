// Reading tokenizer_config.json and the chat template files beside it.
#include "models/tokenizer/TokenizerConfig.h"

#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "common/ReadWholeFile.h"
#include "models/tokenizer/JsonFields.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>
#include <fstream>
#include <sstream>

namespace rslora::models {

namespace {

ConfigAddedToken addedTokenObject(const nlohmann::json& j, const std::string& where) {
    ConfigAddedToken a;
    a.content = jsonf::requireString(j, "content", where);
    a.special = jsonf::getBool(j, "special", where, false);
    a.normalized = jsonf::getBool(j, "normalized", where, !a.special);
    a.lstrip = jsonf::getBool(j, "lstrip", where, false);
    a.rstrip = jsonf::getBool(j, "rstrip", where, false);
    a.singleWord = jsonf::getBool(j, "single_word", where, false);
    return a;
}

// A special token: "text", null, or {"__type": "AddedToken", "content": "text", ...} (whose flags are
// kept in `objects`).
std::optional<std::string> specialToken(const nlohmann::json& value, const std::string& where,
                                        std::map<std::string, ConfigAddedToken>* objects) {
    if (value.is_null())
        return std::nullopt;
    if (value.is_string())
        return value.get<std::string>();
    if (value.is_object() && value.contains("content") && value["content"].is_string()) {
        if (objects) {
            ConfigAddedToken a = addedTokenObject(value, where);
            // Named special tokens are always special for transformers; without a "normalized" flag
            // the token is then not normalized.
            a.special = true;
            a.normalized = jsonf::getBool(value, "normalized", where, false);
            (*objects)[a.content] = a;
        }
        return value["content"].get<std::string>();
    }
    throw Error(where + ": expected a string, null or an AddedToken object, found " + value.dump());
}

std::optional<std::string> tokenField(const nlohmann::json& j, const char* key, const std::string& where,
                                      TokenizerConfig& c) {
    auto it = j.find(key);
    if (it == j.end())
        return std::nullopt;
    c.specialTokenKeys.push_back(key);
    return specialToken(*it, where + "." + key, &c.specialTokenObjects);
}

// The named special-token keys of tokenizer_config.json and special_tokens_map.json.
const std::pair<const char*, std::optional<std::string> TokenizerConfig::*> kSpecialTokenKeys[] = {
    {"bos_token", &TokenizerConfig::bosToken}, {"eos_token", &TokenizerConfig::eosToken},
    {"unk_token", &TokenizerConfig::unkToken}, {"sep_token", &TokenizerConfig::sepToken},
    {"pad_token", &TokenizerConfig::padToken}, {"cls_token", &TokenizerConfig::clsToken},
    {"mask_token", &TokenizerConfig::maskToken}};

// additional_special_tokens (a list), extra_special_tokens (a list in transformers 5, a dict of
// model-specific named tokens before) and model_specific_special_tokens (transformers 5's dict of named
// tokens).
void readAdditionalTokens(const nlohmann::json& j, const std::string& where, TokenizerConfig& c) {
    for (const char* key : {"additional_special_tokens", "extra_special_tokens", "model_specific_special_tokens"}) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null())
            continue;
        const std::string here = where + "." + key;
        if (!it->is_array() && !it->is_object())
            throw Error(here + ": expected a list of tokens, found " + std::string(it->type_name()),
                        "write the tokens as a list of strings");
        for (auto t = it->begin(); t != it->end(); ++t) {
            const std::string item = it->is_array() ? here + "[" + std::to_string(t - it->begin()) + "]"
                                                    : here + ".\"" + t.key() + "\"";
            if (it->is_object() && t.value().is_array()) {
                // A named list (e.g. {"num_token": ["<n1>", "<n2>"]}): each item is a special token.
                for (std::size_t k = 0; k < t.value().size(); ++k)
                    if (auto token = specialToken(t.value()[k], item + "[" + std::to_string(k) + "]", &c.specialTokenObjects))
                        c.additionalSpecialTokens.push_back(*token);
                continue;
            }
            auto token = specialToken(t.value(), item, &c.specialTokenObjects);
            if (!token)
                continue;
            if (std::find(c.additionalSpecialTokens.begin(), c.additionalSpecialTokens.end(), *token) ==
                c.additionalSpecialTokens.end())
                c.additionalSpecialTokens.push_back(*token);
            if (it->is_object())
                c.namedSpecialTokens.emplace(t.key(), *token);
        }
    }
}

} // namespace

std::string TokenizerConfig::fileName() const {
    if (sourcePath.empty())
        return "tokenizer_config.json";
    if (sourcePath.size() >= 5 && sourcePath.compare(sourcePath.size() - 5, 5, ".json") == 0)
        return sourcePath;
    return (std::filesystem::path(sourcePath) / "tokenizer_config.json").string();
}

std::vector<std::string> TokenizerConfig::allSpecialTokens() const {
    std::vector<std::string> all;
    auto put = [&](const std::optional<std::string>& t) {
        if (t && std::find(all.begin(), all.end(), *t) == all.end())
            all.push_back(*t);
    };
    for (const auto* t : {&bosToken, &eosToken, &unkToken, &sepToken, &padToken, &clsToken, &maskToken})
        put(*t);
    for (const auto& t : additionalSpecialTokens)
        put(t);
    return all;
}

namespace {

void readTemplates(const nlohmann::json& value, const std::string& where, std::map<std::string, std::string>& out) {
    if (value.is_null())
        return;
    if (value.is_string()) {
        out["default"] = value.get<std::string>();
        return;
    }
    if (value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            const auto& item = value[i];
            const std::string here = where + "[" + std::to_string(i) + "]";
            out[jsonf::requireString(item, "name", here)] = jsonf::requireString(item, "template", here);
        }
        return;
    }
    throw Error(where + ": expected a template string or a list of {name, template}, found " + value.type_name());
}

} // namespace

const std::string* TokenizerConfig::chatTemplate(const std::string& name) const {
    auto it = chatTemplates.find(name);
    return it == chatTemplates.end() ? nullptr : &it->second;
}

TokenizerConfig TokenizerConfig::fromJson(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object())
        throw Error(where + ": expected a JSON object, found " + std::string(j.type_name()));
    TokenizerConfig c;
    c.tokenizerClass = jsonf::getString(j, "tokenizer_class", where);
    for (const auto& [key, member] : kSpecialTokenKeys)
        c.*member = tokenField(j, key, where, c);
    readAdditionalTokens(j, where, c);
    if (j.contains("add_bos_token") && j["add_bos_token"].is_boolean())
        c.addBosToken = j["add_bos_token"].get<bool>();
    if (j.contains("add_eos_token") && j["add_eos_token"].is_boolean())
        c.addEosToken = j["add_eos_token"].get<bool>();
    c.cleanUpTokenizationSpaces = jsonf::getBool(j, "clean_up_tokenization_spaces", where, false);
    c.splitSpecialTokens = jsonf::getBool(j, "split_special_tokens", where, false);
    if (auto it = j.find("model_max_length"); it != j.end() && it->is_number()) {
        const double v = it->get<double>();
        if (v > 0 && v < 1e15)
            c.modelMaxLength = static_cast<long long>(v);
    }
    c.addPrefixSpace = jsonf::getBool(j, "add_prefix_space", where, false);
    if (auto it = j.find("added_tokens_decoder"); it != j.end() && it->is_object()) {
        for (auto t = it->begin(); t != it->end(); ++t) {
            const std::string here = where + ".added_tokens_decoder[\"" + t.key() + "\"]";
            long long id = 0;
            try {
                std::size_t used = 0;
                id = std::stoll(t.key(), &used);
                if (used != t.key().size())
                    throw std::invalid_argument("trailing characters");
            } catch (const std::exception&) {
                throw Error(here + ": the key must be a token id");
            }
            ConfigAddedToken a = addedTokenObject(t.value(), here);
            a.id = id;
            c.addedTokens.push_back(std::move(a));
        }
        std::sort(c.addedTokens.begin(), c.addedTokens.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
    }
    if (auto it = j.find("chat_template"); it != j.end())
        readTemplates(*it, where + ".chat_template", c.chatTemplates);
    c.sourcePath = where;
    return c;
}

TokenizerConfig TokenizerConfig::loadFromDirectory(const std::filesystem::path& dir) {
    if (!std::filesystem::is_directory(dir))
        throw Error("tokenizer folder " + dir.string() + " does not exist or is not a folder");
    TokenizerConfig c;
    const auto cfgPath = dir / "tokenizer_config.json";
    if (std::filesystem::exists(cfgPath)) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(readWholeFile(cfgPath));
        } catch (const nlohmann::json::exception& e) {
            throw Error(cfgPath.string() + ": invalid JSON: " + jsonErrorText(e));
        }
        c = fromJson(j, cfgPath.string());
    }
    // Older folders keep the special tokens in special_tokens_map.json.
    const auto mapPath = dir / "special_tokens_map.json";
    if (std::filesystem::exists(mapPath)) {
        try {
            const auto j = nlohmann::json::parse(readWholeFile(mapPath));
            if (j.is_object()) {
                const std::string where = mapPath.string();
                for (const auto& [key, member] : kSpecialTokenKeys)
                    if (!(c.*member))
                        c.*member = tokenField(j, key, where, c);
                if (c.additionalSpecialTokens.empty())
                    readAdditionalTokens(j, where, c);
            }
        } catch (const nlohmann::json::exception& e) {
            throw Error(mapPath.string() + ": invalid JSON: " + jsonErrorText(e));
        }
    }
    // Processor-style chat_template.json: {"chat_template": "..."}.
    const auto jsonTemplate = dir / "chat_template.json";
    if (std::filesystem::exists(jsonTemplate)) {
        try {
            const auto j = nlohmann::json::parse(readWholeFile(jsonTemplate));
            if (j.is_object() && j.contains("chat_template"))
                readTemplates(j["chat_template"], jsonTemplate.string() + ".chat_template", c.chatTemplates);
        } catch (const nlohmann::json::exception& e) {
            throw Error(jsonTemplate.string() + ": invalid JSON: " + jsonErrorText(e));
        }
    }
    // chat_template.jinja takes priority over the field in tokenizer_config.json (transformers >= 4.50).
    const auto jinja = dir / "chat_template.jinja";
    if (std::filesystem::exists(jinja))
        c.chatTemplates["default"] = readWholeFile(jinja);
    const auto extra = dir / "additional_chat_templates";
    if (std::filesystem::is_directory(extra)) {
        for (const auto& entry : std::filesystem::directory_iterator(extra))
            if (entry.is_regular_file() && entry.path().extension() == ".jinja")
                c.chatTemplates[entry.path().stem().string()] = readWholeFile(entry.path());
    }
    c.sourcePath = dir.string();
    return c;
}

} // namespace rslora::models
