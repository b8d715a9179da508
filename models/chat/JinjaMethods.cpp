// str / dict / list methods of chat-template values, with Python semantics (see JinjaHelpers.h).
#include "models/chat/JinjaDictKeys.h"
#include "models/chat/JinjaHelpers.h"

#include "models/chat/JinjaTemplate.h"
#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <unordered_map>

namespace rslora::models::jinja::detail {

namespace {

// s[start:end] of str.find / count / startswith ... (arguments `first` and `first` + 1, code point
// indices with Python's slice rules); `offset` is where it starts, `empty` set when start lies beyond
// the end or past `end`, where Python finds nothing (not even "").
struct Window {
    std::string text;
    int64_t offset = 0;
    bool empty = false;
};

Window window(const std::string& s, CallArgs& a, std::size_t first) {
    const Value start = arg(a, first, "start", Value::none()), end = arg(a, first + 1, "end", Value::none());
    Window w;
    if ((start.isNone() || start.isUndefined()) && (end.isNone() || end.isUndefined())) {
        w.text = s;
        return w;
    }
    const auto c = cps(s);
    const auto n = static_cast<int64_t>(c.size());
    auto adjust = [n](const Value& v, int64_t dflt, const char* what) {
        if (v.isNone() || v.isUndefined())
            return dflt;
        int64_t x = toInt(v, what);
        if (x < 0)
            x = std::max<int64_t>(0, x + n);
        return x;
    };
    const int64_t b = adjust(start, 0, "start"), e = std::min(adjust(end, n, "end"), n);
    if (b > n || b > e) {
        w.empty = true;
        return w;
    }
    w.offset = b;
    w.text = utf8::fromCodePoints(std::vector<char32_t>(c.begin() + b, c.begin() + e));
    return w;
}

} // namespace

Value boundMethod(const Value& self, const std::string& name) {
    if (self.isString()) {
        const std::string s = self.asString();
        static const char* known[] = {"startswith", "endswith", "split", "rsplit", "splitlines", "strip", "lstrip",
                                      "rstrip", "upper", "lower", "title", "capitalize", "replace", "find", "rfind",
                                      "count", "join", "format", "isdigit", "isalpha", "isalnum", "isspace",
                                      "islower", "isupper", "removeprefix", "removesuffix", "index", "swapcase",
                                      "center", "ljust", "rjust", "zfill", "partition", "rpartition", "isnumeric",
                                      "isdecimal", "istitle", "expandtabs"};
        if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return name == k; }) == std::end(known))
            return Value::undefined(name);
        return Value::callable([s, name](CallArgs& a) -> Value {
            const Value undefined;
            // Python refuses more arguments than a method takes ('ab'.zfill(5, 'x') is a TypeError).
            static const std::unordered_map<std::string, std::size_t> maxArgs = {
                {"startswith", 3}, {"endswith", 3}, {"split", 2}, {"rsplit", 2}, {"splitlines", 1}, {"strip", 1},
                {"lstrip", 1}, {"rstrip", 1}, {"replace", 3}, {"find", 3}, {"rfind", 3}, {"index", 3}, {"count", 3},
                {"join", 1}, {"removeprefix", 1}, {"removesuffix", 1}, {"center", 2}, {"ljust", 2}, {"rjust", 2},
                {"zfill", 1}, {"partition", 1}, {"rpartition", 1}, {"expandtabs", 1}};
            if (name != "format") {
                const auto limit = maxArgs.find(name);
                const std::size_t most = limit == maxArgs.end() ? 0 : limit->second;
                const std::size_t given = a.positional.size() + a.keyword.size();
                if (given > most)
                    fail("str." + name + "() takes " + (most == 0 ? std::string("no arguments") : "at most " + std::to_string(most) + " argument(s)") +
                         " (" + std::to_string(given) + " given)");
            }
            if (name == "startswith" || name == "endswith") {
                const Value& p = arg(a, 0, "prefix", undefined);
                std::vector<std::string> options;
                if (p.isString())
                    options.push_back(p.asString());
                else if (p.isList())
                    for (const auto& x : p.asList()) {
                        if (!x.isString())
                            fail(name + " first arg must be str or a tuple of str");
                        options.push_back(x.asString());
                    }
                else
                    fail(name + " first arg must be str or a tuple of str, not " + p.typeName());
                const Window w = window(s, a, 1);
                if (w.empty)
                    return Value(false);
                const std::string& t = w.text;
                for (const auto& o : options) {
                    if (name == "startswith" ? t.compare(0, o.size(), o) == 0 && t.size() >= o.size()
                                             : t.size() >= o.size() && t.compare(t.size() - o.size(), o.size(), o) == 0)
                        return Value(true);
                }
                return Value(false);
            }
            if (name == "split" || name == "rsplit") {
                const Value& sep = arg(a, 0, "sep", undefined);
                const Value& maxsplit = arg(a, 1, "maxsplit", Value(static_cast<int64_t>(-1)));
                return makeList(splitString(s, sep, toInt(maxsplit, "maxsplit"), name == "rsplit"));
            }
            if (name == "splitlines") {
                List out;
                std::size_t start = 0;
                for (std::size_t i = 0; i < s.size(); ++i) {
                    if (s[i] == '\n' || s[i] == '\r') {
                        out.emplace_back(s.substr(start, i - start));
                        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')
                            ++i;
                        start = i + 1;
                    }
                }
                if (start < s.size())
                    out.emplace_back(s.substr(start));
                return makeList(std::move(out));
            }
            if (name == "strip" || name == "lstrip" || name == "rstrip")
                return Value(stripChars(s, arg(a, 0, "chars", undefined), name != "rstrip", name != "lstrip"));
            if (name == "upper")
                return Value(unicode::toUpper(s));
            if (name == "lower")
                return Value(pyLower(s));
            if (name == "title")
                return Value(pyTitle(s));
            if (name == "capitalize")
                return Value(capitalize(s));
            if (name == "swapcase")
                return Value(pySwapcase(s));
            if (name == "replace") {
                const Value& from = arg(a, 0, "old", undefined);
                const Value& to = arg(a, 1, "new", undefined);
                if (!from.isString() || !to.isString())
                    fail("replace() arguments must be str");
                return Value(replaceAll(s, from.asString(), to.asString(), toInt(arg(a, 2, "count", Value(static_cast<int64_t>(-1))), "count")));
            }
            if (name == "find" || name == "rfind" || name == "index" || name == "count") {
                const Value& sub = arg(a, 0, "sub", undefined);
                if (!sub.isString())
                    fail(name + "() argument must be str, not " + sub.typeName());
                const std::string& t = sub.asString();
                const Window w = window(s, a, 1);
                const std::string& in = w.text;
                if (name == "count") {
                    if (w.empty)
                        return Value(static_cast<int64_t>(0));
                    if (t.empty())
                        return Value(static_cast<int64_t>(utf8::length(in) + 1));
                    int64_t n = 0;
                    for (std::size_t p = in.find(t); p != std::string::npos; p = in.find(t, p + t.size()))
                        ++n;
                    return Value(n);
                }
                const std::size_t p = w.empty ? std::string::npos : name == "rfind" ? in.rfind(t) : in.find(t);
                if (p == std::string::npos) {
                    if (name == "index")
                        fail("substring not found");
                    return Value(static_cast<int64_t>(-1));
                }
                return Value(w.offset + static_cast<int64_t>(utf8::length(in.substr(0, p))));
            }
            if (name == "join") {
                std::string out;
                bool first = true;
                for (const auto& x : iterate(arg(a, 0, "iterable", undefined))) {
                    if (!x.isString())
                        fail("sequence item: expected str instance, " + x.typeName() + " found");
                    if (!first)
                        out += s;
                    out += x.asString();
                    first = false;
                }
                return Value(std::move(out));
            }
            if (name == "format")
                return Value(pyFormat(s, a));
            if (name == "center" || name == "ljust" || name == "rjust")
                return Value(justify(s, arg(a, 0, "width", undefined), arg(a, 1, "fillchar", Value(" ")),
                                     name == "center" ? '^' : name == "ljust" ? '<' : '>', name.c_str()));
            if (name == "zfill") {
                // Zeros after a leading sign: '-42'.zfill(5) is '-0042'.
                const bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
                const std::string padded = justify(s.substr(sign ? 1 : 0), Value(toInt(arg(a, 0, "width", undefined), "zfill") - (sign ? 1 : 0)),
                                                   Value("0"), '>', "zfill");
                return Value((sign ? s.substr(0, 1) : std::string()) + padded);
            }
            if (name == "partition" || name == "rpartition") {
                const Value& sep = arg(a, 0, "sep", undefined);
                if (!sep.isString())
                    fail("must be str, not " + sep.typeName());
                if (sep.asString().empty())
                    fail("empty separator");
                const std::size_t p = name == "partition" ? s.find(sep.asString()) : s.rfind(sep.asString());
                if (p == std::string::npos)
                    return name == "partition" ? Value::tuple(List{Value(s), Value(""), Value("")})
                                               : Value::tuple(List{Value(""), Value(""), Value(s)});
                return Value::tuple(List{Value(s.substr(0, p)), sep, Value(s.substr(p + sep.asString().size()))});
            }
            if (name == "expandtabs") {
                const int64_t tab = toInt(arg(a, 0, "tabsize", Value(static_cast<int64_t>(8))), "tabsize");
                std::string out;
                int64_t column = 0;
                for (char32_t c : cps(s)) {
                    if (c == '\t') {
                        const int64_t spaces = tab > 0 ? tab - column % tab : 0;
                        if (static_cast<int64_t>(out.size()) + spaces > static_cast<int64_t>(kMaxRepeatBytes))
                            fail("expandtabs: result too large");
                        out.append(static_cast<std::size_t>(spaces), ' ');
                        column += spaces;
                        continue;
                    }
                    utf8::append(out, c);
                    column = c == '\n' || c == '\r' ? 0 : column + 1;
                }
                return Value(std::move(out));
            }
            if (name == "removeprefix") {
                const Value& p = arg(a, 0, "prefix", undefined);
                if (!p.isString())
                    fail("removeprefix() argument must be str");
                return Value(s.compare(0, p.asString().size(), p.asString()) == 0 ? s.substr(p.asString().size()) : s);
            }
            if (name == "removesuffix") {
                const Value& p = arg(a, 0, "suffix", undefined);
                if (!p.isString())
                    fail("removesuffix() argument must be str");
                const std::string& x = p.asString();
                const bool ends = !x.empty() && s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
                return Value(ends ? s.substr(0, s.size() - x.size()) : s);
            }
            // Character-class predicates.
            const auto c = cps(s);
            if (c.empty())
                return Value(false);
            auto all = [&](auto pred) { return Value(std::all_of(c.begin(), c.end(), pred)); };
            if (name == "isdecimal")
                return all([](char32_t x) { return unicode::isDecimalDigit(x); });
            if (name == "isnumeric")
                return all([](char32_t x) { return unicode::isNumeric(x); });
            if (name == "istitle")
                return Value(pyIsTitle(s));
            if (name == "isdigit")
                return all([](char32_t x) { return unicode::isDecimalDigit(x) || unicode::isNumeric(x); });
            if (name == "isalpha")
                return all([](char32_t x) { return unicode::isLetter(x); });
            if (name == "isalnum")
                return all([](char32_t x) { return unicode::isLetter(x) || unicode::isNumeric(x); });
            if (name == "isspace")
                return all([](char32_t x) { return isPySpace(x); });
            if (name == "islower")
                return Value(pyIsLower(s));
            if (name == "isupper")
                return Value(pyIsUpper(s));
            fail("unknown string method " + name);
        });
    }
    if (self.isDict()) {
        const auto dict = self.dictPtr();
        if (name == "items")
            return Value::callable([dict](CallArgs&) {
                List out;
                for (const auto& [k, v] : dict->items())
                    out.push_back(Value::tuple(List{keyValue(k), v}));
                return Value(std::move(out));
            });
        if (name == "keys")
            return Value::callable([dict](CallArgs&) {
                List out;
                for (const auto& [k, v] : dict->items())
                    out.push_back(keyValue(k));
                return Value(std::move(out));
            });
        if (name == "values")
            return Value::callable([dict](CallArgs&) {
                List out;
                for (const auto& [k, v] : dict->items())
                    out.push_back(v);
                return Value(std::move(out));
            });
        if (name == "copy")
            return Value::callable([dict](CallArgs&) {
                auto copy = std::make_shared<Dict>();
                for (const auto& [k, v] : dict->items())
                    copy->set(k, v);
                return Value(copy);
            });
        if (name == "get")
            return Value::callable([dict](CallArgs& a) -> Value {
                const Value undefined;
                const Value& key = arg(a, 0, "key", undefined);
                requireHashable(key); // Python hashes the key: d.get([1]) is a TypeError
                if (const Value* v = dictFind(*dict, key))
                    return *v;
                return arg(a, 1, "default", Value::none());
            });
        return Value::undefined(name);
    }
    if (self.isList()) {
        const auto list = self.listPtr();
        if (name == "index" || name == "count")
            return Value::callable([list, name](CallArgs& a) -> Value {
                const Value undefined;
                const Value& x = arg(a, 0, "value", undefined);
                int64_t count = 0;
                for (std::size_t i = 0; i < list->size(); ++i)
                    if ((*list)[i].equals(x)) {
                        if (name == "index")
                            return Value(static_cast<int64_t>(i));
                        ++count;
                    }
                if (name == "index")
                    fail(x.repr() + " is not in list");
                return Value(count);
            });
    }
    return Value::undefined(name);
}

} // namespace rslora::models::jinja::detail
