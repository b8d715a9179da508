// str / dict / list methods of chat-template values, with Python semantics (see JinjaHelpers.h).
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

Value boundMethod(const Value& self, const std::string& name) {
    if (self.isString()) {
        const std::string s = self.asString();
        static const char* known[] = {"startswith", "endswith", "split", "rsplit", "splitlines", "strip", "lstrip",
                                      "rstrip", "upper", "lower", "title", "capitalize", "replace", "find", "rfind",
                                      "count", "join", "format", "isdigit", "isalpha", "isalnum", "isspace",
                                      "islower", "isupper", "removeprefix", "removesuffix", "index", "swapcase"};
        if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return name == k; }) == std::end(known))
            return Value::undefined(name);
        return Value::callable([s, name](CallArgs& a) -> Value {
            const Value undefined;
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
                for (const auto& o : options) {
                    if (name == "startswith" ? s.compare(0, o.size(), o) == 0 && s.size() >= o.size()
                                             : s.size() >= o.size() && s.compare(s.size() - o.size(), o.size(), o) == 0)
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
                if (name == "count") {
                    if (t.empty())
                        return Value(static_cast<int64_t>(utf8::length(s) + 1));
                    int64_t n = 0;
                    for (std::size_t p = s.find(t); p != std::string::npos; p = s.find(t, p + t.size()))
                        ++n;
                    return Value(n);
                }
                const std::size_t p = name == "rfind" ? s.rfind(t) : s.find(t);
                if (p == std::string::npos) {
                    if (name == "index")
                        fail("substring not found");
                    return Value(static_cast<int64_t>(-1));
                }
                return Value(static_cast<int64_t>(utf8::length(s.substr(0, p))));
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
                    out.push_back(Value::tuple(List{Value(k), v}));
                return Value(std::move(out));
            });
        if (name == "keys")
            return Value::callable([dict](CallArgs&) {
                List out;
                for (const auto& [k, v] : dict->items())
                    out.emplace_back(k);
                return Value(std::move(out));
            });
        if (name == "values")
            return Value::callable([dict](CallArgs&) {
                List out;
                for (const auto& [k, v] : dict->items())
                    out.push_back(v);
                return Value(std::move(out));
            });
        if (name == "get")
            return Value::callable([dict](CallArgs& a) -> Value {
                const Value undefined;
                const Value& key = arg(a, 0, "key", undefined);
                if (const Value* v = dict->find(key.isString() ? key.asString() : key.str()))
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
