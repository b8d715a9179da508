// Training samples produced from SFT and preference data: plain vectors the engine turns into tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rslora::models {

// Label of a position excluded from the loss (PyTorch's CrossEntropyLoss ignore_index).
constexpr int64_t kIgnoreIndex = -100;

// ids and labels have the same length; labels are kIgnoreIndex on prompt tokens. Labels are not
// shifted: position t's logits predict labels[t + 1], as in transformers.
struct TokenizedSample {
    std::vector<int64_t> ids;
    std::vector<int64_t> labels;
};

// Token ids of a prompt and of two responses to it (DPO): the sequences to score are prompt + chosen
// and prompt + rejected, with the loss over the response tokens.
struct PreferenceSample {
    std::vector<int64_t> prompt;
    std::vector<int64_t> chosen;
    std::vector<int64_t> rejected;
};

enum class SampleFormat { Auto, Alpaca, Chat, Text, PromptCompletion, Preference };

const char* sampleFormatName(SampleFormat format);
// "alpaca", "chat", "text", "prompt_completion", "preference", "auto"; throws rslora::Error otherwise.
SampleFormat parseSampleFormat(const std::string& name);

// What the GUI shows for one record: the rendered text, which byte ranges are trained, and the
// tokens with their byte ranges in `text` (so masked tokens can be shaded).
struct SamplePreview {
    struct Span {
        std::size_t begin = 0, end = 0; // UTF-8 byte offsets into text
        bool trained = false;
        std::string role;               // "system", "user", "assistant", "template", "text", ...
    };
    struct Token {
        int64_t id = 0;
        int64_t label = kIgnoreIndex;
        std::string piece;              // vocabulary string of the token
        std::size_t begin = 0, end = 0; // byte range in text; begin == end when not attributable
    };
    SampleFormat format = SampleFormat::Auto;
    std::string text;
    std::vector<Span> spans;
    std::vector<Token> tokens;
    std::size_t truncatedTokens = 0;
};

} // namespace rslora::models
