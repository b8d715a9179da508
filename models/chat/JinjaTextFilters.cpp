// Jinja2's wordwrap and urlencode filters, with the semantics of Jinja2 3.1 (Python's textwrap and
// urllib.parse.quote underneath).
#include "models/chat/JinjaDictKeys.h"
#include "models/chat/JinjaHelpers.h"

#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>

namespace rslora::models::jinja::detail {

namespace {

using Text = std::vector<char32_t>;

// textwrap's whitespace: the ASCII set only (a no-break space is part of a word).
bool isWrapSpace(char32_t c) { return c == '\t' || c == '\n' || c == 0x0B || c == 0x0C || c == '\r' || c == ' '; }
// Python's \w, [^\d\W] and textwrap's word punctuation [\w!"'&.,?].
bool isWord(char32_t c) { return c == '_' || unicode::isLetter(c) || unicode::isNumeric(c); }
bool isWrapLetter(char32_t c) { return isWord(c) && !unicode::isDecimalDigit(c); }
bool isWordPunct(char32_t c) {
    return isWord(c) || c == '!' || c == '"' || c == '\'' || c == '&' || c == '.' || c == ',' || c == '?';
}
// str.strip() == '': a chunk textwrap treats as whitespace when it starts or ends a line.
bool isBlank(const Text& chunk) {
    return std::all_of(chunk.begin(), chunk.end(), [](char32_t c) { return isPySpace(c); });
}

// At t[e]: two or more '-' followed by a word character (textwrap's em-dash).
bool emDashAt(const Text& t, std::size_t e) {
    std::size_t k = e;
    while (k < t.size() && t[k] == '-')
        ++k;
    return k - e >= 2 && k < t.size() && isWord(t[k]);
}

bool letterAt(const Text& t, std::size_t i) { return i < t.size() && isWrapLetter(t[i]); }

// textwrap's wordsep_re split (break_on_hyphens): whitespace runs, em-dashes between words, and words
// that end at whitespace, before an em-dash, or after the hyphen of a hyphenated word ("goof-" "ball").
std::vector<Text> splitAtHyphens(const Text& t) {
    std::vector<Text> out;
    const std::size_t n = t.size();
    std::size_t p = 0;
    while (p < n) {
        std::size_t e = p + 1;
        if (isWrapSpace(t[p])) {
            while (e < n && isWrapSpace(t[e]))
                ++e;
        } else if (p > 0 && isWordPunct(t[p - 1]) && t[p] == '-' && emDashAt(t, p)) {
            while (e < n && t[e] == '-')
                ++e;
        } else {
            // The shortest run of non-whitespace that one of the regular expression's endings accepts.
            while (true) {
                if (e < n && t[e] == '-') {
                    const bool before = (e >= 2 && isWrapLetter(t[e - 2]) && isWrapLetter(t[e - 1])) ||
                                        (e >= 3 && isWrapLetter(t[e - 3]) && t[e - 2] == '-' && isWrapLetter(t[e - 1]));
                    const bool after = letterAt(t, e + 1) && (letterAt(t, e + 2) || (e + 2 < n && t[e + 2] == '-' && letterAt(t, e + 3)));
                    if (before && after) {
                        ++e;
                        break;
                    }
                }
                if (e == n || isWrapSpace(t[e]) || (isWordPunct(t[e - 1]) && emDashAt(t, e)))
                    break;
                ++e;
            }
        }
        out.emplace_back(t.begin() + static_cast<std::ptrdiff_t>(p), t.begin() + static_cast<std::ptrdiff_t>(e));
        p = e;
    }
    return out;
}

// textwrap's wordsep_simple_re split: runs of whitespace and runs of anything else.
std::vector<Text> splitAtSpaces(const Text& t) {
    std::vector<Text> out;
    for (std::size_t p = 0; p < t.size();) {
        std::size_t e = p + 1;
        while (e < t.size() && isWrapSpace(t[e]) == isWrapSpace(t[p]))
            ++e;
        out.emplace_back(t.begin() + static_cast<std::ptrdiff_t>(p), t.begin() + static_cast<std::ptrdiff_t>(e));
        p = e;
    }
    return out;
}

// textwrap.wrap(line, width, expand_tabs=False, replace_whitespace=False, break_long_words,
// break_on_hyphens): the lines, whitespace dropped at line ends (and at starts after the first).
std::vector<std::string> wrapLine(const Text& line, int64_t width, bool breakLongWords, bool breakOnHyphens) {
    if (width <= 0)
        fail("invalid width " + std::to_string(width) + " (must be > 0)");
    std::vector<Text> chunks = breakOnHyphens ? splitAtHyphens(line) : splitAtSpaces(line);
    std::reverse(chunks.begin(), chunks.end()); // a stack: the next chunk is at the back
    const auto w = static_cast<std::size_t>(width);
    std::vector<std::string> lines;
    while (!chunks.empty()) {
        std::vector<Text> current;
        std::size_t length = 0;
        if (!lines.empty() && isBlank(chunks.back()))
            chunks.pop_back();
        while (!chunks.empty() && length + chunks.back().size() <= w) {
            length += chunks.back().size();
            current.push_back(std::move(chunks.back()));
            chunks.pop_back();
        }
        if (!chunks.empty() && chunks.back().size() > w) {
            // A chunk longer than any line: cut (after its last hyphen that fits, when that leaves
            // something other than hyphens before it), or put alone on a line of its own.
            const std::size_t spaceLeft = w - length;
            Text& chunk = chunks.back();
            if (breakLongWords) {
                std::size_t end = spaceLeft;
                if (breakOnHyphens && chunk.size() > spaceLeft && spaceLeft > 0) {
                    std::size_t hyphen = spaceLeft;
                    while (hyphen > 0 && chunk[hyphen - 1] != '-')
                        --hyphen;
                    if (hyphen > 1) { // the hyphen at hyphen - 1, with something before it
                        const std::size_t at = hyphen - 1;
                        if (std::any_of(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(at), [](char32_t c) { return c != '-'; }))
                            end = at + 1;
                    }
                }
                current.emplace_back(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(end));
                chunk.erase(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(end));
            } else if (current.empty()) {
                current.push_back(std::move(chunk));
                chunks.pop_back();
            }
        }
        if (!current.empty() && isBlank(current.back()))
            current.pop_back();
        if (!current.empty()) {
            Text joined;
            for (const auto& c : current)
                joined.insert(joined.end(), c.begin(), c.end());
            lines.push_back(utf8::fromCodePoints(joined));
        }
    }
    return lines;
}

// wordwrap(width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True): each line of the
// text wrapped on its own, the lines joined with wrapstring ("\n" by default).
Value wordwrap(const Value& v, CallArgs& a) {
    if (v.isUndefined())
        fail("'" + v.undefinedName() + "' is undefined");
    if (!v.isString())
        fail("'" + v.typeName() + "' object has no attribute 'splitlines'");
    const int64_t width = toInt(arg(a, 0, "width", Value(static_cast<int64_t>(79))), "wordwrap width");
    const bool breakLongWords = arg(a, 1, "break_long_words", Value(true)).truthy();
    const Value wrapValue = arg(a, 2, "wrapstring", Value::none());
    const bool breakOnHyphens = arg(a, 3, "break_on_hyphens", Value(true)).truthy();
    std::string wrapstring = "\n";
    if (!wrapValue.isNone() && !wrapValue.isUndefined()) {
        if (!wrapValue.isString())
            fail("'" + wrapValue.typeName() + "' object has no attribute 'join'");
        wrapstring = wrapValue.asString();
    }
    std::string out;
    bool firstLine = true;
    for (const Text& line : splitLines(cps(v.asString()))) {
        if (!firstLine)
            out += wrapstring;
        firstLine = false;
        bool firstPart = true;
        for (const std::string& part : wrapLine(line, width, breakLongWords, breakOnHyphens)) {
            if (!firstPart)
                out += wrapstring;
            firstPart = false;
            out += part;
        }
    }
    return Value(out);
}

// urllib.parse.quote of the UTF-8 bytes: letters, digits and _.-~ kept (and "/" outside a query),
// every other byte %XX; in a query a space becomes "+".
std::string urlQuote(const Value& v, bool forQuery) {
    const std::string text = v.isString() ? v.asString() : v.str();
    std::string out;
    for (const char ch : text) {
        const auto b = static_cast<unsigned char>(ch);
        const bool safe = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '_' || b == '.' ||
                          b == '-' || b == '~' || (!forQuery && b == '/');
        if (safe) {
            out += static_cast<char>(b);
        } else if (forQuery && b == ' ') {
            out += '+';
        } else {
            static const char* const digits = "0123456789ABCDEF";
            out += '%';
            out += digits[b >> 4];
            out += digits[b & 15];
        }
    }
    return out;
}

// urlencode: a string (or anything Python cannot iterate) quoted as a URL path; a dict, or a sequence
// of (key, value) pairs, as a query string "k=v&k2=v2".
Value urlencode(const Value& v, CallArgs&) {
    const bool iterable = v.isList() || v.isUndefined() || (v.isDict() && !v.asDict().isNamespace);
    if (!iterable)
        return Value(urlQuote(v, false));
    std::string out;
    auto add = [&out](const Value& key, const Value& value) {
        if (!out.empty())
            out += '&';
        out += urlQuote(key, true) + "=" + urlQuote(value, true);
    };
    if (v.isDict()) {
        for (const auto& [key, value] : v.asDict().items())
            add(keyValue(key), value);
        return Value(out);
    }
    for (const Value& item : iterate(v)) {
        // Python's `for k, v in items` unpacking, with its messages.
        if (!item.isList() && !item.isDict() && !item.isString() && !item.isUndefined())
            fail("cannot unpack non-iterable " + item.typeName() + " object");
        const List pair = iterate(item);
        if (pair.size() > 2)
            fail("too many values to unpack (expected 2)");
        if (pair.size() < 2)
            fail("not enough values to unpack (expected 2, got " + std::to_string(pair.size()) + ")");
        add(pair[0], pair[1]);
    }
    return Value(out);
}

} // namespace

void addTextFilters(FilterTable& table) {
    table["wordwrap"] = wordwrap;
    table["urlencode"] = urlencode;
}

} // namespace rslora::models::jinja::detail
