// Request parsing for the OpenAI-compatible endpoints (see OpenAiRequest.h).
#include "app/serve/OpenAiRequest.h"

#include "app/serve/ApiError.h"
#include "app/serve/ExtensionFields.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>

namespace rslora::serve {
namespace {

using nlohmann::json;

ApiError badField(const std::string& field, const std::string& message)
{
    return ApiError(400, "'" + field + "': " + message, errtype::kInvalidRequest, field);
}

std::string typeName(const json& v)
{
    return v.is_null() ? "null" : v.type_name();
}

// A present, non-null field or nullptr.
const json* field(const json& o, const char* name)
{
    auto it = o.find(name);
    return it == o.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& o, const char* name, double fallback, double lo, double hi)
{
    const json* v = field(o, name);
    if (!v)
        return fallback;
    if (!v->is_number())
        throw badField(name, "expected a number, found " + typeName(*v));
    const double d = v->get<double>();
    if (!(d >= lo && d <= hi))
        throw badField(name, "expected a value in [" + json(lo).dump() + ", " + json(hi).dump() + "], found " + jsonValueText(*v));
    return d;
}

// The value of a number that is a whole one and fits int64_t. JSON has one number type: 16.0 and 1e3
// are the integers 16 and 1000 (as JSON Schema's "integer" and vLLM's request models read them), and
// an integer written beyond 64 bits (18446744073709551616) is read as a double.
std::optional<int64_t> wholeNumber(const json& v)
{
    if (v.is_number_unsigned())
        return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                   ? std::optional<int64_t>(static_cast<int64_t>(v.get<uint64_t>()))
                   : std::nullopt;
    if (v.is_number_integer())
        return v.get<int64_t>();
    if (!v.is_number_float())
        return std::nullopt;
    const double d = v.get<double>();
    // [-2^63, 2^63): every double in it converts exactly.
    if (d != std::trunc(d) || !(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return std::nullopt;
    return static_cast<int64_t>(d);
}

bool isWhole(const json& v)
{
    return v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) && v.get<double>() == std::trunc(v.get<double>()));
}

int64_t integer(const json& o, const char* name, int64_t fallback, int64_t lo, int64_t hi)
{
    const json* v = field(o, name);
    if (!v)
        return fallback;
    if (!isWhole(*v))
        throw badField(name, "expected an integer, found " + (v->is_number() ? jsonValueText(*v) : typeName(*v)));
    // A whole number beyond int64_t (over 2^63 - 1, or 2^64 and more, which JSON reads as a double) is
    // out of every range here; it was "expected an integer, found 1.8446744073709552e+19".
    const std::optional<int64_t> i = wholeNumber(*v);
    if (!i || *i < lo || *i > hi)
        throw badField(name, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], found " + jsonValueText(*v));
    return *i;
}

// `path`: the field's name as the client reads it, when `o` is not the body itself.
bool boolean(const json& o, const char* name, bool fallback, const std::string& path = {})
{
    const json* v = field(o, name);
    if (!v)
        return fallback;
    if (!v->is_boolean())
        throw badField(path.empty() ? name : path, "expected true or false, found " + typeName(*v));
    return v->get<bool>();
}

std::vector<int64_t> tokenIds(const json& v, const std::string& where, int64_t vocab)
{
    std::vector<int64_t> ids;
    for (const auto& t : v) {
        // A whole number written 5.0 is the id 5, as in the integer fields.
        const std::optional<int64_t> id = wholeNumber(t);
        if (!id || *id < 0 || *id >= vocab)
            throw badField(where, "expected token ids in [0, " + std::to_string(vocab) + "), found " +
                                      (t.is_structured() ? typeName(t) : jsonValueText(t)));
        ids.push_back(*id);
    }
    return ids;
}

std::vector<std::vector<int64_t>> completionPrompts(const json& body, const PromptEncoder& session)
{
    const json* p = field(body, "prompt");
    if (!p)
        throw badField("prompt", "required, as a string, an array of strings or an array of token ids");
    const int64_t V = session.vocabSize();
    auto encode = [&](const std::string& text) {
        try {
            return session.encode(text);
        } catch (const Error& e) {
            throw badField("prompt", e.message());
        }
    };
    std::vector<std::vector<int64_t>> prompts;
    if (p->is_string())
        prompts.push_back(encode(p->get<std::string>()));
    else if (p->is_array() && !p->empty() && (*p)[0].is_number())
        prompts.push_back(tokenIds(*p, "prompt", V));
    else if (p->is_array() && !p->empty()) {
        for (const auto& item : *p) {
            if (item.is_string())
                prompts.push_back(encode(item.get<std::string>()));
            else if (item.is_array())
                prompts.push_back(tokenIds(item, "prompt", V));
            else
                throw badField("prompt", "expected strings or arrays of token ids in the array, found " + typeName(item));
        }
    } else
        throw badField("prompt", "expected a string, an array of strings or an array of token ids, found " +
                                     (p->is_array() ? std::string("an empty array") : typeName(*p)));
    return prompts;
}

std::vector<int64_t> chatPrompt(const json& body, const PromptEncoder& session)
{
    const json* m = field(body, "messages");
    if (!m)
        throw badField("messages", "required: an array of {\"role\", \"content\"} objects");
    if (!m->is_array() || m->empty())
        throw badField("messages", "expected a non-empty array, found " + (m->is_array() ? std::string("an empty array") : typeName(*m)));
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    for (size_t i = 0; i < m->size(); ++i) {
        const json& msg = (*m)[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!msg.is_object())
            throw badField(where, "expected an object, found " + typeName(msg));
        const json* role = field(msg, "role");
        if (!role || !role->is_string())
            throw badField(where + ".role", "expected a string such as \"user\"");
        const json* content = field(msg, "content");
        // OpenAI requires the text of a system or user message (a missing or null one is a 400); an
        // assistant turn may come without it (it then carried tool calls, which are refused anyway).
        // (field() reads a null as absent.)
        if (!content && role->get<std::string>() != "assistant")
            throw badField(where + ".content", "required: the " + role->get<std::string>() +
                                                   " message's text (a string or an array of text parts)");
        std::string text;
        if (content && content->is_string())
            text = content->get<std::string>();
        else if (content && content->is_array()) {
            // Content parts: only text parts can be read by a text model. Their texts are joined by a
            // line break, as vLLM joins them; they were run together ("Hello" "world": "Helloworld").
            for (size_t k = 0; k < content->size(); ++k) {
                const json& part = (*content)[k];
                const std::string at = where + ".content[" + std::to_string(k) + "]";
                if (!part.is_object())
                    throw badField(at, "expected a {\"type\": \"text\", \"text\": ...} object, found " + typeName(part));
                const json* type = field(part, "type");
                if (!type || !type->is_string() || type->get<std::string>() != "text")
                    throw badField(at + ".type", "only \"text\" parts are supported, found " +
                                                           (!type ? std::string("none") : type->is_structured() ? typeName(*type) : jsonValueText(*type)));
                const json* partText = field(part, "text");
                if (!partText || !partText->is_string())
                    throw badField(at + ".text", "expected a string, found " + (partText ? typeName(*partText) : std::string("none")));
                text += (k > 0 ? "\n" : "") + partText->get<std::string>();
            }
        } else if (content)
            throw badField(where + ".content", "expected a string or an array of text parts, found " + typeName(*content));
        nlohmann::ordered_json message = {{"role", role->get<std::string>()}, {"content", text}};
        // OpenAI's participant name goes to the template as transformers passes it (some templates
        // write it); it was dropped before.
        if (const json* name = field(msg, "name")) {
            if (!name->is_string())
                throw badField(where + ".name", "expected a string, found " + typeName(*name));
            message["name"] = name->get<std::string>();
        }
        messages.push_back(std::move(message));
    }
    try {
        return session.encodeChat(messages);
    } catch (const Error& e) {
        throw badField("messages", e.message());
    }
}

// The prompt and its new tokens must fit the model's context: the new tokens `asked` for it. max_tokens
// asked explicitly is checked; the default is shortened to the room this prompt leaves, as vLLM does.
int64_t fitContext(int64_t promptTokens, int64_t context, bool chat, const char* maxField, int64_t asked)
{
    const std::string limit = "the model's context of " + std::to_string(context) + " tokens (--max-model-len)";
    if (promptTokens >= context)
        throw ApiError(400,
                       std::string("'") + (chat ? "messages" : "prompt") + "': the prompt has " + std::to_string(promptTokens) +
                           " tokens, which leaves no room for new tokens in " + limit,
                       errtype::kInvalidRequest, chat ? "messages" : "prompt", "context_length_exceeded");
    const int64_t room = context - promptTokens;
    if (!maxField)
        return std::min(asked, room);
    if (asked > room)
        throw ApiError(400,
                       std::string("'") + maxField + "': " + std::to_string(promptTokens) + " prompt tokens plus " +
                           std::to_string(asked) + " new tokens exceed " + limit + "; at most " +
                           std::to_string(room) + " new tokens fit",
                       errtype::kInvalidRequest, maxField, "context_length_exceeded");
    return asked;
}

// OpenAI's logit_bias: {"token id": bias in [-100, 100]}, added to the token's logit.
std::vector<std::pair<int64_t, double>> logitBias(const json& body, int64_t vocab)
{
    std::vector<std::pair<int64_t, double>> out;
    const json* v = field(body, "logit_bias");
    if (!v)
        return out;
    if (!v->is_object())
        throw badField("logit_bias", "expected an object of token ids to numbers, found " + typeName(*v));
    // One token under two spellings ("5" and "05") had both biases applied, silently.
    std::map<int64_t, std::string> seen;
    for (const auto& [key, value] : v->items()) {
        const std::string where = "logit_bias." + key;
        const bool digits = !key.empty() && key.size() <= 18 && std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; });
        const int64_t id = digits ? std::stoll(key) : -1;
        if (id < 0 || id >= vocab)
            throw badField("logit_bias", "expected token ids in [0, " + std::to_string(vocab) + ") as keys, found " + json(key).dump());
        if (const auto [at, fresh] = seen.emplace(id, key); !fresh)
            throw badField("logit_bias", "token " + std::to_string(id) + " is given twice, as " + json(at->second).dump() + " and " +
                                             json(key).dump());
        if (!value.is_number())
            throw badField(where, "expected a number, found " + typeName(value));
        const double bias = value.get<double>();
        if (!(bias >= -100.0 && bias <= 100.0))
            throw badField(where, "expected a value in [-100, 100], found " + jsonValueText(value));
        out.emplace_back(id, bias);
    }
    return out;
}

