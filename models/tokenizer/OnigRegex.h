// RAII wrapper over an Oniguruma regex: the engine Hugging Face `tokenizers` uses for its split
// patterns, so \p{L}, \p{N}, (?i:...) and look-ahead behave exactly as in the reference.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rslora::models {

class OnigRegex {
public:
    // Compiles `pattern` (Oniguruma's default syntax, UTF-8, as the `onig` crate's Regex::new does).
    // Throws rslora::Error with the engine's message when the pattern is invalid; `where` names the
    // pattern's origin. A Python-style \N{NAME} is compiled as the reference compiles it (a
    // non-newline character, then the literal text "{NAME}") and logs a warning saying so.
    explicit OnigRegex(std::string pattern, const std::string& where = {});
    ~OnigRegex();
    OnigRegex(const OnigRegex&) = delete;
    OnigRegex& operator=(const OnigRegex&) = delete;

    // Non-overlapping matches, left to right, as (begin, end) byte offsets. An empty match advances
    // by one code point so the scan always terminates. `text` must be valid UTF-8.
    std::vector<std::pair<std::size_t, std::size_t>> findAll(std::string_view text) const;
    // First match at or after `from`; returns false if none.
    bool find(std::string_view text, std::size_t from, std::size_t& begin, std::size_t& end) const;
    // Replaces every match with `replacement` (taken literally).
    std::string replaceAll(std::string_view text, std::string_view replacement) const;

    const std::string& pattern() const { return m_pattern; }

    // Escapes regex metacharacters so the string matches literally.
    static std::string escape(std::string_view literal);
    // tokenizer.json patterns: {"String": s} (matched literally) or {"Regex": r}.
    static std::unique_ptr<OnigRegex> fromPatternJson(const nlohmann::json& pattern, const std::string& where);

private:
    struct Impl;
    std::string m_pattern;
    std::unique_ptr<Impl> m_impl;
};

} // namespace rslora::models
