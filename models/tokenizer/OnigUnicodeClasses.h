// Character classes of split patterns as the reference library's Oniguruma matches them. The Rust
// `tokenizers` library bundles an Oniguruma with Unicode 16 tables; the system one may be older
// (Debian 12's 6.9.8 has Unicode 14), and then \p{L} misses the letters added since (CJK Extensions H
// and I, Garay, Tulu-Tigalari, ...), so a pattern would cut text where the reference does not.
#pragma once

#include <string>

namespace rslora::models {

// `pattern` with the characters the reference's \p{X}, \P{X}, \w, \W, \d and \D match and the
// local Oniguruma's do not added to them as code point ranges (outside brackets as an alternative,
// inside brackets to the enclosing class; the negated forms exclude them). \w and \d are
// left alone in a pattern with (?W), (?D) or (?P) option groups, which make them ASCII-only.
std::string withReferenceUnicodeClasses(const std::string& pattern);

} // namespace rslora::models
