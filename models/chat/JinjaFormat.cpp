// Python's string formatting in chat templates: `text % args` (printf style, also behind the format
// filter) and str.format() with the format-spec mini-language ([[fill]align][sign][#][0][width]
// [,|_][.precision][type]), ints exact over the interpreter's whole range, floats independent of the
// C locale.
#include "models/chat/JinjaBuiltins.h"
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaIntegers.h"

#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace rslora::models::jinja {

using namespace detail;

namespace {

struct Spec {
    std::string fill = " ";
    bool fillGiven = false;
    char align = 0; // '<', '>', '^', '=' or 0 for the type's default
    char sign = '-';
    bool alternate = false;
    bool zeroPad = false;
    std::size_t width = 0;
    int precision = -1;
    char grouping = 0; // ',' or '_'
    char type = 0;
};

std::string pad(const std::string& head, const std::string& body, const Spec& s, bool numeric) {
    const std::size_t length = utf8::length(head) + utf8::length(body);
    if (length >= s.width)
        return head + body;
    char align = s.align ? s.align : numeric ? '>' : '<';
    std::string fill = s.fill;
    if (s.zeroPad && !s.fillGiven) {
        fill = "0";
        if (!s.align && numeric)
            align = '=';
    }
    auto repeat = [&](std::size_t n) {
        std::string out;
        for (std::size_t i = 0; i < n; ++i)
            out += fill;
        return out;
    };
    const std::size_t n = s.width - length;
    switch (align) {
    case '<': return head + body + repeat(n);
    case '^': return repeat(n / 2) + head + body + repeat(n - n / 2);
    case '=': return head + repeat(n) + body;
    default: return repeat(n) + head + body;
    }
}

std::string group(const std::string& digits, char separator, std::size_t every) {
    if (!separator)
        return digits;
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % every == 0)
            out += separator;
        out += digits[i];
    }
    return out;
}

// Python's zero padding with a grouping option fills with grouped zeros: '{:010,}' of 1234 is
// 00,001,234. `digits` (ungrouped) grows until grouped they take `room` characters.
std::string groupZeroPadded(std::string digits, const Spec& s, std::size_t every, std::size_t room) {
    if (s.zeroPad && !s.fillGiven && !s.align)
        while (group(digits, s.grouping, every).size() < room)
            digits.insert(digits.begin(), '0');
    return group(digits, s.grouping, every);
}

std::string signOf(bool negative, const Spec& s) { return negative ? "-" : s.sign == '+' ? "+" : s.sign == ' ' ? " " : ""; }

// An int in base 10, 2, 8 or 16 (type d, b, o, x, X); `minDigits` is printf's precision for %d.
std::string formatInteger(Wide w, const Spec& s, int minDigits) {
    const bool negative = w < 0;
    unsigned __int128 u = negative ? static_cast<unsigned __int128>(-w) : static_cast<unsigned __int128>(w);
    const unsigned base = s.type == 'b' ? 2 : s.type == 'o' ? 8 : s.type == 'x' || s.type == 'X' ? 16 : 10;
    const char* alphabet = s.type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    std::string digits;
    do {
        digits.insert(digits.begin(), alphabet[static_cast<unsigned>(u % base)]);
        u /= base;
    } while (u != 0);
    if (minDigits > 0 && digits.size() < static_cast<std::size_t>(minDigits))
        digits.insert(0, static_cast<std::size_t>(minDigits) - digits.size(), '0');
    std::string prefix;
    if (s.alternate && base != 10)
        prefix = std::string("0") + (s.type == 'b' ? "b" : s.type == 'o' ? "o" : s.type == 'X' ? "X" : "x");
    const std::string head = signOf(negative, s) + prefix;
    if (s.grouping)
        digits = groupZeroPadded(digits, s, base == 10 ? 3 : 4, s.width > head.size() ? s.width - head.size() : 0);
    return pad(head, digits, s, true);
}

// The digits of x in fixed or scientific notation with `precision` digits after the point, as printf
// writes them whatever the C locale.
std::string digitsOf(double x, std::chars_format format, int precision) {
    std::string buf(static_cast<std::size_t>(precision) + 400, '\0'); // 309 integer digits at most, sign, exponent
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), x, format, precision);
    if (r.ec != std::errc())
        fail("format precision " + std::to_string(precision) + " is too large");
    buf.resize(static_cast<std::size_t>(r.ptr - buf.data()));
    return buf;
}

std::string fixedDigits(double x, int precision) { return digitsOf(x, std::chars_format::fixed, precision); }

std::string scientificDigits(double x, int precision) { return digitsOf(x, std::chars_format::scientific, precision); }

