// Helpers shared by the chat-template interpreter (see JinjaHelpers.h).
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaIntegers.h"

#include "models/chat/JinjaTemplate.h"
#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <unordered_map>

namespace rslora::models::jinja::detail {

void fail(const std::string& message) { throw EvalError(message); }

Value makeList(List l) { return Value(std::move(l)); }

std::vector<char32_t> cps(const std::string& s) { return utf8::toCodePoints(s); }

bool isPySpace(char32_t c) { return utf8::isWhitespace(c) || (c >= 0x1C && c <= 0x1F); }

// Returns a copy: callers often pass a temporary fallback.
Value arg(CallArgs& a, std::size_t index, const char* name, const Value& fallback) {
    if (index < a.positional.size())
        return a.positional[index];
    if (const Value* v = a.kw(name))
        return *v;
    return fallback;
}

int64_t toInt(const Value& v, const char* what) {
    if (v.isInt())
        return v.asInt();
    if (v.isUInt())
        fail(std::string(what) + ": " + v.str() + " is too large here (at most 9223372036854775807)");
    if (v.isBool())
        return v.asBool() ? 1 : 0;
    if (v.isFloat()) {
        if (const auto i = truncatedInt(v.asFloat()))
            return *i;
        fail(std::string(what) + ": " + formatFloat(v.asFloat()) + " does not fit in a 64-bit integer");
    }
    fail(std::string(what) + ": expected an integer, found " + v.typeName());
}

std::optional<int64_t> truncatedInt(double d) {
    // [-2^63, 2^63): both bounds are exact doubles.
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return std::nullopt;
    return static_cast<int64_t>(d);
}

std::string stripChars(const std::string& s, const Value& chars, bool left, bool right) {
    const auto c = cps(s);
    std::vector<char32_t> set;
    const bool whitespace = chars.isUndefined() || chars.isNone();
    if (!whitespace) {
        if (!chars.isString())
            fail("strip arg must be None or str, not " + chars.typeName());
        set = cps(chars.asString());
    }
    auto strip = [&](char32_t ch) {
        return whitespace ? isPySpace(ch) : std::find(set.begin(), set.end(), ch) != set.end();
    };
    std::size_t b = 0, e = c.size();
    if (left)
        while (b < e && strip(c[b]))
            ++b;
    if (right)
        while (e > b && strip(c[e - 1]))
            --e;
    return utf8::fromCodePoints(std::vector<char32_t>(c.begin() + b, c.begin() + e));
}

List splitString(const std::string& s, const Value& sep, int64_t maxsplit, bool fromRight) {
    List out;
    if (sep.isUndefined() || sep.isNone()) {
        // Runs of whitespace separate; empty strings are dropped.
        const auto c = cps(s);
        std::vector<std::pair<std::size_t, std::size_t>> words;
        std::size_t i = 0;
        while (i < c.size()) {
            while (i < c.size() && isPySpace(c[i]))
                ++i;
            if (i >= c.size())
                break;
            std::size_t j = i;
            while (j < c.size() && !isPySpace(c[j]))
                ++j;
            words.emplace_back(i, j);
            i = j;
        }
        if (maxsplit >= 0 && static_cast<int64_t>(words.size()) > maxsplit + 1) {
            if (!fromRight) {
                auto keep = words;
                keep.resize(static_cast<std::size_t>(maxsplit));
                for (const auto& [b, e] : keep)
                    out.emplace_back(utf8::fromCodePoints(std::vector<char32_t>(c.begin() + b, c.begin() + e)));
                std::size_t restStart = words[static_cast<std::size_t>(maxsplit)].first;
                std::size_t restEnd = c.size();
                while (restEnd > restStart && isPySpace(c[restEnd - 1]))
                    --restEnd;
                out.emplace_back(utf8::fromCodePoints(std::vector<char32_t>(c.begin() + restStart, c.begin() + restEnd)));
                return out;
            }
            const std::size_t firstKept = words.size() - static_cast<std::size_t>(maxsplit);
            std::size_t restStart = 0;
            while (restStart < c.size() && isPySpace(c[restStart]))
                ++restStart;
            out.emplace_back(utf8::fromCodePoints(std::vector<char32_t>(c.begin() + restStart, c.begin() + words[firstKept - 1].second)));
            for (std::size_t k = firstKept; k < words.size(); ++k)
                out.emplace_back(utf8::fromCodePoints(std::vector<char32_t>(c.begin() + words[k].first, c.begin() + words[k].second)));
            return out;
        }
        for (const auto& [b, e] : words)
            out.emplace_back(utf8::fromCodePoints(std::vector<char32_t>(c.begin() + b, c.begin() + e)));
        return out;
    }
    if (!sep.isString())
        fail("split separator must be a string, not " + sep.typeName());
    const std::string& d = sep.asString();
    if (d.empty())
        fail("empty separator");
    std::vector<std::string> parts;
    if (!fromRight) {
        std::size_t last = 0, pos;
        int64_t splits = 0;
        while ((maxsplit < 0 || splits < maxsplit) && (pos = s.find(d, last)) != std::string::npos) {
            parts.push_back(s.substr(last, pos - last));
            last = pos + d.size();
            ++splits;
        }
        parts.push_back(s.substr(last));
    } else {
        std::size_t end = s.size();
        int64_t splits = 0;
        while (maxsplit < 0 || splits < maxsplit) {
            if (end < d.size())
                break;
            const std::size_t pos = s.rfind(d, end - d.size());
            if (pos == std::string::npos)
                break;
            parts.insert(parts.begin(), s.substr(pos + d.size(), end - pos - d.size()));
            end = pos;
            ++splits;
        }
        parts.insert(parts.begin(), s.substr(0, end));
    }
    for (auto& p : parts)
        out.emplace_back(std::move(p));
    return out;
}

std::string replaceAll(const std::string& s, const std::string& from, const std::string& to, int64_t count) {
    if (from.empty()) {
        // Python inserts `to` between every character (and at both ends).
        const auto c = cps(s);
        std::string out;
        int64_t done = 0;
        for (std::size_t i = 0; i <= c.size(); ++i) {
            if (count < 0 || done < count) {
                out += to;
                ++done;
            }
            if (i < c.size())
                utf8::append(out, c[i]);
        }
        return out;
    }
    std::string out;
    std::size_t last = 0, pos;
    int64_t done = 0;
    while ((count < 0 || done < count) && (pos = s.find(from, last)) != std::string::npos) {
        out.append(s, last, pos - last);
        out += to;
        last = pos + from.size();
        ++done;
    }
    out.append(s, last, std::string::npos);
    return out;
}

Value pyRound(const Value& v, int64_t ndigits) {
    if (isIntegral(v)) {
        const Wide x = wideOf(v);
        if (ndigits >= 0)
            return intResult(x, "round");
        if (ndigits < -20)
            return Value(int64_t(0)); // |x| < 2^64 < 10^20 / 2
        Wide p = 1;
        for (int64_t i = 0; i < -ndigits; ++i)
            p *= 10;
        Wide q = floorDiv(x, p);
        const Wide rem = floorMod(x, p);
        if (rem > p - rem || (rem == p - rem && q % 2 != 0))
            ++q;
        return intResult(q * p, "round(" + v.str() + ", " + std::to_string(ndigits) + ")");
    }
    const double x = v.asNumber();
    if (!std::isfinite(x) || ndigits > 330)
        return Value(x);
    if (ndigits >= 0) {
        // printf rounds the exact binary value half to even, as Python's correctly rounded dtoa does.
        const int n = std::snprintf(nullptr, 0, "%.*f", static_cast<int>(ndigits), x);
        std::string buf(static_cast<std::size_t>(n) + 1, '\0');
        std::snprintf(buf.data(), buf.size(), "%.*f", static_cast<int>(ndigits), x);
        return Value(std::strtod(buf.c_str(), nullptr));
    }
    if (ndigits < -308)
        return Value(0.0 * x);
    const double p = std::pow(10.0, static_cast<double>(-ndigits));
    return Value(std::nearbyint(x / p) * p);
}

namespace {

// Python's lower() of c[i] within `c`: full mapping, and Σ becomes ς when a cased letter precedes it
// and none follows (case-ignorable characters skipped), as Python's final-sigma rule has it.
std::string lowerAt(const std::vector<char32_t>& c, std::size_t i) {
    if (c[i] != 0x3A3)
        return unicode::toLower(utf8::encode(c[i]));
    std::size_t j = i;
    while (j > 0 && unicode::isCaseIgnorable(c[j - 1]))
        --j;
    const bool precededByCased = j > 0 && unicode::isCased(c[j - 1]);
    std::size_t k = i + 1;
    while (k < c.size() && unicode::isCaseIgnorable(c[k]))
        ++k;
    const bool followedByCased = k < c.size() && unicode::isCased(c[k]);
    return utf8::encode(precededByCased && !followedByCased ? 0x3C2 : 0x3C3);
}

} // namespace

// Python's character classes: titlecase (Lt), and Uppercase / Lowercase (with the Other_Uppercase
// letters such as 🄰 and the Other_Lowercase ones such as ª, which have no case mapping).
bool isTitleCaseChar(char32_t c) {
    const std::string one = utf8::encode(c);
    return unicode::toLower(c) != c && unicode::toTitle(c) == one && unicode::toUpper(one) != one;
}

bool isUpperCaseChar(char32_t c) {
    return unicode::isCased(c) && !isTitleCaseChar(c) && (unicode::toLower(c) != c || (c >= 0x1F130 && c <= 0x1F189));
}

bool isLowerCaseChar(char32_t c) { return unicode::isCased(c) && !isTitleCaseChar(c) && !isUpperCaseChar(c); }

bool pyIsTitle(const std::string& s) {
    bool cased = false, previousCased = false;
    for (char32_t c : cps(s)) {
        if (isUpperCaseChar(c) || isTitleCaseChar(c)) {
            if (previousCased)
                return false;
            previousCased = cased = true;
        } else if (isLowerCaseChar(c)) {
            if (!previousCased)
                return false;
            previousCased = cased = true;
        } else {
            previousCased = false;
        }
    }
    return cased;
}

bool pyIsUpper(const std::string& s) {
    bool cased = false;
    for (char32_t c : cps(s)) {
        if (isLowerCaseChar(c) || isTitleCaseChar(c))
            return false;
        cased = cased || isUpperCaseChar(c);
    }
    return cased;
}

bool pyIsLower(const std::string& s) {
    bool cased = false;
    for (char32_t c : cps(s)) {
        if (isUpperCaseChar(c) || isTitleCaseChar(c))
            return false;
        cased = cased || isLowerCaseChar(c);
    }
    return cased;
}

std::string pyLower(const std::string& s) {
    const auto c = cps(s);
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < c.size(); ++i)
        out += lowerAt(c, i);
    return out;
}

