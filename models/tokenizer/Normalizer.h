// tokenizer.json "normalizer": NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents, Replace, Prepend,
// ByteLevel and Sequence, applied to each piece of text that is not an added token.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace rslora::models {

class Normalizer {
public:
    virtual ~Normalizer() = default;
    // Rewrites `text` (valid UTF-8) in place.
    virtual void normalize(std::string& text) const = 0;
    // normalize() that also maps `start`, the length of the text's leading bytes that come from the
    // first character of the input (offset 0 in the reference's alignments), to the bytes of the result
    // that do: 0 when that character is removed, more when it expands ("㏳" -> "20日"). Metaspace's
    // prepend_scheme "first" asks it of each piece.
    virtual void normalizeTracking(std::string& text, std::size_t& start) const;
    // Short description, e.g. "NFC" or "Sequence[Prepend(▁), Replace]".
    virtual std::string describe() const = 0;

    // Builds the component from its JSON; null JSON gives nullptr. Throws rslora::Error naming
    // `where` (file and JSON path) for unknown types or bad fields.
    static std::unique_ptr<Normalizer> fromJson(const nlohmann::json& j, const std::string& where);
};

} // namespace rslora::models
