// Unicode services for the tokenizer (normalization forms, categories, case) backed by utf8proc.
#pragma once

#include <string>
#include <string_view>

namespace rslora::models::unicode {

enum class Form { NFC, NFD, NFKC, NFKD };

// Normalizes valid UTF-8 text as the Rust `tokenizers` library does (Unicode 9.0 tables: characters
// assigned later are left as they are). Returns the input unchanged for pure ASCII (a fast path).
std::string normalize(std::string_view text, Form form);
std::string toLower(std::string_view text);
std::string toUpper(std::string_view text);
char32_t toLower(char32_t cp);
char32_t toUpper(char32_t cp);
// Full titlecase mapping of one character ("ǆ" -> "ǅ", "ß" -> "Ss").
std::string toTitle(char32_t cp);
bool isLetter(char32_t cp);
bool isDecimalDigit(char32_t cp);
// Removes marks (Mn, Mc, Me of Unicode 9.0), as tokenizers' StripAccents does.
std::string stripAccents(std::string_view text);

bool isPunctuation(char32_t cp); // ASCII punctuation or P* of Unicode 8.0, as the reference splits on
bool isNumeric(char32_t cp);     // N* categories (utf8proc's Unicode version)
bool isAlphanumericWord(char32_t cp); // \w: letters, marks, decimal digits, connector punctuation
bool isMark(char32_t cp);
// Unicode's Cased and Case_Ignorable properties (the final-sigma rule of Python's str.lower()).
bool isCased(char32_t cp);
bool isCaseIgnorable(char32_t cp);

// The Unicode version of the tables in use.
std::string version();

} // namespace rslora::models::unicode
