// tokenizer.json "post_processor": TemplateProcessing (BOS/EOS around the sequence), ByteLevel (adds
// nothing), RobertaProcessing, BertProcessing and Sequence. Special tokens are added only when the
// caller asks for them (add_special_tokens).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rslora::models {

class PostProcessor {
public:
    struct Piece {
        int32_t id;
        std::string token;
    };
    virtual ~PostProcessor() = default;
    // Special pieces placed before and after a single sequence.
    virtual void singleAffixes(std::vector<Piece>& prefix, std::vector<Piece>& suffix) const = 0;
    virtual std::string describe() const = 0;

    static std::unique_ptr<PostProcessor> fromJson(const nlohmann::json& j, const std::string& where);
    // TemplateProcessing "<bos> $A <eos>" with either side optional (transformers' Llama update_post_processor).
    static std::unique_ptr<PostProcessor> makeBosEos(const Piece* bos, const Piece* eos);
};

} // namespace rslora::models