// OpenAI fields this server cannot honour are refused, naming the field, rather than ignored: a
// client relying on one would otherwise get an answer that silently breaks its contract.
void refuseUnsupported(const json& body)
{
    // (json::empty() is false for every string.)
    auto isEmpty = [](const json& v) { return v.is_string() ? v.get<std::string>().empty() : (v.is_array() || v.is_object()) && v.empty(); };
    if (const json* v = field(body, "best_of"); v && wholeNumber(*v) != 1)
        throw badField("best_of", "only 1 is supported, found " + (v->is_structured() ? typeName(*v) : jsonValueText(*v)));
    if (const json* v = field(body, "suffix"); v && !isEmpty(*v))
        throw badField("suffix", "completing text before a suffix (insertion) is not supported");
    if (const json* v = field(body, "top_logprobs"); v && wholeNumber(*v) != 0)
        throw badField("top_logprobs", "log probabilities are not supported");
    for (const char* name : {"tools", "functions"})
        if (const json* v = field(body, name); v && !isEmpty(*v))
            throw badField(name, "tool and function calling are not supported");
    for (const char* name : {"tool_choice", "function_call"})
        if (const json* v = field(body, name); v && !(v->is_string() && v->get<std::string>() == "none"))
            throw badField(name, "tool and function calling are not supported (only \"none\")");
    if (const json* v = field(body, "response_format");
        v && !(v->is_object() && v->size() == 1 && v->contains("type") && (*v)["type"] == "text"))
        throw badField("response_format", "only {\"type\": \"text\"} is supported (no JSON mode or schema)");
}

