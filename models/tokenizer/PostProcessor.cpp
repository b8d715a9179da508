// Post-processors for single sequences (pairs are not used by the workbench).
#include "models/tokenizer/PostProcessor.h"

#include "models/tokenizer/JsonFields.h"

namespace rslora::models {

namespace {

class AffixProcessor final : public PostProcessor {
public:
    AffixProcessor(std::string name, std::vector<Piece> prefix, std::vector<Piece> suffix)
        : m_name(std::move(name)), m_prefix(std::move(prefix)), m_suffix(std::move(suffix)) {}
    void singleAffixes(std::vector<Piece>& prefix, std::vector<Piece>& suffix) const override {
        prefix.insert(prefix.end(), m_prefix.begin(), m_prefix.end());
        suffix.insert(suffix.end(), m_suffix.begin(), m_suffix.end());
    }
    std::string describe() const override {
        std::string s = m_name;
        if (m_prefix.empty() && m_suffix.empty())
            return s;
        s += "(";
        for (const auto& p : m_prefix)
            s += p.token + " ";
        s += "$A";
        for (const auto& p : m_suffix)
            s += " " + p.token;
        return s + ")";
    }

private:
    std::string m_name;
    std::vector<Piece> m_prefix, m_suffix;
};

class SequenceProcessor final : public PostProcessor {
public:
    explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> items) : m_items(std::move(items)) {}
    void singleAffixes(std::vector<Piece>& prefix, std::vector<Piece>& suffix) const override {
        // Each processor wraps the result of the previous one.
        for (const auto& item : m_items) {
            std::vector<Piece> p, s;
            item->singleAffixes(p, s);
            prefix.insert(prefix.begin(), p.begin(), p.end());
            suffix.insert(suffix.end(), s.begin(), s.end());
        }
    }
    std::string describe() const override {
        std::string s;
        for (std::size_t i = 0; i < m_items.size(); ++i)
            s += (i ? " + " : "") + m_items[i]->describe();
        return s;
    }

private:
    std::vector<std::unique_ptr<PostProcessor>> m_items;
};

PostProcessor::Piece parsePair(const nlohmann::json& j, const std::string& where) {
    // ["<s>", 0] as in RobertaProcessing / BertProcessing.
    if (!j.is_array() || j.size() != 2 || !j[0].is_string() || !j[1].is_number_integer())
        throw Error(where + ": expected [\"token\", id], found " + j.dump());
    return {j[1].get<int32_t>(), j[0].get<std::string>()};
}

std::unique_ptr<PostProcessor> parseTemplate(const nlohmann::json& j, const std::string& where) {
    const auto& single = jsonf::require(j, "single", where);
    if (!single.is_array())
        throw Error(where + ".single: expected an array");
    const nlohmann::json empty = nlohmann::json::object();
    const auto& specials = j.contains("special_tokens") ? j["special_tokens"] : empty;
    std::vector<PostProcessor::Piece> prefix, suffix;
    bool seenSequence = false;
    for (std::size_t i = 0; i < single.size(); ++i) {
        const auto& item = single[i];
        const std::string here = where + ".single[" + std::to_string(i) + "]";
        if (item.contains("Sequence")) {
            if (seenSequence)
                throw Error(here + ": the single template uses the sequence twice");
            seenSequence = true;
            continue;
        }
        if (!item.contains("SpecialToken"))
            throw Error(here + ": expected {\"SpecialToken\": ...} or {\"Sequence\": ...}, found " + item.dump());
        const std::string name = jsonf::requireString(item["SpecialToken"], "id", here + ".SpecialToken");
        if (!specials.contains(name))
            throw Error(here + ": special token \"" + name + "\" is not listed in special_tokens");
        const auto& st = specials[name];
        const auto& ids = jsonf::require(st, "ids", where + ".special_tokens." + name);
        const auto& toks = jsonf::require(st, "tokens", where + ".special_tokens." + name);
        if (!ids.is_array() || !toks.is_array() || ids.size() != toks.size())
            throw Error(where + ".special_tokens." + name + ": ids and tokens must be arrays of the same length");
        for (std::size_t k = 0; k < ids.size(); ++k) {
            PostProcessor::Piece p{ids[k].get<int32_t>(), toks[k].get<std::string>()};
            (seenSequence ? suffix : prefix).push_back(p);
        }
    }
    if (!seenSequence)
        throw Error(where + ".single: the template has no $A sequence");
    return std::make_unique<AffixProcessor>("TemplateProcessing", std::move(prefix), std::move(suffix));
}

} // namespace

std::unique_ptr<PostProcessor> PostProcessor::fromJson(const nlohmann::json& j, const std::string& where) {
    if (j.is_null())
        return nullptr;
    const std::string type = jsonf::requireString(j, "type", where);
    if (type == "TemplateProcessing")
        return parseTemplate(j, where);
    if (type == "ByteLevel")
        return std::make_unique<AffixProcessor>("ByteLevel", std::vector<Piece>{}, std::vector<Piece>{});
    if (type == "RobertaProcessing" || type == "BertProcessing") {
        auto cls = parsePair(jsonf::require(j, "cls", where), where + ".cls");
        auto sep = parsePair(jsonf::require(j, "sep", where), where + ".sep");
        return std::make_unique<AffixProcessor>(type, std::vector<Piece>{cls}, std::vector<Piece>{sep});
    }
    if (type == "Sequence") {
        const auto& list = jsonf::require(j, "processors", where);
        if (!list.is_array())
            throw Error(where + ".processors: expected an array");
        std::vector<std::unique_ptr<PostProcessor>> items;
        for (std::size_t i = 0; i < list.size(); ++i)
            if (auto p = fromJson(list[i], where + ".processors[" + std::to_string(i) + "]"))
                items.push_back(std::move(p));
        return std::make_unique<SequenceProcessor>(std::move(items));
    }
    throw Error(where + ": unsupported post-processor type \"" + type +
                "\" (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
}

std::unique_ptr<PostProcessor> PostProcessor::makeBosEos(const Piece* bos, const Piece* eos) {
    std::vector<Piece> prefix, suffix;
    if (bos)
        prefix.push_back(*bos);
    if (eos)
        suffix.push_back(*eos);
    return std::make_unique<AffixProcessor>("TemplateProcessing", std::move(prefix), std::move(suffix));
}

} // namespace rslora::models
