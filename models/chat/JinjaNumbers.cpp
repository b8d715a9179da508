// Python's int(str, base) and float(str) for the chat-template filters `int` and `float`: the syntax
// Python accepts (signs, surrounding whitespace, underscores between digits, base prefixes, Unicode
// decimal digits, inf/nan), with results beyond 64 bits refused rather than wrapped.
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaIntegers.h"

#include "models/tokenizer/Utf8.h"

#include <utf8proc.h>

#include <charconv>
#include <cmath>

namespace rslora::models::jinja::detail {

namespace {

// The value of a decimal digit of any script (Python maps Unicode Nd digits to 0-9), or -1.
int decimalDigit(char32_t c) {
    if (c >= '0' && c <= '9')
        return static_cast<int>(c - '0');
    if (c < 0x80 || utf8proc_category(static_cast<utf8proc_int32_t>(c)) != UTF8PROC_CATEGORY_ND)
        return -1;
    // Unicode lays out each script's decimal digits as ten consecutive code points starting at 0.
    char32_t zero = c;
    while (zero > 0 && c - zero < 9 && utf8proc_category(static_cast<utf8proc_int32_t>(zero - 1)) == UTF8PROC_CATEGORY_ND)
        --zero;
    return static_cast<int>((c - zero) % 10);
}

int digitValue(char32_t c) {
    if (const int d = decimalDigit(c); d >= 0)
        return d;
    if (c >= 'a' && c <= 'z')
        return static_cast<int>(c - 'a') + 10;
    if (c >= 'A' && c <= 'Z')
        return static_cast<int>(c - 'A') + 10;
    return -1;
}

std::vector<char32_t> strippedCodePoints(const std::string& s) {
    std::vector<char32_t> c = cps(s);
    std::size_t b = 0, e = c.size();
    while (b < e && isPySpace(c[b]))
        ++b;
    while (e > b && isPySpace(c[e - 1]))
        --e;
    return std::vector<char32_t>(c.begin() + static_cast<std::ptrdiff_t>(b), c.begin() + static_cast<std::ptrdiff_t>(e));
}

char32_t lowerAscii(char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

} // namespace

PyInt parsePyInt(const std::string& text, int64_t base) {
    PyInt r;
    if (base != 0 && (base < 2 || base > 36))
        return r;
    const std::vector<char32_t> c = strippedCodePoints(text);
    std::size_t i = 0;
    bool negative = false;
    if (i < c.size() && (c[i] == '+' || c[i] == '-'))
        negative = c[i++] == '-';
    bool prefixed = false;
    if (i + 1 < c.size() && c[i] == '0') {
        const char32_t p = lowerAscii(c[i + 1]);
        const int64_t prefixBase = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
        if (prefixBase != 0 && (base == 0 || base == prefixBase)) {
            base = prefixBase;
            i += 2;
            prefixed = true;
        }
    }
    const bool autoDecimal = base == 0;
    if (base == 0)
        base = 10;
    // Digits with single underscores between them (and one right after a base prefix).
    std::size_t digits = 0;
    int firstDigit = -1;
    bool underscoreAllowed = prefixed, needDigit = true, overflow = false;
    __int128 value = 0;
    for (; i < c.size(); ++i) {
        if (c[i] == '_') {
            if (!underscoreAllowed)
                return r;
            underscoreAllowed = false;
            needDigit = true;
            continue;
        }
        const int d = digitValue(c[i]);
        if (d < 0 || d >= base)
            return r;
        if (firstDigit < 0)
            firstDigit = d;
        underscoreAllowed = true;
        needDigit = false;
        ++digits;
        if (!overflow) {
            value = value * base + d;
            overflow = value > static_cast<__int128>(UINT64_MAX);
        }
    }
    if (digits == 0 || needDigit)
        return r;
    // Base 0 refuses a leading zero ("010": no octal without 0o) unless the number is zero.
    if (autoDecimal && !prefixed && firstDigit == 0 && value != 0)
        return r;
    r.valid = true;
    if (negative)
        value = -value;
    const auto fitted = overflow ? std::nullopt : fitInt(value);
    if (!fitted) {
        r.overflow = true;
        return r;
    }
    r.value = *fitted;
    return r;
}

std::optional<double> parsePyFloat(const std::string& text) {
    const std::vector<char32_t> c = strippedCodePoints(text);
    std::string ascii;
    std::size_t i = 0;
    if (i < c.size() && (c[i] == '+' || c[i] == '-'))
        ascii += static_cast<char>(c[i++]);
    std::string word;
    for (std::size_t k = i; k < c.size() && c[k] < 0x80; ++k)
        word += static_cast<char>(lowerAscii(c[k]));
    if (word.size() == c.size() - i && (word == "inf" || word == "infinity" || word == "nan")) {
        const double v = word == "nan" ? std::nan("") : HUGE_VAL;
        return ascii == "-" ? -v : v;
    }
    // digits [. digits] | . digits, then [e [sign] digits]; underscores only between two digits.
    auto digitRun = [&](bool required) -> bool {
        std::size_t n = 0;
        while (i < c.size()) {
            if (c[i] == '_') {
                if (n == 0 || i + 1 >= c.size() || decimalDigit(c[i + 1]) < 0)
                    return false;
                ++i;
                continue;
            }
            const int d = decimalDigit(c[i]);
            if (d < 0)
                break;
            ascii += static_cast<char>('0' + d);
            ++n;
            ++i;
        }
        return n > 0 || !required;
    };
    const std::size_t before = ascii.size();
    if (!digitRun(false))
        return std::nullopt;
    const bool intDigits = ascii.size() > before;
    if (i < c.size() && c[i] == '.') {
        ascii += '.';
        ++i;
        const std::size_t fracStart = ascii.size();
        if (!digitRun(false))
            return std::nullopt;
        if (!intDigits && ascii.size() == fracStart)
            return std::nullopt;
    } else if (!intDigits) {
        return std::nullopt;
    }
    if (i < c.size() && lowerAscii(c[i]) == 'e') {
        ascii += 'e';
        ++i;
        if (i < c.size() && (c[i] == '+' || c[i] == '-'))
            ascii += static_cast<char>(c[i++]);
        if (!digitRun(true))
            return std::nullopt;
    }
    if (i != c.size())
        return std::nullopt;
    double v = 0;
    const char* begin = ascii.data() + (ascii[0] == '+' ? 1 : 0);
    const auto res = std::from_chars(begin, ascii.data() + ascii.size(), v);
    if (res.ec == std::errc::result_out_of_range) {
        // Beyond the double range: Python gives ±inf for a huge value and ±0 for a tiny one.
        const bool negative = ascii[0] == '-';
        const bool tiny = ascii.find("e-") != std::string::npos;
        return tiny ? (negative ? -0.0 : 0.0) : (negative ? -HUGE_VAL : HUGE_VAL);
    }
    if (res.ec != std::errc() || res.ptr != ascii.data() + ascii.size())
        return std::nullopt;
    return v;
}

std::optional<Value> floatToPyInt(double d, const char* what) {
    if (std::isnan(d))
        return std::nullopt; // Python: ValueError (the int filter returns its default)
    if (std::isinf(d))
        fail(std::string(what) + ": cannot convert float " + (d > 0 ? "infinity" : "-infinity") + " to integer");
    // [-2^63, 2^64): both bounds are exact doubles, and the truncated value fits 128 bits.
    if (d >= -9223372036854775808.0 && d < 18446744073709551616.0)
        if (const auto v = fitInt(static_cast<Wide>(d)))
            return v;
    fail(std::string(what) + ": " + formatFloat(d) + " is beyond 64 bits as an integer " + kIntegerRange);
}

} // namespace rslora::models::jinja::detail