// A key as JSON writes it: quoted, its control characters escaped, bytes that are not UTF-8 replaced.
std::string dumpKey(const std::string& key)
{
    return json(key).dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace

nlohmann::json parseJsonObject(const std::string& body)
{
    // Nesting is bounded: no request field is deeper than a few levels, and a value thousands of
    // levels deep would exhaust the stack of whatever walks it later (quoting it in an error message).
    // A key given twice in one object is refused too: JSON readers disagree on which value counts
    // (this one and Python's keep the last, others the first), so the request is ambiguous.
    std::vector<std::set<std::string>> keys;  // those of each object being read, innermost last
    const json::parser_callback_t check = [&keys](int depth, json::parse_event_t event, json& parsed) {
        if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
            depth >= kMaxJsonDepth)
            throw ApiError(400, "the request body nests arrays and objects more than " + std::to_string(kMaxJsonDepth) +
                                    " levels deep");
        if (event == json::parse_event_t::object_start)
            keys.emplace_back();
        else if (event == json::parse_event_t::object_end && !keys.empty())
            keys.pop_back();
        else if (event == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
            throw ApiError(400, "the request body gives the key " + dumpKey(parsed.get<std::string>()) +
                                    " twice in one object; give each key once");
        return true;
    };
    json j;
    try {
        j = json::parse(body, check);
    } catch (const json::parse_error& e) {
        // Without the library's id ("[json.exception.parse_error.101]"), which means nothing to a client.
        throw ApiError(400, "the request body is not valid JSON: " + jsonErrorText(e));
    } catch (const json::exception& e) {
        // A number beyond double's range (1e400) is refused by the JSON reader as out_of_range.
        throw ApiError(400, "the request body holds a value JSON numbers cannot represent: " + jsonErrorText(e));
    }
    if (!j.is_object())
        throw ApiError(400, "the request body must be a JSON object, found " + typeName(j));
    return j;
}

std::string requiredString(const nlohmann::json& o, const char* name)
{
    const json* v = field(o, name);
    if (!v)
        throw badField(name, "required");
    if (!v->is_string())
        throw badField(name, "expected a string, found " + typeName(*v));
    if (v->get<std::string>().empty())
        throw badField(name, "must not be empty");
    return v->get<std::string>();
}

GenerationCall parseGenerationCall(const std::string& text, bool chat, const PromptEncoder& session,
                                   const RequestLimits& limits)
{
    const json body = parseJsonObject(text);
    GenerationCall call;
    call.chat = chat;
    call.model = requiredString(body, "model");
    engine::SamplingSettings& s = call.sampling;
    // OpenAI's defaults: 16 new tokens for completions, up to the limit for chat; temperature 1.
    const int64_t defaultMax = chat ? limits.maxTokens : std::min<int64_t>(16, limits.maxTokens);
    const char* maxName = chat && field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    // max_completion_tokens wins in a chat, as in vLLM, but a max_tokens beside it is still checked
    // (it was not read at all, whatever it held).
    if (maxName != std::string("max_tokens"))
        integer(body, "max_tokens", defaultMax, 1, limits.maxTokens);
    s.maxNewTokens = integer(body, maxName, defaultMax, 1, limits.maxTokens);
    s.temperature = number(body, "temperature", 1.0, 0.0, 2.0);
    // (0, 1], open at 0: one message for every value outside it.
    s.topP = number(body, "top_p", 1.0, std::numeric_limits<double>::lowest(), std::numeric_limits<double>::max());
    if (!(s.topP > 0.0 && s.topP <= 1.0))
        throw badField("top_p", "expected a value in (0, 1], found " + jsonValueText(body.at("top_p")));
    s.topK = integer(body, "top_k", 0, -1, 1 << 30);
    if (s.topK < 0)
        s.topK = 0;  // vLLM's -1 = off
    s.repetitionPenalty = number(body, "repetition_penalty", 1.0, 1e-6, 100.0);
    const bool seeded = field(body, "seed") != nullptr;
    if (seeded)
        s.seed = static_cast<uint64_t>(integer(body, "seed", 0, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()));
    s.ignoreEos = boolean(body, "ignore_eos", false);
    if (const json* stop = field(body, "stop")) {
        // An empty stop string matches before any text, so the request would end at once with nothing:
        // refused, as vLLM does ("stop cannot contain an empty string"); it was accepted and ignored.
        auto refuseEmpty = [&](const std::string& text, const std::string& where) {
            if (text.empty())
                throw badField("stop", "an empty string" + where + " would match before any text; remove it or give the text to stop at");
        };
        if (stop->is_string()) {
            refuseEmpty(stop->get<std::string>(), "");
            s.stopStrings.push_back(stop->get<std::string>());
        } else if (stop->is_array() && stop->size() <= 4) {
            for (size_t i = 0; i < stop->size(); ++i) {
                const json& x = (*stop)[i];
                if (!x.is_string())
                    throw badField("stop", "expected strings, found " + typeName(x));
                refuseEmpty(x.get<std::string>(), " (item " + std::to_string(i) + ")");
                s.stopStrings.push_back(x.get<std::string>());
            }
        } else
            throw badField("stop", "expected a string or an array of up to 4 strings, found " +
                                       (stop->is_array() ? std::to_string(stop->size()) + " items" : typeName(*stop)));
    }
    // OpenAI's range is [1, 128]; one choice per prompt is generated here.
    if (const int64_t n = integer(body, "n", 1, 1, 128); n != 1)
        throw badField("n", "only 1 is supported (one choice per prompt; send the prompt again for another), found " + std::to_string(n));
    s.minNewTokens = integer(body, "min_tokens", 0, 0, limits.maxTokens);
    s.logitBias = logitBias(body, session.vocabSize());
    refuseUnsupported(body);
    refuseUnhonouredExtensions(body, chat);
    if (number(body, "presence_penalty", 0.0, -2.0, 2.0) != 0.0)
        throw badField("presence_penalty", "only 0 is supported (use repetition_penalty)");
    if (number(body, "frequency_penalty", 0.0, -2.0, 2.0) != 0.0)
        throw badField("frequency_penalty", "only 0 is supported (use repetition_penalty)");
    if (boolean(body, "echo", false))
        throw badField("echo", "echoing the prompt is not supported");
    if (const json* lp = field(body, "logprobs"); lp && !(lp->is_boolean() && !lp->get<bool>()))
        throw badField("logprobs", "log probabilities are not supported");
    // OpenAI's end-user id: not used here, but a wrong type is the client's error, as vLLM answers it.
    if (const json* user = field(body, "user"); user && !user->is_string())
        throw badField("user", "expected a string, found " + typeName(*user));
    call.stream = boolean(body, "stream", false);
    if (const json* so = field(body, "stream_options")) {
        if (!so->is_object())
            throw badField("stream_options", "expected an object, found " + typeName(*so));
        // As OpenAI and vLLM answer it: the options of a stream that is not asked for would be ignored.
        if (!call.stream)
            throw badField("stream_options", "only allowed with \"stream\": true");
        call.includeUsage = boolean(*so, "include_usage", false, "stream_options.include_usage");
    }
    if (chat)
        call.prompts.push_back(chatPrompt(body, session));
    else
        call.prompts = completionPrompts(body, session);
    for (const auto& p : call.prompts) {
        if (p.empty())
            throw badField(chat ? "messages" : "prompt", "the prompt has no tokens");
        if (static_cast<int64_t>(p.size()) > limits.maxPromptTokens)
            throw ApiError(400,
                           std::string("'") + (chat ? "messages" : "prompt") + "': the prompt has " + std::to_string(p.size()) +
                               " tokens, more than the server's limit of " +
                               std::to_string(limits.maxPromptTokens) + " (--max-prompt-tokens)",
                           errtype::kInvalidRequest, chat ? "messages" : "prompt", "context_length_exceeded");
        // Each prompt gets the room it leaves: the prompts of a request are generated separately, and a
        // short one was held to the room of the longest.
        call.maxNewTokens.push_back(limits.contextLength > 0 ? fitContext(static_cast<int64_t>(p.size()), limits.contextLength, chat,
                                                                          field(body, maxName) ? maxName : nullptr, s.maxNewTokens)
                                                             : s.maxNewTokens);
    }
    std::random_device entropy;
    for (size_t i = 0; i < call.prompts.size(); ++i)
        call.seeds.push_back(seeded ? s.seed : (static_cast<uint64_t>(entropy()) << 32) ^ entropy());
    s.seed = call.seeds.front();
    for (size_t i = 0; i < call.prompts.size(); ++i) {
        const int64_t most = call.maxNewTokens[i];
        if (s.minNewTokens <= most)
            continue;
        if (most == s.maxNewTokens)
            throw badField("min_tokens", "expected at most the " + std::to_string(most) + " new tokens the request may generate (" +
                                             maxName + "), found " + std::to_string(s.minNewTokens));
        throw badField("min_tokens", "expected at most the " + std::to_string(most) + " new tokens that fit the model's context of " +
                                         std::to_string(limits.contextLength) + " tokens (--max-model-len) after the " +
                                         std::to_string(call.prompts[i].size()) + " tokens of " +
                                         (call.prompts.size() > 1 ? "prompt[" + std::to_string(i) + "]" : std::string("the prompt")) +
                                         ", found " + std::to_string(s.minNewTokens));
    }
    s.maxNewTokens = call.maxNewTokens.front();
    return call;
}

} // namespace rslora::serve
