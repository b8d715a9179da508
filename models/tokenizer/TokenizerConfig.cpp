// Reading tokenizer_config.json and the chat template files beside it.
#include "models/tokenizer/TokenizerConfig.h"

#include "common/Error.h"
#include "common/ReadWholeFile.h"
#include "models/tokenizer/JsonFields.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace rslora::models {

namespace {

// A token field: "text", null, or {"__type": "AddedToken", "content": "text", ...}.
std::optional<std::string> tokenField(const nlohmann::json& j, const char* key, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return std::nullopt;
    if (it->is_string())
        return it->get<std::string>();
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
        return (*it)["content"].get<std::string>();
    throw Error(where + "." + key + ": expected a string, null or an AddedToken object, found " + it->dump());
}

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
    c.bosToken = tokenField(j, "bos_token", where);
    c.eosToken = tokenField(j, "eos_token", where);
    c.padToken = tokenField(j, "pad_token", where);
    c.unkToken = tokenField(j, "unk_token", where);
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
            ConfigAddedToken a;
            try {
                a.id = std::stoll(t.key());
            } catch (const std::exception&) {
                throw Error(here + ": the key must be a token id");
            }
            a.content = jsonf::requireString(t.value(), "content", here);
            a.special = jsonf::getBool(t.value(), "special", here, false);
            a.normalized = jsonf::getBool(t.value(), "normalized", here, !a.special);
            a.lstrip = jsonf::getBool(t.value(), "lstrip", here, false);
            a.rstrip = jsonf::getBool(t.value(), "rstrip", here, false);
            a.singleWord = jsonf::getBool(t.value(), "single_word", here, false);
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
            throw Error(cfgPath.string() + ": invalid JSON: " + e.what());
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
                if (!c.bosToken)
                    c.bosToken = tokenField(j, "bos_token", where);
                if (!c.eosToken)
                    c.eosToken = tokenField(j, "eos_token", where);
                if (!c.padToken)
                    c.padToken = tokenField(j, "pad_token", where);
                if (!c.unkToken)
                    c.unkToken = tokenField(j, "unk_token", where);
            }
        } catch (const nlohmann::json::exception& e) {
            throw Error(mapPath.string() + ": invalid JSON: " + e.what());
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
            throw Error(jsonTemplate.string() + ": invalid JSON: " + e.what());
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
