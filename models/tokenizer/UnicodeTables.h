// Unicode data the reference implementations use and utf8proc does not give: the derived Cased
// property, case mappings added after utf8proc's Unicode version or needing several characters
// (Unicode 17, as Rust's char::to_lowercase and JavaScript's toUpperCase have them), and the
// characters assigned after Unicode 9.0, whose normalization tables the Rust `tokenizers` library
// still uses (unicode-normalization-alignments).
#pragma once

#include <array>

namespace rslora::models::unicode {

// Unicode's derived Cased property (Lowercase + Uppercase + Lt).
bool isCasedCodePoint(char32_t cp);
// The lowercase of `cp` where utf8proc's tables lack it (letters of Unicode 16 and 17); 0 if none.
char32_t extraLowercase(char32_t cp);
// The full uppercase of `cp` (up to three characters, 0-padded) where it differs from utf8proc's
// simple mapping ("ß" -> "SS", "ﬁ" -> "FI", letters of Unicode 16 and 17); nullptr if it does not.
const std::array<char32_t, 3>* fullUppercase(char32_t cp);
// The full titlecase of `cp` where it is several characters ("ß" -> "Ss", "ﬁ" -> "Fi"); nullptr if not.
const std::array<char32_t, 3>* fullTitlecase(char32_t cp);
// A character assigned after Unicode 9.0 (unassigned to the reference's normalizer: no
// decomposition, no composition, combining class 0, not a mark).
bool assignedAfterUnicode9(char32_t cp);
// Punctuation as the reference's Punctuation and BertPreTokenizer see it: the Unicode 8.0 P*
// categories and ASCII punctuation (U+2E43, U+0A76, ... added later are not; U+166D and U+111C9,
// punctuation then, are).
bool isReferencePunctuation(char32_t cp);
// A number (N*) of Unicode 16, which Rust's char::is_numeric knows, missing from utf8proc's tables.
bool numericAfterUtf8proc(char32_t cp);

} // namespace rslora::models::unicode
