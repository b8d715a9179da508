// Added tokens from tokenizer.json and tokenizer_config.json, with the ids the reference gives them.
#include "models/tokenizer/AddedTokenSources.h"

#include "common/Error.h"
#include "common/Log.h"
#include "models/tokenizer/BpeModel.h"
#include "models/tokenizer/JsonFields.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>

namespace rslora::models {

namespace {

std::string jsonQuoted(const std::string& s) { return nlohmann::json(s).dump(); }

// Why `content` got `id` rather than a stored one, for the warnings.
std::string idReason(const AddedVocabulary& before, const BpeModel& model, const std::string& content) {
    if (before.idOf(content))
        return "the id it was added with before";
    if (model.tokenToId(content))
        return "its id in the model vocabulary";
    return "the next free id";
}

// An added token outside the model vocabulary on an id the model also uses: only possible with a
// vocabulary whose ids have gaps. The reference keeps both; the id decodes as the added token.
void warnIfModelIdTaken(const BpeModel& model, const std::string& content, int32_t id, const std::string& where) {
    if (model.tokenToId(content))
        return;
    if (const std::string* other = model.idToToken(id))
        logWarning(where + ": " + jsonQuoted(content) + " takes id " + std::to_string(id) + ", which the model vocabulary also gives " +
                   jsonQuoted(*other) + " (its ids have gaps); id " + std::to_string(id) + " decodes as " + jsonQuoted(content) +
                   ", as in the tokenizers library");
}

AddedToken fromConfig(const ConfigAddedToken& c) {
    AddedToken t;
    t.content = c.content;
    t.special = c.special;
    t.normalized = c.normalized;
    t.lstrip = c.lstrip;
    t.rstrip = c.rstrip;
    t.singleWord = c.singleWord;
    return t;
}

} // namespace

void addTokenizerJsonTokens(const nlohmann::json& added, const BpeModel& model, AddedVocabulary& vocab,
                            const std::string& where) {
    if (added.is_null())
        return;
    if (!added.is_array())
        throw Error(where + ": expected an array, found " + std::string(added.type_name()));
    for (std::size_t i = 0; i < added.size(); ++i) {
        const auto& t = added[i];
        const std::string here = where + "[" + std::to_string(i) + "]";
        AddedToken tok;
        tok.content = jsonf::requireString(t, "content", here);
        if (tok.content.empty())
            continue; // ignored, as in the reference
        const auto& idj = jsonf::require(t, "id", here);
        if (!idj.is_number_unsigned() || idj.get<uint64_t>() > UINT32_MAX)
            throw Error(here + ".id: expected an id from 0 to 4294967295, found " + idj.dump());
        tok.special = jsonf::getBool(t, "special", here, false);
        tok.singleWord = jsonf::getBool(t, "single_word", here, false);
        tok.lstrip = jsonf::getBool(t, "lstrip", here, false);
        tok.rstrip = jsonf::getBool(t, "rstrip", here, false);
        tok.normalized = jsonf::getBool(t, "normalized", here, !tok.special);
        const std::string reason = idReason(vocab, model, tok.content);
        const int32_t id = vocab.add(tok, model.tokenToId(tok.content), model.vocabSize());
        if (static_cast<uint64_t>(id) != idj.get<uint64_t>())
            logWarning(here + ": " + jsonQuoted(tok.content) + " is stored with id " + idj.dump() + " but takes id " +
                       std::to_string(id) + ", " + reason + ", as the tokenizers library assigns it");
        warnIfModelIdTaken(model, tok.content, id, here);
    }
}

void addConfigTokens(const TokenizerConfig& config, const BpeModel& model, AddedVocabulary& vocab) {
    const std::vector<std::string> specials = config.allSpecialTokens();
    auto named = [&](const std::string& content) { return std::find(specials.begin(), specials.end(), content) != specials.end(); };
    const std::string file = config.fileName();

    // added_tokens_decoder, in id order; the key is not the id the token gets (the library assigns it).
    std::vector<std::string> fromDecoder;
    for (const ConfigAddedToken& c : config.addedTokens) {
        AddedToken t = fromConfig(c);
        t.special = t.special || named(c.content);
        fromDecoder.push_back(c.content);
        if (t.content.empty() || vocab.hasIdentical(t))
            continue;
        const std::string here = file + ": added_tokens_decoder[\"" + std::to_string(c.id) + "\"]";
        const std::string reason = idReason(vocab, model, t.content);
        const int32_t id = vocab.add(t, model.tokenToId(t.content), model.vocabSize());
        if (id != c.id)
            logWarning(here + ": " + jsonQuoted(t.content) + " takes id " + std::to_string(id) + ", " + reason +
                       ", as transformers adds it (the key is not used)");
        warnIfModelIdTaken(model, t.content, id, here);
    }

    // Special tokens named in the config that are not added tokens yet (a string already added is left
    // as it is; one given as an AddedToken object brings its flags).
    for (const std::string& content : specials) {
        if (std::find(fromDecoder.begin(), fromDecoder.end(), content) != fromDecoder.end())
            continue;
        AddedToken t;
        if (auto obj = config.specialTokenObjects.find(content); obj != config.specialTokenObjects.end()) {
            t = fromConfig(obj->second);
            if (vocab.hasIdentical(t))
                continue;
        } else {
            if (vocab.idOf(content))
                continue;
            t.content = content;
            t.normalized = false;
        }
        t.special = true;
        const int32_t id = vocab.add(t, model.tokenToId(t.content), model.vocabSize());
        warnIfModelIdTaken(model, t.content, id, file);
    }
}

} // namespace rslora::models