// str.capitalize() (Python 3.8+): the first character in titlecase, the rest lowercased.
std::string capitalize(const std::string& s) {
    const auto c = cps(s);
    std::string out;
    for (std::size_t i = 0; i < c.size(); ++i)
        out += i == 0 ? unicode::toTitle(c[0]) : lowerAt(c, i);
    return out;
}

// str.title(): a character after a cased one is lowercased, any other titlecased.
std::string pyTitle(const std::string& s) {
    const auto c = cps(s);
    std::string out;
    bool prevCased = false;
    for (std::size_t i = 0; i < c.size(); ++i) {
        out += prevCased ? lowerAt(c, i) : unicode::toTitle(c[i]);
        prevCased = unicode::isCased(c[i]);
    }
    return out;
}

// str.swapcase(): uppercase letters lowercased, lowercase ones uppercased, titlecase ones kept.
std::string pySwapcase(const std::string& s) {
    const auto c = cps(s);
    std::string out;
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (isUpperCaseChar(c[i]))
            out += lowerAt(c, i);
        else if (isLowerCaseChar(c[i]))
            out += unicode::toUpper(utf8::encode(c[i]));
        else
            out += utf8::encode(c[i]);
    }
    return out;
}

// Jinja's title filter: in each word (words start after whitespace or one of - ( { [ <), the first
// character upper() (full mapping: "ﬁ" -> "FI") and the rest lower() (final sigma within the word).
std::string jinjaTitle(const std::string& s) {
    const auto c = cps(s);
    std::string out;
    auto isSep = [](char32_t ch) { return isPySpace(ch) || ch == '-' || ch == '(' || ch == '{' || ch == '[' || ch == '<'; };
    for (std::size_t i = 0; i < c.size();) {
        if (isSep(c[i])) {
            out += utf8::encode(c[i++]);
            continue;
        }
        std::size_t e = i;
        while (e < c.size() && !isSep(c[e]))
            ++e;
        out += unicode::toUpper(utf8::encode(c[i]));
        const std::vector<char32_t> rest(c.begin() + static_cast<std::ptrdiff_t>(i) + 1, c.begin() + static_cast<std::ptrdiff_t>(e));
        for (std::size_t k = 0; k < rest.size(); ++k)
            out += lowerAt(rest, k);
        i = e;
    }
    return out;
}

