// Fuzz target for the bodies of POST /v1/completions and /v1/chat/completions as the server reads
// them (parseGenerationCall), with a small byte-level tokenizer and a ChatML template that refuses
// unknown roles, as real templates do. Every body is read by both endpoints: it is accepted with
// settings inside their documented ranges, or refused with a 400 whose message names the field (or
// says that the body itself is not a JSON object). Anything else would reach the client as a 500.
#include "FuzzChatTokenizer.h"
#include "FuzzGuard.h"
#include "app/serve/ApiError.h"
#include "app/serve/OpenAiRequest.h"
#include "models/chat/ChatTemplate.h"

#include <cstdint>
#include <string>

namespace {

const char* const kChatMl =
    "{% for m in messages %}"
    "{% if m['role'] not in ['system', 'user', 'assistant', 'tool'] %}"
    "{{ raise_exception('Unknown role: ' + m['role']) }}{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

class FuzzPrompts : public rslora::serve::PromptEncoder {
public:
    FuzzPrompts() : m_tokenizer(fuzz::chatMlTokenizer()), m_template(kChatMl, std::nullopt, std::string("<|im_end|>")) {}
    int64_t vocabSize() const override { return static_cast<int64_t>(m_tokenizer.vocabSize()); }
    std::vector<int64_t> encode(const std::string& text) const override { return m_tokenizer.encode(text); }
    std::vector<int64_t> encodeChat(const nlohmann::ordered_json& messages) const override
    {
        rslora::models::ChatRenderOptions options;
        options.addGenerationPrompt = true;
        return rslora::models::encodeRenderedChat(m_tokenizer, m_template.render(messages, options));
    }

private:
    rslora::models::Tokenizer m_tokenizer;
    rslora::models::ChatTemplate m_template;
};

void check(const std::string& body, bool chat, const FuzzPrompts& prompts, const rslora::serve::RequestLimits& limits)
{
    try {
        const auto call = rslora::serve::parseGenerationCall(body, chat, prompts, limits);
        const auto& s = call.sampling;
        fuzz::require(call.chat == chat && !call.model.empty(), "an accepted request names its model");
        fuzz::require(!call.prompts.empty() && (!chat || call.prompts.size() == 1), "one prompt per choice");
        for (const auto& p : call.prompts) {
            fuzz::require(!p.empty() && static_cast<int64_t>(p.size()) <= limits.maxPromptTokens, "prompts within the limit");
            for (const int64_t id : p)
                fuzz::require(id >= 0 && id < prompts.vocabSize(), "prompt ids inside the vocabulary");
        }
        fuzz::require(s.maxNewTokens >= 1 && s.maxNewTokens <= limits.maxTokens, "max_tokens within the limit");
        fuzz::require(s.temperature >= 0.0 && s.temperature <= 2.0, "temperature in [0, 2]");
        fuzz::require(s.topP > 0.0 && s.topP <= 1.0, "top_p in (0, 1]");
        fuzz::require(s.topK >= 0, "top_k off or positive");
        fuzz::require(s.repetitionPenalty > 0.0 && s.repetitionPenalty <= 100.0, "repetition_penalty in (0, 100]");
        fuzz::require(s.stopStrings.size() <= 4, "at most 4 stop strings");
    } catch (const rslora::serve::ApiError& e) {
        const auto error = e.body()["error"];
        const std::string message = e.what();
        fuzz::require(e.status() == 400, "a bad request is answered with 400");
        fuzz::require(error["type"] == rslora::serve::errtype::kInvalidRequest, "a bad request is an invalid_request_error");
        const bool wholeBody = message.rfind("the request body ", 0) == 0;
        if (!wholeBody && !(error["param"].is_string() && message.find(error["param"].get<std::string>()) != std::string::npos))
            std::fprintf(stderr, "message: %s\n", message.c_str());
        fuzz::require(wholeBody || (error["param"].is_string() && message.find(error["param"].get<std::string>()) != std::string::npos),
                      "the message names the field it is about");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "an exception other than ApiError escaped the request reader (%s): %s\n",
                     chat ? "chat" : "completions", e.what());
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::quietLogs();
    static const FuzzPrompts prompts;
    rslora::serve::RequestLimits limits;
    limits.maxPromptTokens = 64;
    limits.maxTokens = 32;
    const std::string body(reinterpret_cast<const char*>(data), size);
    check(body, false, prompts, limits);
    check(body, true, prompts, limits);
    return 0;
}