// Drops trailing zeros of the fraction (and a bare point) in fixed or scientific text.
std::string stripZeros(const std::string& text) {
    const std::size_t e = text.find('e');
    std::string mantissa = text.substr(0, e);
    if (mantissa.find('.') != std::string::npos) {
        while (mantissa.back() == '0')
            mantissa.pop_back();
        if (mantissa.back() == '.')
            mantissa.pop_back();
    }
    return mantissa + (e == std::string::npos ? "" : text.substr(e));
}

// printf's %g (and format's 'g', or its no-type form with `repr`: a ".0" kept on fixed output and
// scientific from an exponent of precision - 1).
std::string generalDigits(double x, int precision, bool alternate, bool reprStyle) {
    const int p = precision == 0 ? 1 : precision;
    const std::string sci = scientificDigits(x, p - 1);
    const int exponent = x == 0 ? 0 : std::atoi(sci.c_str() + sci.find('e') + 1);
    const bool scientific = exponent < -4 || exponent >= (reprStyle ? p - 1 : p);
    std::string text = scientific ? sci : fixedDigits(x, p - 1 - exponent);
    if (!alternate)
        text = stripZeros(text);
    if (reprStyle && !scientific && text.find('.') == std::string::npos)
        text += ".0";
    return text;
}

std::string formatReal(double x, const Spec& s) {
    const bool negative = std::signbit(x) && !std::isnan(x);
    const double a = std::fabs(x);
    const bool upper = s.type == 'E' || s.type == 'F' || s.type == 'G';
    std::string body;
    if (!std::isfinite(a)) {
        body = std::isnan(a) ? "nan" : "inf";
        if (upper)
            body = std::isnan(a) ? "NAN" : "INF";
        if (s.type == '%')
            body += '%';
        Spec plain = s;
        plain.zeroPad = false;
        return pad(signOf(negative, s), body, plain, true);
    }
    const int p = s.precision < 0 ? 6 : s.precision;
    switch (s.type) {
    case 'f': case 'F': body = fixedDigits(a, p); break;
    case '%': body = fixedDigits(a * 100, p); break;
    case 'e': case 'E': body = scientificDigits(a, p); break;
    case 'g': case 'G': body = generalDigits(a, p, s.alternate, false); break;
    default: body = s.precision < 0 ? formatFloat(a) : generalDigits(a, s.precision, s.alternate, true); break;
    }
    if (s.alternate && body.find('.') == std::string::npos && body.find("inf") == std::string::npos) {
        const std::size_t e = body.find('e');
        body.insert(e == std::string::npos ? body.size() : e, ".");
    }
    if (s.grouping) {
        std::size_t end = body.find_first_of(".e");
        if (end == std::string::npos)
            end = body.size();
        const std::size_t used = signOf(negative, s).size() + (body.size() - end) + (s.type == '%' ? 1 : 0);
        body = groupZeroPadded(body.substr(0, end), s, 3, s.width > used ? s.width - used : 0) + body.substr(end);
    }
    if (upper)
        for (char& c : body)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (s.type == '%')
        body += '%';
    return pad(signOf(negative, s), body, s, true);
}

// repr() with the characters outside ASCII escaped, as Python's ascii() writes them.
std::string asciiRepr(const Value& v) {
    std::string out;
    for (char32_t c : utf8::toCodePoints(v.repr())) {
        if (c < 0x80) {
            out += static_cast<char>(c);
            continue;
        }
        char buf[16];
        std::snprintf(buf, sizeof buf, c <= 0xFF ? "\\x%02x" : c <= 0xFFFF ? "\\u%04x" : "\\U%08x", static_cast<unsigned>(c));
        out += buf;
    }
    return out;
}

std::string truncateChars(const std::string& s, int precision) {
    if (precision < 0)
        return s;
    const auto c = utf8::toCodePoints(s);
    if (c.size() <= static_cast<std::size_t>(precision))
        return s;
    return utf8::fromCodePoints(std::vector<char32_t>(c.begin(), c.begin() + precision));
}

std::string charOf(const Value& v, const char* what) {
    if (isIntegral(v)) {
        const Wide w = wideOf(v);
        if (w < 0 || w > 0x10FFFF)
            fail(std::string(what) + " arg not in range(0x110000)");
        return utf8::encode(static_cast<char32_t>(w));
    }
    if (v.isString() && utf8::length(v.asString()) == 1)
        return v.asString();
    fail(std::string(what) + " requires int or char");
}

