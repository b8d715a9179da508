// utf8proc-backed normalization and character classes.
#include "models/tokenizer/UnicodeText.h"

#include "common/Error.h"
#include "models/tokenizer/UnicodeTables.h"
#include "models/tokenizer/Utf8.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>
#include <cstdlib>
#include <memory>
#include <utility>

namespace rslora::models::unicode {

namespace {

bool isAscii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80)
            return false;
    return true;
}

utf8proc_category_t category(char32_t cp) {
    return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

} // namespace

namespace {

std::string utf8procNormalize(std::string_view text, Form form) {
    int options = UTF8PROC_STABLE;
    switch (form) {
    case Form::NFC: options |= UTF8PROC_COMPOSE; break;
    case Form::NFD: options |= UTF8PROC_DECOMPOSE; break;
    case Form::NFKC: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case Form::NFKD: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t* out = nullptr;
    const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                static_cast<utf8proc_ssize_t>(text.size()), &out,
                                static_cast<utf8proc_option_t>(options));
    std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> holder(out, &std::free);
    if (n < 0)
        throw Error(std::string("Unicode normalization failed: ") + utf8proc_errmsg(n));
    return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

} // namespace

// The reference normalizes with Unicode 9.0 tables, to which later characters are unassigned: starters
// with no decomposition that nothing composes with. So the text is normalized in runs between them
// and they are kept as they are, which is exactly what normalizing the whole with 9.0 tables gives.
std::string normalize(std::string_view text, Form form) {
    if (isAscii(text))
        return std::string(text);
    std::string out;
    out.reserve(text.size());
    std::size_t runStart = 0, pos = 0;
    while (pos < text.size()) {
        char32_t cp;
        const std::size_t len = utf8::decode(text, pos, cp);
        if (assignedAfterUnicode9(cp)) {
            if (pos > runStart)
                out += utf8procNormalize(text.substr(runStart, pos - runStart), form);
            out.append(text.substr(pos, len));
            runStart = pos + len;
        }
        pos += len;
    }
    if (runStart == 0)
        return utf8procNormalize(text, form);
    if (runStart < text.size())
        out += utf8procNormalize(text.substr(runStart), form);
    return out;
}

std::string toLower(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        char32_t cp;
        pos += utf8::decode(text, pos, cp);
        if (cp == 0x130) { // İ lowercases to i + combining dot above (full case mapping)
            utf8::append(out, 'i');
            utf8::append(out, 0x307);
            continue;
        }
        utf8::append(out, toLower(cp));
    }
    return out;
}

std::string toUpper(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        char32_t cp;
        pos += utf8::decode(text, pos, cp);
        if (const auto* full = fullUppercase(cp)) { // "ß" -> "SS", "ﬁ" -> "FI"
            for (char32_t c : *full)
                if (c != 0)
                    utf8::append(out, c);
            continue;
        }
        utf8::append(out, toUpper(cp));
    }
    return out;
}

char32_t toLower(char32_t cp) {
    if (const char32_t extra = extraLowercase(cp))
        return extra;
    return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
}

std::string toTitle(char32_t cp) {
    std::string out;
    if (const auto* full = fullTitlecase(cp)) {
        for (char32_t c : *full)
            if (c != 0)
                utf8::append(out, c);
        return out;
    }
    utf8::append(out, static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(cp))));
    return out;
}

char32_t toUpper(char32_t cp) {
    if (const auto* full = fullUppercase(cp); full && (*full)[1] == 0)
        return (*full)[0];
    return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cp)));
}

bool isLetter(char32_t cp) {
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return true;
    default:
        return false;
    }
}

bool isDecimalDigit(char32_t cp) { return category(cp) == UTF8PROC_CATEGORY_ND; }

std::string stripAccents(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        char32_t cp;
        const std::size_t len = utf8::decode(text, pos, cp);
        // Every mark (Mn, Mc, Me) of the reference's Unicode 9.0 tables: U+1CF2 and U+1CF3 were marks
        // then (letters now), U+111C9 was punctuation then (a mark now).
        const bool mark9 = (isMark(cp) && !assignedAfterUnicode9(cp) && cp != 0x111C9) || cp == 0x1CF2 || cp == 0x1CF3;
        if (!mark9)
            out.append(text.substr(pos, len));
        pos += len;
    }
    return out;
}

bool isPunctuation(char32_t cp) {
    if (cp < 0x80)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
    return isReferencePunctuation(cp);
}

bool isNumeric(char32_t cp) {
    const auto c = category(cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool isMark(char32_t cp) {
    const auto c = category(cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC || c == UTF8PROC_CATEGORY_ME;
}

bool isAlphanumericWord(char32_t cp) {
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_NL:
        return true;
    default:
        return cp == 0x200C || cp == 0x200D;
    }
}

std::string version() { return utf8proc_unicode_version(); }

bool isCased(char32_t cp) { return isCasedCodePoint(cp); }

bool isCaseIgnorable(char32_t cp) {
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        break;
    }
    // Word_Break MidLetter, MidNumLet and Single_Quote.
    static const char32_t mid[] = {0x27, 0x2E, 0x3A, 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024,
                                   0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    return std::find(std::begin(mid), std::end(mid), cp) != std::end(mid);
}

} // namespace rslora::models::unicode
