// Preference records read and checked without a tokenizer (see PreferenceRecord.h).
#include "models/data/PreferenceRecord.h"

#include "common/Error.h"
#include "models/data/RecordMessages.h"

#include <algorithm>

namespace rslora::models::records {

namespace {

// Same role and content; key order and other keys do not matter (UltraFeedback writes "content" first).
bool sameMessage(const ojson& a, const ojson& b) {
    if (a.value("role", "") != b.value("role", ""))
        return false;
    const ojson* ca = field(a, "content");
    const ojson* cb = field(b, "content");
    return ca && cb ? *ca == *cb : ca == cb;
}

// The number of leading messages of `list` that repeat `prefix` (all of it, or 0).
std::size_t repeatedPrefix(const ojson& list, const ojson& prefix) {
    if (prefix.empty() || list.size() < prefix.size())
        return 0;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (!sameMessage(list[i], prefix[i]))
            return 0;
    return prefix.size();
}

bool blankText(const std::string& text) {
    return text.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

bool blankContent(const ojson& content) {
    if (content.is_string())
        return blankText(content.get_ref<const std::string&>());
    if (!content.is_array())
        return content.is_null();
    for (const ojson& part : content) {
        const bool text = part.is_object() && part.value("type", "") == "text";
        if (!text || !part.contains("text") || !part["text"].is_string() || !blankText(part["text"].get_ref<const std::string&>()))
            return false;
    }
    return true;
}

bool callsATool(const ojson& message) {
    for (const char* key : {"tool_calls", "function_call"})
        if (const auto it = message.find(key); it != message.end() && !it->is_null() && !(it->is_array() && it->empty()))
            return true;
    return false;
}

// True when `response` has no characters at all (as opposed to whitespace only).
bool emptyText(const ojson& response) {
    if (response.is_string())
        return response.get_ref<const std::string&>().empty();
    for (const ojson& m : response) {
        const auto it = m.find("content");
        if (it != m.end() && it->is_string() && !it->get_ref<const std::string&>().empty())
            return false;
        if (it != m.end() && it->is_array())
            for (const ojson& part : *it)
                if (part.contains("text") && part["text"].is_string() && !part["text"].get_ref<const std::string&>().empty())
                    return false;
    }
    return true;
}

} // namespace

PreferenceRecord readPreferenceRecord(const ojson& r, const std::string& where, const std::string& defaultSystem) {
    if (!r.is_object())
        throw Error(where + ": expected a JSON object, found " + std::string(r.type_name()));
    const ojson* prompt = field(r, "prompt");
    const ojson* chosen = field(r, "chosen");
    const ojson* rejected = field(r, "rejected");
    PreferenceRecord rec;
    // The implicit-prompt form: chosen and rejected are whole conversations that share their first
    // messages; those are the prompt, the rest are the responses.
    ojson implicitPrompt;
    std::size_t responseOffset = 0; // index in the record's lists of the responses' first message
    if (!prompt && chosen && rejected && chosen->is_array() && rejected->is_array()) {
        const ojson c = normalizeMessages(*chosen, where, "chosen"), x = normalizeMessages(*rejected, where, "rejected");
        std::size_t shared = 0;
        while (shared < c.size() && shared < x.size() && c[shared] == x[shared])
            ++shared;
        while (shared > 0 && c[shared - 1].value("role", "") == "assistant")
            --shared; // the responses start with the first assistant message after the prompt
        if (shared == 0 || shared == c.size() || shared == x.size())
            throw Error(where + ": without \"prompt\", \"chosen\" and \"rejected\" must be conversations that share their "
                                "first messages (the prompt) and differ after them");
        implicitPrompt = ojson(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(shared));
        rec.chosen = ojson(c.begin() + static_cast<std::ptrdiff_t>(shared), c.end());
        rec.rejected = ojson(x.begin() + static_cast<std::ptrdiff_t>(shared), x.end());
        prompt = &implicitPrompt;
        responseOffset = shared;
    } else if (!prompt || !chosen || !rejected) {
        throw Error(where + ": preference records need \"prompt\", \"chosen\" and \"rejected\" (or conversations in "
                            "\"chosen\" and \"rejected\" that share the prompt)");
    } else {
        rec.chosen = *chosen;
        rec.rejected = *rejected;
    }
    const bool explicitPrompt = prompt != &implicitPrompt;
    ojson& promptMessages = rec.promptMessages;
    promptMessages = ojson::array();
    if (prompt->is_string())
        promptMessages.push_back(message("user", prompt->get<std::string>()));
    else if (prompt->is_array())
        promptMessages = normalizeMessages(*prompt, where, "prompt");
    else
        throw Error(where + ": \"prompt\" must be a string or a list of messages");
    const ojson promptAsWritten = promptMessages;
    if (const ojson* system = field(r, "system"); system && system->is_string())
        promptMessages.insert(promptMessages.begin(), message("system", system->get<std::string>()));
    else if (!defaultSystem.empty() && (promptMessages.empty() || promptMessages[0]["role"] != "system"))
        promptMessages.insert(promptMessages.begin(), message("system", defaultSystem));

    // Responses as message lists. With an explicit prompt they may be whole conversations that repeat
    // it (UltraFeedback-binarized: prompt "P", chosen [user "P", assistant "A"]): the repeated
    // messages are dropped, or the prompt would be scored as part of the response.
    for (auto [response, key] : {std::pair<ojson*, const char*>{&rec.chosen, "chosen"},
                                 std::pair<ojson*, const char*>{&rec.rejected, "rejected"}}) {
        if (!response->is_array())
            continue;
        ojson list = normalizeMessages(*response, where, key);
        std::size_t offset = responseOffset;
        if (explicitPrompt) {
            const std::size_t repeated = std::max(repeatedPrefix(list, promptMessages), repeatedPrefix(list, promptAsWritten));
            list.erase(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(repeated));
            offset = repeated;
        }
        if (list.empty())
            throw Error(where + ": \"" + key + "\" holds no assistant message" +
                        (offset > 0 ? " after the messages that repeat \"prompt\"" : ""));
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string role = list[i].value("role", "");
            if (role == "assistant")
                break;
            throw Error(where + ": " + key + "[" + std::to_string(offset + i) + "] is a \"" + role +
                        "\" message before the response's first assistant message; \"" + key +
                        "\" must hold the assistant's reply" +
                        (explicitPrompt ? " (a conversation in it may only repeat \"prompt\" before the reply)"
                                        : " (the conversations in \"chosen\" and \"rejected\" differ before it)"));
        }
        *response = std::move(list);
    }
    for (const auto& [response, key] : {std::pair<const ojson*, const char*>{&rec.chosen, "chosen"},
                                        std::pair<const ojson*, const char*>{&rec.rejected, "rejected"}})
        if (!response->is_string() && !response->is_array())
            throw Error(where + ": \"" + key + "\" must be a string or a list of messages");
    refuseBlankResponses(rec.chosen, rec.rejected, where);
    return rec;
}

bool isBlankResponse(const ojson& response) {
    if (response.is_string())
        return blankText(response.get_ref<const std::string&>());
    if (!response.is_array())
        return false;
    for (const ojson& m : response) {
        if (!m.is_object() || callsATool(m))
            return false;
        if (const auto it = m.find("content"); it != m.end() && !blankContent(*it))
            return false;
    }
    return true;
}

void refuseBlankResponses(const ojson& chosen, const ojson& rejected, const std::string& where) {
    const bool c = isBlankResponse(chosen), r = isBlankResponse(rejected);
    if (!c && !r)
        return;
    auto state = [](const ojson& response) { return emptyText(response) ? std::string(" is empty") : std::string(" holds only whitespace"); };
    const bool whitespace = (c && !emptyText(chosen)) || (r && !emptyText(rejected));
    std::string what;
    if (c && r)
        what = whitespace ? "\"chosen\"" + state(chosen) + " and \"rejected\"" + state(rejected) : "\"chosen\" and \"rejected\" are empty";
    else if (c)
        what = "\"chosen\"" + state(chosen) + ": the pair would teach the model to end its turn at once";
    else
        what = "\"rejected\"" + state(rejected) + ": the pair would teach the model only not to end its turn at once";
    throw Error(where + ": " + what
                    + (whitespace ? " (a response of only whitespace is scored on that whitespace and the end-of-turn marker)"
                                  : " (an empty response is scored on the end-of-turn marker alone)"),
                "fill in the response or remove the pair");
}

} // namespace rslora::models::records