// One printf-style conversion of `v` (`text % args`).
std::string percentConversion(const Value& v, Spec s) {
    const char c = s.type;
    const std::string name = std::string("%") + c + " format";
    switch (c) {
    case 's': case 'r': case 'a': {
        const std::string text = c == 's' ? v.str() : c == 'r' ? v.repr() : asciiRepr(v);
        s.zeroPad = false;
        return pad("", truncateChars(text, s.precision), s, true);
    }
    case 'c':
        s.zeroPad = false;
        return pad("", charOf(v, "%c"), s, true);
    case 'd': case 'i': case 'u': {
        Wide w;
        if (isIntegral(v)) {
            w = wideOf(v);
        } else if (v.isFloat()) {
            if (std::isnan(v.asFloat()))
                fail("cannot convert float NaN to integer");
            const auto i = floatToPyInt(v.asFloat(), name.c_str());
            w = wideOf(*i);
        } else {
            fail(name + ": a real number is required, not " + v.typeName());
        }
        s.type = 'd';
        return formatInteger(w, s, s.precision);
    }
    case 'o': case 'x': case 'X':
        if (!isIntegral(v))
            fail(name + ": an integer is required, not " + v.typeName());
        return formatInteger(wideOf(v), s, s.precision);
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
        if (!isNumeric(v))
            fail(name + ": a real number is required, not " + v.typeName());
        return formatReal(v.asNumber(), s);
    default: {
        char buf[64];
        std::snprintf(buf, sizeof buf, "unsupported format character '%c' (0x%x)", c, static_cast<unsigned char>(c));
        fail(buf);
    }
    }
}

std::size_t readNumber(const std::string& s, std::size_t& i) {
    std::size_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        n = n * 10 + static_cast<std::size_t>(s[i++] - '0');
        if (n > kMaxRepeatBytes)
            fail("format width or precision is too large");
    }
    return n;
}

} // namespace

std::string percentFormat(const std::string& fmt, const Value& args) {
    // A tuple holds the arguments; anything else is the one argument. A mapping (or list: Python
    // checks for __getitem__) may go unused and serves %(key)s.
    const std::vector<Value> list = args.isTuple() ? args.asList() : std::vector<Value>{args};
    const bool mappingLike = !args.isTuple() && (args.isDict() || args.isList());
    std::size_t next = 0;
    auto take = [&]() -> const Value& {
        if (next >= list.size())
            fail("not enough arguments for format string");
        return list[next++];
    };
    std::string out;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out += fmt[i];
            continue;
        }
        if (++i >= fmt.size())
            fail("incomplete format");
        if (fmt[i] == '%') {
            out += '%';
            continue;
        }
        const Value* keyed = nullptr;
        if (fmt[i] == '(') {
            const std::size_t start = ++i;
            int depth = 1;
            for (; i < fmt.size() && depth > 0; ++i)
                depth += fmt[i] == '(' ? 1 : fmt[i] == ')' ? -1 : 0;
            if (depth > 0)
                fail("incomplete format key");
            const std::string key = fmt.substr(start, i - 1 - start);
            if (!args.isDict())
                fail("format requires a mapping");
            keyed = args.asDict().find(key);
            if (!keyed)
                fail("KeyError: '" + key + "'");
        }
        Spec s;
        for (; i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos; ++i) {
            switch (fmt[i]) {
            case '-': s.align = '<'; break;
            case '+': s.sign = '+'; break;
            case ' ': if (s.sign != '+') s.sign = ' '; break;
            case '#': s.alternate = true; break;
            case '0': s.zeroPad = true; break;
            }
        }
        if (s.align == '<')
            s.zeroPad = false;
        if (i < fmt.size() && fmt[i] == '*') {
            ++i;
            const Value& starred = take();
            if (!isIntegral(starred))
                fail("* wants int");
            const Wide w = wideOf(starred);
            if (w < 0)
                s.align = '<';
            if ((w < 0 ? -w : w) > static_cast<Wide>(kMaxRepeatBytes))
                fail("format width or precision is too large");
            s.width = static_cast<std::size_t>(w < 0 ? -w : w);
        } else {
            s.width = readNumber(fmt, i);
        }
        if (i < fmt.size() && fmt[i] == '.') {
            ++i;
            if (i < fmt.size() && fmt[i] == '*') {
                ++i;
                const int64_t precision = toInt(take(), "* precision");
                if (precision > static_cast<int64_t>(kMaxRepeatBytes))
                    fail("format width or precision is too large");
                s.precision = static_cast<int>(std::max<int64_t>(0, precision));
            } else {
                s.precision = static_cast<int>(readNumber(fmt, i));
            }
        }
        while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L'))
            ++i;
        if (i >= fmt.size())
            fail("incomplete format");
        s.type = fmt[i];
        out += percentConversion(keyed ? *keyed : take(), s);
    }
    if (next < list.size() && !mappingLike && !(args.isDict() && next == 0))
        fail("not all arguments converted during string formatting");
    return out;
}

