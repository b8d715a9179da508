// The refusal of output-changing extension fields (see ExtensionFields.h).
#include "app/serve/ExtensionFields.h"

#include "app/serve/ApiError.h"
#include "common/JsonErrorText.h"

#include <string>

namespace rslora::serve {
namespace {

using nlohmann::json;

// What a field must hold to be accepted (null, or the field's absence, is always accepted).
enum class Accepts { False, True, Zero, One, Nothing, EmptyArray, EmptyObject, TextModality };

struct Extension {
    const char* name;
    Accepts accepts;
    const char* why;  // what is not supported, and what to use instead where there is something
};

const Extension kSampling[] = {
    {"use_beam_search", Accepts::False, "beam search is not supported"},
    {"min_p", Accepts::Zero, "min-p sampling is not supported; use top_p or top_k"},
    {"length_penalty", Accepts::One, "a length penalty applies to beam search, which is not supported"},
    {"stop_token_ids", Accepts::EmptyArray, "stopping at token ids is not supported; give the text to stop at in 'stop'"},
    {"include_stop_str_in_output", Accepts::False, "the stop string is always left out of the text (the answer names it in stop_reason)"},
    {"skip_special_tokens", Accepts::True, "special tokens are always left out of the text"},
    {"truncate_prompt_tokens", Accepts::Nothing, "truncating the prompt is not supported; a prompt over the limits is refused"},
    {"prompt_logprobs", Accepts::Nothing, "log probabilities are not supported"},
    {"allowed_token_ids", Accepts::Nothing, "restricting the tokens is not supported; use logit_bias"},
    {"bad_words", Accepts::EmptyArray, "banning words is not supported; use logit_bias"},
    {"logits_processors", Accepts::EmptyArray, "custom logits processors are not supported"},
    {"guided_json", Accepts::Nothing, "structured (guided) decoding is not supported"},
    {"guided_regex", Accepts::Nothing, "structured (guided) decoding is not supported"},
    {"guided_choice", Accepts::Nothing, "structured (guided) decoding is not supported"},
    {"guided_grammar", Accepts::Nothing, "structured (guided) decoding is not supported"},
    {"structural_tag", Accepts::Nothing, "structured (guided) decoding is not supported"},
    {"structured_outputs", Accepts::Nothing, "structured (guided) decoding is not supported"},
    {"prompt_embeds", Accepts::Nothing, "prompt embeddings are not supported; give the prompt as text or token ids"},
    {"audio", Accepts::Nothing, "audio output is not supported"},
    {"modalities", Accepts::TextModality, "only [\"text\"] output is supported"},
    {"web_search_options", Accepts::Nothing, "web search is not supported"},
};

const Extension kChat[] = {
    {"add_generation_prompt", Accepts::True, "the prompt always ends with the chat template's generation prompt"},
    {"continue_final_message", Accepts::False, "continuing the final message is not supported: the answer is a new assistant turn"},
    {"add_special_tokens", Accepts::False, "the prompt holds the special tokens the chat template writes, no others"},
    {"documents", Accepts::EmptyArray, "documents for the chat template are not supported"},
    {"chat_template", Accepts::Nothing, "a chat template per request is not supported: the model's own is used"},
    {"chat_template_kwargs", Accepts::EmptyObject, "arguments for the chat template are not supported"},
};

const Extension kCompletion[] = {
    {"add_special_tokens", Accepts::True, "the prompt text is always encoded with the special tokens its tokenizer adds"},
};

[[noreturn]] void refuse(const std::string& name, const std::string& message)
{
    throw ApiError(400, "'" + name + "': " + message, errtype::kInvalidRequest, name);
}

std::string found(const json& v)
{
    return v.is_structured() ? std::string(v.type_name()) : jsonValueText(v);
}

void check(const json& body, const Extension& e)
{
    const auto it = body.find(e.name);
    if (it == body.end() || it->is_null())
        return;
    const json& v = *it;
    switch (e.accepts) {
    case Accepts::False:
    case Accepts::True:
        if (!v.is_boolean())
            refuse(e.name, "expected true or false, found " + std::string(v.type_name()));
        if (v.get<bool>() != (e.accepts == Accepts::True))
            refuse(e.name, std::string(e.why) + " (only " + (e.accepts == Accepts::True ? "true" : "false") + ")");
        return;
    case Accepts::Zero:
    case Accepts::One:
        if (!v.is_number())
            refuse(e.name, "expected a number, found " + std::string(v.type_name()));
        if (v.get<double>() != (e.accepts == Accepts::One ? 1.0 : 0.0))
            refuse(e.name, std::string(e.why) + " (only " + (e.accepts == Accepts::One ? "1" : "0") + "), found " + found(v));
        return;
    case Accepts::EmptyArray:
        if (!(v.is_array() && v.empty()))
            refuse(e.name, e.why);
        return;
    case Accepts::EmptyObject:
        if (!(v.is_object() && v.empty()))
            refuse(e.name, e.why);
        return;
    case Accepts::TextModality:
        if (!(v.is_array() && v.size() == 1 && v[0] == "text"))
            refuse(e.name, e.why);
        return;
    case Accepts::Nothing:
        refuse(e.name, e.why);
    }
}

} // namespace

void refuseUnhonouredExtensions(const json& body, bool chat)
{
    for (const Extension& e : kSampling)
        check(body, e);
    if (chat)
        for (const Extension& e : kChat)
            check(body, e);
    else
        for (const Extension& e : kCompletion)
            check(body, e);
}

} // namespace rslora::serve
