// A model's chat template: renders a conversation (system/user/assistant/tool messages) to the text
// the model was trained on, as transformers' apply_chat_template does, and encodes that text.
#pragma once

#include "models/chat/JinjaTemplate.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rslora::models {

class Tokenizer;

enum class ChatTemplateKind { ChatML, Llama3, Llama2, Mistral, Gemma, Zephyr, DeepSeek, Alpaca, Custom };

struct ChatRenderOptions {
    bool addGenerationPrompt = false;
    // Extra template variables: tools, documents, enable_thinking, date_string, ...
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

class ChatTemplate {
public:
    // Parses `source`; throws rslora::Error with the template line on syntax errors.
    ChatTemplate(std::string source, std::optional<std::string> bosToken = std::nullopt,
                 std::optional<std::string> eosToken = std::nullopt, std::string name = "default");

    // The tokenizer's template called `name` (tokenizer_config.json / chat_template.jinja), with
    // its bos/eos/pad/unk tokens as variables; nullopt when the model has none.
    static std::optional<ChatTemplate> fromTokenizer(const Tokenizer& tokenizer, const std::string& name = "default");
    // A plain instruction format for base models without a chat template:
    // "### Instruction:\n...\n\n### Response:\n...<eos>".
    static ChatTemplate plainInstruction(std::optional<std::string> eosToken);

    // `messages` is a JSON array of {"role": ..., "content": ...} objects (other keys are passed on).
    std::string render(const nlohmann::ordered_json& messages, const ChatRenderOptions& options = {}) const;
    jinja::RenderResult renderDetailed(const nlohmann::ordered_json& messages,
                                       const ChatRenderOptions& options = {}) const;

    ChatTemplateKind kind() const { return m_kind; }
    // "chatml", "llama3", "llama2", "mistral", "gemma", "zephyr", "deepseek", "alpaca", "custom".
    std::string kindName() const;
    const std::string& name() const { return m_name; }
    const std::string& source() const { return m_source; }
    // Sets a special-token variable; nullopt leaves it undefined in the template (as transformers).
    void setSpecialToken(const std::string& variable, std::optional<std::string> value);

    static ChatTemplateKind detectKind(const std::string& source);
    static std::string kindName(ChatTemplateKind kind);

private:
    std::string m_source;
    std::string m_name;
    std::shared_ptr<const jinja::Template> m_template;
    ChatTemplateKind m_kind;
    nlohmann::ordered_json m_specialTokens = nlohmann::ordered_json::object();
};

// Encodes rendered chat text as transformers' apply_chat_template(tokenize=True) does (and TRL and
// vLLM's chat completions): without the post-processor's special tokens. The template writes every
// special token itself (Llama-3's <|begin_of_text|>, Mistral's <s>); one that writes none (Zephyr,
// ChatML) gets no BOS.
std::vector<int64_t> encodeRenderedChat(const Tokenizer& tokenizer, const std::string& text);

} // namespace rslora::models