namespace detail {

namespace {

// format(value, spec) for one replacement field of str.format.
std::string formatField(const Value& v, const std::string& specText) {
    if (specText.empty())
        return v.str();
    Spec s;
    const auto c = utf8::toCodePoints(specText);
    std::size_t i = 0;
    auto isAlign = [](char32_t x) { return x == '<' || x == '>' || x == '^' || x == '='; };
    if (c.size() >= 2 && isAlign(c[1])) {
        s.fill = utf8::encode(c[0]);
        s.fillGiven = true;
        s.align = static_cast<char>(c[1]);
        i = 2;
    } else if (!c.empty() && isAlign(c[0])) {
        s.align = static_cast<char>(c[0]);
        i = 1;
    }
    if (i < c.size() && (c[i] == '+' || c[i] == '-' || c[i] == ' '))
        s.sign = static_cast<char>(c[i++]);
    bool dropNegativeZero = false;
    if (i < c.size() && c[i] == 'z') {
        dropNegativeZero = true;
        ++i;
    }
    if (i < c.size() && c[i] == '#') {
        s.alternate = true;
        ++i;
    }
    if (i < c.size() && c[i] == '0') {
        s.zeroPad = true;
        ++i;
    }
    std::string rest = utf8::fromCodePoints(std::vector<char32_t>(c.begin() + static_cast<std::ptrdiff_t>(i), c.end()));
    std::size_t k = 0;
    s.width = readNumber(rest, k);
    if (k < rest.size() && (rest[k] == ',' || rest[k] == '_'))
        s.grouping = rest[k++];
    if (k < rest.size() && rest[k] == '.') {
        ++k;
        const std::size_t before = k;
        s.precision = static_cast<int>(readNumber(rest, k));
        if (k == before)
            fail("Format specifier missing precision");
    }
    if (k < rest.size())
        s.type = rest[k++];
    if (k < rest.size())
        fail("Invalid format specifier '" + specText + "' for object of type '" + v.typeName() + "'");
    auto unknown = [&]() -> std::string {
        fail(std::string("Unknown format code '") + s.type + "' for object of type '" + v.typeName() + "'");
    };
    if (v.isString()) {
        if (s.type && s.type != 's')
            return unknown();
        if (s.sign != '-')
            fail("Sign not allowed in string format specifier");
        if (s.align == '=')
            fail("'=' alignment not allowed in string format specifier");
        if (s.alternate)
            fail("Alternate form (#) not allowed in string format specifier");
        if (dropNegativeZero)
            fail("Negative zero coercion (z) not allowed in string format specifier");
        if (s.grouping)
            fail(std::string("Cannot specify '") + s.grouping + "' with 's'.");
        return pad("", truncateChars(v.asString(), s.precision), s, false);
    }
    if (isIntegral(v)) {
        if (s.type == 0 || s.type == 'd' || s.type == 'n' || s.type == 'b' || s.type == 'o' || s.type == 'x' || s.type == 'X') {
            if (s.precision >= 0)
                fail("Precision not allowed in integer format specifier");
            return formatInteger(wideOf(v), s, 0);
        }
        if (s.type == 'c') {
            Spec plain = s;
            plain.type = 0;
            return pad("", charOf(v, "%c"), plain, true);
        }
        if (std::string("eEfFgG%").find(s.type) == std::string::npos)
            return unknown();
        return formatReal(v.asNumber(), s);
    }
    if (v.isFloat()) {
        if (s.type == 'n')
            s.type = 'g';
        if (s.type && std::string("eEfFgG%").find(s.type) == std::string::npos)
            return unknown();
        double x = v.asFloat();
        if (dropNegativeZero && std::signbit(x)) {
            Spec probe = s;
            probe.sign = '-';
            probe.width = 0;
            if (formatReal(x, probe).find_first_not_of("-0.%eE+") == std::string::npos)
                x = std::fabs(x);
        }
        return formatReal(x, s);
    }
    fail("unsupported format string passed to " + v.typeName() + ".__format__");
}

// The index of the first character of `s` from `from` on, outside [...], for which `stop` is true
// (s.size() when none is).
template <class Stop>
std::size_t findOutsideBrackets(const std::string& s, std::size_t from, Stop stop) {
    bool inBracket = false;
    for (std::size_t i = from; i < s.size(); ++i) {
        if (s[i] == '[')
            inBracket = true;
        else if (s[i] == ']')
            inBracket = false;
        else if (!inBracket && stop(s[i]))
            return i;
    }
    return s.size();
}

// str.format's fields: "{name.attr[key]!r:spec}" with automatic or manual numbering.
class FieldFormatter {
public:
    explicit FieldFormatter(CallArgs& args) : m_args(args) {}

