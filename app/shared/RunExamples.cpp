// See RunExamples.h.
#include "app/shared/RunExamples.h"

#include "common/Error.h"
#include "common/JsonErrorText.h"
#include "models/data/JsonlReader.h"
#include "models/data/RecordMessages.h"

#include <nlohmann/json.hpp>

namespace rslora::app {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

fs::path RunExamples::sourceOf(const std::string& configJson, bool* isValidation)
{
    nlohmann::json config;
    try {
        config = nlohmann::json::parse(configJson);
    } catch (const nlohmann::json::exception& e) {
        throw Error("the run's stored config is not valid JSON (" + jsonErrorText(e) + ")");
    }
    auto text = [&](const char* section, const char* key) -> std::string {
        if (config.contains(section) && config[section].is_object() && config[section].contains(key) &&
            config[section][key].is_string())
            return config[section][key].get<std::string>();
        return {};
    };
    const std::string validation = text("data", "validation");
    if (isValidation)
        *isValidation = !validation.empty();
    if (!validation.empty())
        return validation;
    const std::string train = text("data", "train");
    if (train.empty())
        throw Error("the run's config names no training or validation data");
    return train;
}

RunExample RunExamples::at(const fs::path& file, std::size_t index)
{
    std::vector<models::JsonRecord> records;
    models::JsonlReader::read(
        file, models::MalformedLinePolicy::Skip, [&](const models::JsonRecord& r) { records.push_back(r); },
        [](std::size_t, const std::string&) {});
    std::string lastProblem;
    // From `index` on, the first record that reads as a conversation with an answer.
    for (std::size_t k = 0; k < records.size(); ++k) {
        const std::size_t at = (index + k) % records.size();
        const models::JsonRecord& r = records[at];
        try {
            const auto format = models::records::detectFormat(r.value);
            RunExample e;
            e.index = at;
            e.line = r.line;
            e.where = r.where;
            ojson messages;
            if (format == models::SampleFormat::Preference) {
                // A pair: the prompt's turns, the chosen answer as the reference.
                const ojson* prompt = models::records::field(r.value, "prompt");
                if (prompt && prompt->is_string())
                    messages = ojson::array({models::records::message("user", prompt->get<std::string>())});
                else if (prompt && prompt->is_array())
                    messages = models::records::normalizeMessages(*prompt, r.where, "prompt");
                else
                    messages = ojson::array();
                const ojson* chosen = models::records::field(r.value, "chosen");
                if (chosen && chosen->is_string())
                    messages.push_back(models::records::message("assistant", chosen->get<std::string>()));
                else if (chosen && chosen->is_array() && !chosen->empty())
                    for (const auto& m : models::records::normalizeMessages(*chosen, r.where, "chosen"))
                        messages.push_back(m);
            } else if (format != models::SampleFormat::Auto && format != models::SampleFormat::Text) {
                messages = models::records::toMessages(r.value, format, r.where);
            } else {
                lastProblem = r.where + ": not a conversation (plain text or unknown keys)";
                continue;
            }
            // The reference is the last assistant turn; the turns before it are the prompt.
            std::size_t last = messages.size();
            while (last > 0 && messages[last - 1].value("role", "") != "assistant")
                --last;
            if (last == 0) {
                lastProblem = r.where + ": has no assistant answer";
                continue;
            }
            e.reference = models::records::contentOf(messages[last - 1]);
            for (std::size_t i = 0; i + 1 < last; ++i)
                e.turns.emplace_back(messages[i].value("role", "user"), models::records::contentOf(messages[i]));
            for (auto it = e.turns.rbegin(); it != e.turns.rend(); ++it)
                if (it->first == "user") {
                    e.promptText = it->second;
                    break;
                }
            if (e.promptText.empty()) {
                lastProblem = r.where + ": has no user turn";
                continue;
            }
            return e;
        } catch (const Error& error) {
            lastProblem = error.what();
        }
    }
    throw Error(file.string() + " has no record to use as an example" + (lastProblem.empty() ? std::string() : " (" + lastProblem + ")"));
}

} // namespace rslora::app
