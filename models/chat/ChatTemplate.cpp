// Chat template front end: variables as transformers passes them, kind detection, and encoding.
#include "models/chat/ChatTemplate.h"

#include "models/tokenizer/Tokenizer.h"

namespace rslora::models {

namespace {

const char* const kPlainInstruction =
    "{%- for message in messages -%}"
    "{%- if message.role == 'system' -%}{{ message.content }}{{ '\\n\\n' }}"
    "{%- elif message.role == 'user' -%}{{ '### Instruction:\\n' + message.content + '\\n\\n### Response:\\n' }}"
    "{%- elif message.role == 'assistant' -%}{{ message.content }}{{ eos_token if eos_token else '' }}"
    "{%- if not loop.last -%}{{ '\\n\\n' }}{%- endif -%}"
    "{%- endif -%}"
    "{%- endfor -%}";

} // namespace

ChatTemplate::ChatTemplate(std::string source, std::optional<std::string> bosToken, std::optional<std::string> eosToken,
                           std::string name)
    : m_source(std::move(source)), m_name(std::move(name)),
      m_template(std::make_shared<const jinja::Template>(m_source)), m_kind(detectKind(m_source)) {
    setSpecialToken("bos_token", std::move(bosToken));
    setSpecialToken("eos_token", std::move(eosToken));
}

// A token the tokenizer does not have (Qwen's "bos_token": null) is left out, as transformers passes
// only the special tokens that are set: undefined renders "" and fails `is defined`, where None
// would render "None".
void ChatTemplate::setSpecialToken(const std::string& variable, std::optional<std::string> value) {
    if (value)
        m_specialTokens[variable] = *value;
    else
        m_specialTokens.erase(variable);
}

std::optional<ChatTemplate> ChatTemplate::fromTokenizer(const Tokenizer& tokenizer, const std::string& name) {
    const std::string* source = tokenizer.config().chatTemplate(name);
    if (!source)
        return std::nullopt;
    ChatTemplate t(*source, tokenizer.bosToken(), tokenizer.eosToken(), name);
    t.setSpecialToken("pad_token", tokenizer.padToken());
    const TokenizerConfig& config = tokenizer.config();
    if (config.unkToken)
        t.setSpecialToken("unk_token", config.unkToken);
    // transformers passes its whole special-tokens map: the other named tokens, and the model's own
    // (image_token, ...) from extra_special_tokens / model_specific_special_tokens.
    for (const auto& [variable, value] : {std::pair{"sep_token", &config.sepToken}, std::pair{"cls_token", &config.clsToken},
                                          std::pair{"mask_token", &config.maskToken}})
        if (*value)
            t.setSpecialToken(variable, *value);
    for (const auto& [variable, value] : config.namedSpecialTokens)
        if (!t.m_specialTokens.contains(variable))
            t.setSpecialToken(variable, value);
    return t;
}

ChatTemplate ChatTemplate::plainInstruction(std::optional<std::string> eosToken) {
    ChatTemplate t(kPlainInstruction, std::nullopt, std::move(eosToken), "plain-instruction");
    t.m_kind = ChatTemplateKind::Alpaca;
    return t;
}

jinja::RenderResult ChatTemplate::renderDetailed(const nlohmann::ordered_json& messages,
                                                 const ChatRenderOptions& options) const {
    if (!messages.is_array())
        throw Error("chat messages must be a JSON array, found " + std::string(messages.type_name()));
    nlohmann::ordered_json context = nlohmann::ordered_json::object();
    context["messages"] = messages;
    context["add_generation_prompt"] = options.addGenerationPrompt;
    // transformers always passes these (None when the caller has none), so `tools is defined` holds.
    context["tools"] = nullptr;
    context["documents"] = nullptr;
    for (auto it = m_specialTokens.begin(); it != m_specialTokens.end(); ++it)
        context[it.key()] = it.value();
    if (options.extra.is_object())
        for (auto it = options.extra.begin(); it != options.extra.end(); ++it)
            context[it.key()] = it.value();
    return m_template->render(context);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, const ChatRenderOptions& options) const {
    return renderDetailed(messages, options).text;
}

ChatTemplateKind ChatTemplate::detectKind(const std::string& s) {
    auto has = [&](const char* needle) { return s.find(needle) != std::string::npos; };
    if (has("<|im_start|>"))
        return ChatTemplateKind::ChatML;
    if (has("<|start_header_id|>"))
        return ChatTemplateKind::Llama3;
    if (has("<<SYS>>"))
        return ChatTemplateKind::Llama2;
    if (has("[INST]"))
        return ChatTemplateKind::Mistral;
    if (has("<start_of_turn>"))
        return ChatTemplateKind::Gemma;
    if (has("<\xEF\xBD\x9CUser\xEF\xBD\x9C>")) // <｜User｜>
        return ChatTemplateKind::DeepSeek;
    if (has("<|user|>"))
        return ChatTemplateKind::Zephyr;
    if (has("### Instruction"))
        return ChatTemplateKind::Alpaca;
    return ChatTemplateKind::Custom;
}

std::string ChatTemplate::kindName(ChatTemplateKind kind) {
    switch (kind) {
    case ChatTemplateKind::ChatML: return "chatml";
    case ChatTemplateKind::Llama3: return "llama3";
    case ChatTemplateKind::Llama2: return "llama2";
    case ChatTemplateKind::Mistral: return "mistral";
    case ChatTemplateKind::Gemma: return "gemma";
    case ChatTemplateKind::Zephyr: return "zephyr";
    case ChatTemplateKind::DeepSeek: return "deepseek";
    case ChatTemplateKind::Alpaca: return "alpaca";
    case ChatTemplateKind::Custom: return "custom";
    }
    return "custom";
}

std::string ChatTemplate::kindName() const { return kindName(m_kind); }

std::vector<int64_t> encodeRenderedChat(const Tokenizer& tokenizer, const std::string& text) {
    return tokenizer.encode(text, false);
}

} // namespace rslora::models
