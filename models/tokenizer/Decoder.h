// tokenizer.json "decoder": turns token strings back into text. ByteLevel (GPT-2 bytes, lossy
// UTF-8), ByteFallback (<0xXX> runs), Metaspace, Replace, Strip, Fuse, BPEDecoder, WordPiece, Sequence.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <vector>

namespace rslora::models {

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void decodeChain(std::vector<std::string>& tokens) const = 0;
    virtual std::string describe() const = 0;
    // decodeChain, then concatenation.
    std::string decode(std::vector<std::string> tokens) const;

    static std::unique_ptr<Decoder> fromJson(const nlohmann::json& j, const std::string& where);
};

} // namespace rslora::models