    std::string format(const std::string& fmt, int depth) {
        if (depth > 2)
            fail("Max string recursion exceeded");
        std::string out;
        for (std::size_t i = 0; i < fmt.size(); ++i) {
            const char c = fmt[i];
            if (c == '}') {
                if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
                    out += '}';
                    ++i;
                    continue;
                }
                fail("Single '}' encountered in format string");
            }
            if (c != '{') {
                out += c;
                continue;
            }
            if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
                out += '{';
                ++i;
                continue;
            }
            // The field ends at the '}' matching this '{' (the spec may hold nested fields).
            int nested = 1;
            const std::size_t j = findOutsideBrackets(fmt, i + 1, [&](char x) {
                nested += x == '{' ? 1 : x == '}' ? -1 : 0;
                return nested == 0;
            });
            if (j >= fmt.size())
                fail("expected '}' before end of string");
            out += field(fmt.substr(i + 1, j - i - 1), depth);
            i = j;
        }
        return out;
    }

private:
    std::string field(const std::string& text, int depth) {
        const std::size_t end = findOutsideBrackets(text, 0, [](char x) { return x == '!' || x == ':'; });
        Value v = lookup(text.substr(0, end));
        std::size_t k = end;
        if (k < text.size() && text[k] == '!') {
            if (k + 1 >= text.size() || (k + 2 < text.size() && text[k + 2] != ':'))
                fail("expected ':' after conversion specifier");
            const char conversion = text[k + 1];
            if (conversion == 'r')
                v = Value(v.repr());
            else if (conversion == 'a')
                v = Value(asciiRepr(v));
            else if (conversion == 's')
                v = Value(v.str());
            else
                fail(std::string("Unknown conversion specifier ") + conversion);
            k += 2;
        }
        const std::string spec = k < text.size() ? format(text.substr(k + 1), depth + 1) : std::string();
        return formatField(v, spec);
    }

    Value lookup(const std::string& name) {
        std::size_t end = name.find_first_of(".[");
        const std::string first = name.substr(0, end);
        Value v;
        auto positional = [&](std::size_t index, const std::string& shown) {
            if (index >= m_args.positional.size())
                fail("Replacement index " + shown + " out of range for positional args tuple");
            return m_args.positional[index];
        };
        if (first.empty()) {
            if (m_manual)
                fail("cannot switch from manual field specification to automatic field numbering");
            m_automatic = true;
            v = positional(m_next, std::to_string(m_next));
            ++m_next;
        } else if (first.find_first_not_of("0123456789") == std::string::npos) {
            if (m_automatic)
                fail("cannot switch from automatic field numbering to manual field specification");
            m_manual = true;
            // More digits than any argument list has arguments: out of range without parsing.
            v = positional(first.size() > 9 ? m_args.positional.size() : std::stoul(first), first);
        } else {
            const Value* kw = m_args.kw(first);
            if (!kw)
                fail("KeyError: '" + first + "'");
            v = *kw;
        }
        while (end != std::string::npos && end < name.size()) {
            if (name[end] == '.') {
                const std::size_t next = name.find_first_of(".[", end + 1);
                const std::string attr = name.substr(end + 1, next == std::string::npos ? std::string::npos : next - end - 1);
                if (attr.empty())
                    fail("Empty attribute in format string");
                v = getAttribute(v, attr);
                end = next;
            } else {
                const std::size_t close = name.find(']', end);
                if (close == std::string::npos)
                    fail("Missing ']' in format string");
                const std::string key = name.substr(end + 1, close - end - 1);
                const bool digits = !key.empty() && key.size() < 19 && key.find_first_not_of("0123456789") == std::string::npos;
                v = getItem(v, digits ? Value(static_cast<int64_t>(std::stoll(key))) : Value(key));
                end = close + 1;
                if (end < name.size() && name[end] != '.' && name[end] != '[')
                    fail("Only '.' or '[' may follow ']' in format field specifier");
            }
        }
        return v;
    }

    CallArgs& m_args;
    std::size_t m_next = 0;
    bool m_automatic = false;
    bool m_manual = false;
};

} // namespace

std::string pyFormat(const std::string& fmt, CallArgs& args) { return FieldFormatter(args).format(fmt, 0); }

} // namespace detail

} // namespace rslora::models::jinja