bool lessThan(const Value& a, const Value& b) {
    // Jinja2's Undefined values are equal to each other, so sorting by a missing attribute keeps the
    // order (Python's sort then never asks which is less).
    if (a.isUndefined() && b.isUndefined())
        return false;
    // Python compares ints and floats exactly.
    if (isNumeric(a) && isNumeric(b)) {
        const auto order = compareNumbers(a, b);
        return order && *order < 0;
    }
    if (a.isString() && b.isString())
        return a.asString() < b.asString();
    if (a.isList() && b.isList() && a.isTuple() == b.isTuple()) {
        // Python: the first items that differ (==) decide, so equal unorderable items (None, dicts) pass.
        const auto &x = a.asList(), &y = b.asList();
        for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
            if (!x[i].equals(y[i]))
                return lessThan(x[i], y[i]);
        return x.size() < y.size();
    }
    fail("'<' not supported between instances of '" + a.typeName() + "' and '" + b.typeName() + "'");
}

void requireHashable(const Value& v) {
    if (v.isTuple()) {
        for (const auto& x : v.asList())
            requireHashable(x);
        return;
    }
    if (v.isList() || v.isDict())
        fail("unhashable type: '" + v.typeName() + "'");
}

std::string htmlEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

Value attributeOrItem(const Value& v, const std::string& path) {
    // "a.b" attribute paths as used by map(attribute=...), sort(attribute=...).
    Value cur = v;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = path.find('.', start);
        const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (cur.isList() && !part.empty() && part.size() < 19 && std::all_of(part.begin(), part.end(), ::isdigit))
            cur = getItem(cur, Value(static_cast<int64_t>(std::stoll(part))));
        else if (cur.isUndefined()) // Jinja2's getitem of an undefined value raises
            fail("'" + cur.undefinedName() + "' is undefined");
        else
            cur = getAttribute(cur, part);
        if (dot == std::string::npos)
            return cur;
        start = dot + 1;
    }
}

