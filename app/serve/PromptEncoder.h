// What reading a generation request needs from the model: its vocabulary size and its tokenizer and
// chat template. The server answers with the resident GenerationSession; the request fuzz target
// with a tokenizer alone, so that request parsing runs without a model or a socket.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace rslora::serve {

class PromptEncoder {
public:
    virtual ~PromptEncoder() = default;
    virtual int64_t vocabSize() const = 0;
    // Both throw rslora::Error when the text cannot be encoded (no tokenizer, no chat template, a
    // message the template refuses).
    virtual std::vector<int64_t> encode(const std::string& text) const = 0;
    virtual std::vector<int64_t> encodeChat(const nlohmann::ordered_json& messages) const = 0;
};

} // namespace rslora::serve
