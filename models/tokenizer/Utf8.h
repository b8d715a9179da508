// UTF-8 helpers for the tokenizer: code point iteration, encoding, and the policy for invalid input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rslora::models::utf8 {

constexpr char32_t kReplacementChar = 0xFFFD;

// Appends the UTF-8 encoding of `cp` to `out` (code points above 0x10FFFF or surrogates become U+FFFD).
void append(std::string& out, char32_t cp);
std::string encode(char32_t cp);

// Decodes one code point at `pos`. Returns its length in bytes (>= 1). On an invalid sequence
// returns the length of the maximal invalid subpart (WHATWG / Unicode "best practice", the rule of
// Rust's from_utf8_lossy and Python's errors="replace") and sets `cp` to U+FFFD.
std::size_t decode(std::string_view s, std::size_t pos, char32_t& cp, bool* valid = nullptr);

bool isValid(std::string_view s);
// Replaces every maximal invalid subpart with U+FFFD. Returns the input unchanged when valid.
std::string sanitize(std::string_view s, std::size_t* replacements = nullptr);

std::vector<char32_t> toCodePoints(std::string_view s);
std::string fromCodePoints(const std::vector<char32_t>& cps);

// Number of code points (invalid subparts count as one each).
std::size_t length(std::string_view s);

// Byte offsets at which each code point starts, plus s.size() at the end.
std::vector<std::size_t> charBoundaries(std::string_view s);

// Unicode White_Space property (what Rust's char::is_whitespace and Python's str.isspace()
// mostly agree on).
bool isWhitespace(char32_t cp);

} // namespace rslora::models::utf8
