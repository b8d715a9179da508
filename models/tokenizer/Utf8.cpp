// UTF-8 decoding and encoding with maximal-subpart replacement of invalid sequences.
#include "models/tokenizer/Utf8.h"

namespace rslora::models::utf8 {

void append(std::string& out, char32_t cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = kReplacementChar;
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string encode(char32_t cp) {
    std::string s;
    append(s, cp);
    return s;
}

std::size_t decode(std::string_view s, std::size_t pos, char32_t& cp, bool* valid) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    const unsigned char b0 = p[pos];
    auto fail = [&](std::size_t len) {
        cp = kReplacementChar;
        if (valid)
            *valid = false;
        return len;
    };
    if (valid)
        *valid = true;
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    std::size_t need;
    char32_t value;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        value = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        value = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        value = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        return fail(1);
    }
    for (std::size_t i = 1; i <= need; ++i) {
        if (pos + i >= n)
            return fail(i);
        const unsigned char b = p[pos + i];
        const unsigned char l = (i == 1) ? lo : 0x80;
        const unsigned char h = (i == 1) ? hi : 0xBF;
        if (b < l || b > h)
            return fail(i);
        value = (value << 6) | (b & 0x3F);
    }
    cp = value;
    return need + 1;
}

bool isValid(std::string_view s) {
    std::size_t pos = 0;
    while (pos < s.size()) {
        if (static_cast<unsigned char>(s[pos]) < 0x80) {
            ++pos;
            continue;
        }
        char32_t cp;
        bool ok;
        pos += decode(s, pos, cp, &ok);
        if (!ok)
            return false;
    }
    return true;
}

std::string sanitize(std::string_view s, std::size_t* replacements) {
    std::size_t count = 0;
    if (isValid(s)) {
        if (replacements)
            *replacements = 0;
        return std::string(s);
    }
    std::string out;
    out.reserve(s.size() + 8);
    std::size_t pos = 0;
    while (pos < s.size()) {
        char32_t cp;
        bool ok;
        const std::size_t len = decode(s, pos, cp, &ok);
        if (ok) {
            out.append(s.substr(pos, len));
        } else {
            append(out, kReplacementChar);
            ++count;
        }
        pos += len;
    }
    if (replacements)
        *replacements = count;
    return out;
}

std::vector<char32_t> toCodePoints(std::string_view s) {
    std::vector<char32_t> cps;
    cps.reserve(s.size());
    std::size_t pos = 0;
    while (pos < s.size()) {
        char32_t cp;
        pos += decode(s, pos, cp);
        cps.push_back(cp);
    }
    return cps;
}

std::string fromCodePoints(const std::vector<char32_t>& cps) {
    std::string out;
    out.reserve(cps.size());
    for (char32_t cp : cps)
        append(out, cp);
    return out;
}

std::size_t length(std::string_view s) {
    std::size_t count = 0, pos = 0;
    while (pos < s.size()) {
        char32_t cp;
        pos += decode(s, pos, cp);
        ++count;
    }
    return count;
}

std::vector<std::size_t> charBoundaries(std::string_view s) {
    std::vector<std::size_t> b;
    b.reserve(s.size() + 1);
    std::size_t pos = 0;
    while (pos < s.size()) {
        b.push_back(pos);
        char32_t cp;
        pos += decode(s, pos, cp);
    }
    b.push_back(s.size());
    return b;
}

bool isWhitespace(char32_t c) {
    switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

} // namespace rslora::models::utf8