std::string justify(const std::string& s, const Value& widthV, const Value& fill, char align, const char* what) {
    const int64_t width = toInt(widthV, what);
    if (!fill.isString() || utf8::length(fill.asString()) != 1)
        fail(std::string(what) + ": the fill character must be exactly one character long");
    const auto length = static_cast<int64_t>(utf8::length(s));
    if (width <= length)
        return s;
    if (width > static_cast<int64_t>(kMaxRepeatBytes))
        fail(std::string(what) + ": width " + std::to_string(width) + " is too large");
    const int64_t margin = width - length;
    const int64_t left = align == '<' ? 0 : align == '>' ? margin : margin / 2 + (margin & width & 1);
    auto repeat = [&](int64_t n) {
        std::string out;
        for (int64_t i = 0; i < n; ++i)
            out += fill.asString();
        return out;
    };
    return repeat(left) + s + repeat(margin - left);
}

std::vector<std::vector<char32_t>> splitLines(const std::vector<char32_t>& s) {
    std::vector<std::vector<char32_t>> lines;
    std::vector<char32_t> line;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char32_t c = s[i];
        const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 || c == 0x2028 ||
                         c == 0x2029;
        if (!brk) {
            line.push_back(c);
            continue;
        }
        if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n')
            ++i;
        lines.push_back(std::move(line));
        line.clear();
    }
    if (!line.empty())
        lines.push_back(std::move(line));
    return lines;
}

// Jinja2's do_indent: the text plus "\n", split as str.splitlines() splits, joined with "\n"; empty
// lines are not indented unless `blank`.
std::string indentText(const std::string& s, const Value& width, bool first, bool blank) {
    const std::string pad = width.isString() ? width.asString()
                                             : std::string(static_cast<std::size_t>(std::max<int64_t>(0, toInt(width, "indent"))), ' ');
    std::vector<std::string> lines;
    for (const auto& line : splitLines(cps(s + "\n")))
        lines.push_back(utf8::fromCodePoints(line));
    std::string out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) {
            out += '\n';
            if (blank || !lines[i].empty())
                out += pad;
        }
        out += lines[i];
    }
    return first ? pad + out : out;
}

} // namespace rslora::models::jinja::detail
