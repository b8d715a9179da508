// tokenizer.json "normalizer": NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents, Replace, Prepend,
// ByteLevel and Sequence, applied to each piece of text that is not an added token.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>

namespace rslora::models {

class Normalizer {
public:
    virtual ~Normalizer() = default;
    // Rewrites `text` (valid UTF-8) in place.
    virtual void normalize(std::string& text) const = 0;
    // Short description, e.g. "NFC" or "Sequence[Prepend(▁), Replace]".
    virtual std::string describe() const = 0;

    // Builds the component from its JSON; null JSON gives nullptr. Throws rslora::Error naming
    // `where` (file and JSON path) for unknown types or bad fields.
    static std::unique_ptr<Normalizer> fromJson(const nlohmann::json& j, const std::string& where);
};

} // namespace rslora::models
