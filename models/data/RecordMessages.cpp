// Records as chat messages (see RecordMessages.h).
#include "models/data/RecordMessages.h"

#include "common/Error.h"

namespace rslora::models::records {

namespace {

// The roles chat templates know (OpenAI's developer, Llama 3's ipython and the older function role
// included). Anything else is a typo or a dataset convention the template would not render as
// meant: an unknown role used to surface only as "no assistant message to train on".
const char* const kKnownRoles[] = {"system", "developer", "user", "assistant", "tool", "function", "ipython"};

// `aliases`: other names the record's format accepts, listed first ("human, gpt, ..." for ShareGPT).
void requireKnownRole(const std::string& role, const std::string& here, const std::string& aliases = {})
{
    std::string list = aliases;
    for (const char* known : kKnownRoles) {
        if (role == known)
            return;
        list += (list.empty() ? "" : ", ") + std::string(known);
    }
    throw Error(here + ": unknown role '" + role + "' (expected one of " + list + ")");
}

} // namespace

const ojson* field(const ojson& o, const char* key) {
    auto it = o.find(key);
    return it == o.end() || it->is_null() ? nullptr : &*it;
}

std::string requireString(const ojson& o, const char* key, const std::string& where, const char* format) {
    const ojson* v = field(o, key);
    if (!v)
        throw Error(where + ": missing field \"" + key + "\" (" + format + " records need it)");
    if (!v->is_string())
        throw Error(where + ": field \"" + key + "\" must be a string, found " + v->type_name());
    return v->get<std::string>();
}

std::string optionalString(const ojson& o, const char* key, const std::string& where) {
    const ojson* v = field(o, key);
    if (!v)
        return {};
    if (!v->is_string())
        throw Error(where + ": field \"" + key + "\" must be a string, found " + v->type_name());
    return v->get<std::string>();
}

ojson message(const std::string& role, const std::string& content) {
    ojson m = ojson::object();
    m["role"] = role;
    m["content"] = content;
    return m;
}

ojson normalizeMessages(const ojson& list, const std::string& where, const char* key) {
    if (!list.is_array())
        throw Error(where + ": \"" + key + "\" must be an array of messages, found " + list.type_name());
    ojson out = ojson::array();
    for (std::size_t i = 0; i < list.size(); ++i) {
        const ojson& m = list[i];
        const std::string here = where + ": " + key + "[" + std::to_string(i) + "]";
        if (!m.is_object())
            throw Error(here + ": expected an object with role and content, found " + m.type_name());
        if (m.contains("from") && !m.contains("role")) {
            if (!m["from"].is_string())
                throw Error(here + ": ShareGPT \"from\" must be a string (human, gpt, system, ...), found " +
                            std::string(m["from"].type_name()));
            std::string from = m["from"].get<std::string>();
            if (from == "human")
                from = "user";
            else if (from == "gpt")
                from = "assistant";
            else if (from == "function_call" || from == "observation")
                from = from == "observation" ? "tool" : "assistant";
            if (!m.contains("value") || !m["value"].is_string())
                throw Error(here + ": ShareGPT message needs a string \"value\"");
            requireKnownRole(from, here + " (ShareGPT \"from\")", "human, gpt, function_call, observation");
            out.push_back(message(from, m["value"].get<std::string>()));
            continue;
        }
        if (!m.contains("role") || !m["role"].is_string())
            throw Error(here + ": missing string field \"role\"");
        const std::string role = m["role"];
        requireKnownRole(role, here);
        const bool hasContent = m.contains("content") && !m["content"].is_null();
        if (hasContent && !m["content"].is_string() && !m["content"].is_array())
            throw Error(here + ": \"content\" must be a string, found " + std::string(m["content"].type_name()));
        // A list of content parts (OpenAI's form) goes to the chat template as it is; each part is an
        // object with a "type", a text part has its "text" (a number or a bare string in the list was
        // rendered into the training text as written).
        if (hasContent && m["content"].is_array())
            for (std::size_t k = 0; k < m["content"].size(); ++k) {
                const ojson& part = m["content"][k];
                const std::string at = here + ": content[" + std::to_string(k) + "]";
                if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
                    throw Error(at + ": a content part must be an object with a string \"type\" (e.g. {\"type\": \"text\", "
                                     "\"text\": \"...\"}), found " + std::string(part.is_object() ? "an object without it" : part.type_name()));
                if (part["type"] == "text" && !(part.contains("text") && part["text"].is_string()))
                    throw Error(at + ": a \"text\" part needs a string \"text\"");
            }
        if (!hasContent && !(role == "assistant" && m.contains("tool_calls")))
            throw Error(here + ": message without \"content\"");
        // OpenAI's fine-tuning format: "weight" 0 leaves an assistant turn out of the loss, 1 trains it.
        if (const ojson* weight = field(m, "weight");
            weight && !(weight->is_number() && (weight->get<double>() == 0.0 || weight->get<double>() == 1.0)))
            throw Error(here + ": \"weight\" must be 0 (turn not trained) or 1 (trained), found " + weight->dump());
        out.push_back(m);
    }
    return out;
}

bool excludedFromTraining(const ojson& m) {
    const ojson* weight = field(m, "weight");
    return weight && weight->is_number() && weight->get<double>() == 0.0;
}

std::string contentOf(const ojson& m) {
    if (m.contains("content") && m["content"].is_string())
        return m["content"].get<std::string>();
    return {};
}

SampleFormat detectFormat(const ojson& r) {
    if (!r.is_object())
        return SampleFormat::Auto;
    if (r.contains("chosen") && r.contains("rejected"))
        return SampleFormat::Preference;
    if (r.contains("messages") || r.contains("conversations"))
        return SampleFormat::Chat;
    if (r.contains("instruction") && r.contains("output"))
        return SampleFormat::Alpaca;
    if (r.contains("prompt") && r.contains("completion"))
        return SampleFormat::PromptCompletion;
    if (r.contains("text"))
        return SampleFormat::Text;
    return SampleFormat::Auto;
}

ojson toMessages(const ojson& r, SampleFormat format, const std::string& where) {
    ojson messages = ojson::array();
    switch (format) {
    case SampleFormat::Chat: {
        const ojson* list = field(r, "messages");
        const char* key = "messages";
        if (!list) {
            list = field(r, "conversations");
            key = "conversations";
        }
        if (!list)
            throw Error(where + ": missing field \"messages\" (chat records need it)");
        messages = normalizeMessages(*list, where, key);
        if (const std::string system = optionalString(r, "system", where);
            field(r, "system") && (messages.empty() || messages[0]["role"] != "system"))
            messages.insert(messages.begin(), message("system", system));
        break;
    }
    case SampleFormat::Alpaca: {
        const std::string instruction = requireString(r, "instruction", where, "alpaca");
        const std::string input = optionalString(r, "input", where);
        const std::string output = requireString(r, "output", where, "alpaca");
        const std::string system = optionalString(r, "system", where);
        if (!system.empty())
            messages.push_back(message("system", system));
        if (const ojson* history = field(r, "history")) {
            if (!history->is_array())
                throw Error(where + ": \"history\" must be a list of [prompt, response] pairs");
            for (std::size_t i = 0; i < history->size(); ++i) {
                const ojson& pair = (*history)[i];
                if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string())
                    throw Error(where + ": history[" + std::to_string(i) + "] must be [prompt, response] strings");
                messages.push_back(message("user", pair[0].get<std::string>()));
                messages.push_back(message("assistant", pair[1].get<std::string>()));
            }
        }
        // LLaMA-Factory: the instruction and the input joined by a newline, empty parts skipped.
        std::string user = instruction;
        if (!input.empty())
            user = user.empty() ? input : user + "\n" + input;
        messages.push_back(message("user", user));
        messages.push_back(message("assistant", output));
        break;
    }
    case SampleFormat::PromptCompletion: {
        const ojson* prompt = field(r, "prompt");
        const ojson* completion = field(r, "completion");
        if (!prompt || !completion)
            throw Error(where + ": prompt/completion records need both \"prompt\" and \"completion\"");
        if (prompt->is_array())
            messages = normalizeMessages(*prompt, where, "prompt");
        else if (prompt->is_string())
            messages.push_back(message("user", prompt->get<std::string>()));
        else
            throw Error(where + ": \"prompt\" must be a string or a list of messages");
        if (completion->is_array()) {
            for (auto& m : normalizeMessages(*completion, where, "completion"))
                messages.push_back(m);
        } else if (completion->is_string()) {
            messages.push_back(message("assistant", completion->get<std::string>()));
        } else {
            throw Error(where + ": \"completion\" must be a string or a list of messages");
        }
        break;
    }
    default:
        throw Error(where + ": records of format " + sampleFormatName(format) + " are not conversations");
    }
    return messages;
}

} // namespace rslora::models::records
