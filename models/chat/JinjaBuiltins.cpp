// Python / Jinja2 semantics for operators, filters, tests, str/dict methods and globals.
#include "models/chat/JinjaBuiltins.h"

#include "models/chat/JinjaTemplate.h"
#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <unordered_map>

namespace rslora::models::jinja {

namespace {

constexpr std::size_t kMaxRange = 1'000'000;
constexpr std::size_t kMaxRepeatBytes = 16u << 20;

[[noreturn]] void fail(const std::string& message) { throw EvalError(message); }

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
    if (v.isBool())
        return v.asBool() ? 1 : 0;
    if (v.isFloat())
        return static_cast<int64_t>(v.asFloat());
    fail(std::string(what) + ": expected an integer, found " + v.typeName());
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

std::string capitalize(const std::string& s) {
    auto c = cps(s);
    for (std::size_t i = 0; i < c.size(); ++i)
        c[i] = i == 0 ? unicode::toUpper(c[i]) : unicode::toLower(c[i]);
    return utf8::fromCodePoints(c);
}

// str.title(): a cased letter after an uncased character starts a word.
std::string pyTitle(const std::string& s) {
    auto c = cps(s);
    bool prevCased = false;
    for (auto& ch : c) {
        const bool cased = unicode::isLetter(ch);
        ch = cased ? (prevCased ? unicode::toLower(ch) : unicode::toUpper(ch)) : ch;
        prevCased = cased;
    }
    return utf8::fromCodePoints(c);
}

// Jinja's title filter: words start after whitespace or one of - ( { [ <.
std::string jinjaTitle(const std::string& s) {
    auto c = cps(s);
    bool start = true;
    for (auto& ch : c) {
        const bool sep = isPySpace(ch) || ch == '-' || ch == '(' || ch == '{' || ch == '[' || ch == '<';
        if (sep) {
            start = true;
            continue;
        }
        ch = start ? unicode::toUpper(ch) : unicode::toLower(ch);
        start = false;
    }
    return utf8::fromCodePoints(c);
}

bool lessThan(const Value& a, const Value& b) {
    if ((a.isNumber() || a.isBool()) && (b.isNumber() || b.isBool()))
        return a.asNumber() < b.asNumber();
    if (a.isString() && b.isString())
        return a.asString() < b.asString();
    if (a.isList() && b.isList()) {
        const auto &x = a.asList(), &y = b.asList();
        for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (lessThan(x[i], y[i]))
                return true;
            if (lessThan(y[i], x[i]))
                return false;
        }
        return x.size() < y.size();
    }
    fail("'<' not supported between instances of '" + a.typeName() + "' and '" + b.typeName() + "'");
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

// str.format with {} / {0} / {name} fields (no format specs beyond an empty one).
std::string pyFormat(const std::string& fmt, CallArgs& args) {
    std::string out;
    std::size_t autoIndex = 0;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        const char c = fmt[i];
        if (c == '{') {
            if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
                out += '{';
                ++i;
                continue;
            }
            const std::size_t close = fmt.find('}', i);
            if (close == std::string::npos)
                fail("Single '{' encountered in format string");
            std::string field = fmt.substr(i + 1, close - i - 1);
            const auto colon = field.find(':');
            if (colon != std::string::npos)
                field = field.substr(0, colon);
            const Value* v = nullptr;
            if (field.empty()) {
                if (autoIndex >= args.positional.size())
                    fail("Replacement index " + std::to_string(autoIndex) + " out of range");
                v = &args.positional[autoIndex++];
            } else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
                const std::size_t k = std::stoul(field);
                if (k >= args.positional.size())
                    fail("Replacement index " + field + " out of range");
                v = &args.positional[k];
            } else {
                v = args.kw(field);
                if (!v)
                    fail("KeyError: '" + field + "'");
            }
            out += v->str();
            i = close;
        } else if (c == '}') {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}')
                ++i;
            out += '}';
        } else {
            out += c;
        }
    }
    return out;
}

Value boundMethod(const Value& self, const std::string& name);

using FilterFn = std::function<Value(const Value&, CallArgs&)>;
using TestFn = std::function<bool(const Value&, CallArgs&)>;

const std::unordered_map<std::string, TestFn>& tests();
const std::unordered_map<std::string, FilterFn>& filters();

Value attributeOrItem(const Value& v, const std::string& path) {
    // "a.b" attribute paths as used by map(attribute=...), sort(attribute=...).
    Value cur = v;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = path.find('.', start);
        const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (cur.isList() && !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit))
            cur = getItem(cur, Value(static_cast<int64_t>(std::stoll(part))));
        else if (cur.isUndefined())
            return cur;
        else
            cur = getAttribute(cur, part);
        if (dot == std::string::npos)
            return cur;
        start = dot + 1;
    }
}

// select/reject/selectattr/rejectattr: args[first..] = test name and its arguments.
List selectItems(const Value& input, CallArgs& args, bool byAttr, bool keep) {
    std::size_t k = 0;
    std::string attr;
    if (byAttr) {
        if (args.positional.empty() || !args.positional[0].isString())
            fail("selectattr/rejectattr need an attribute name");
        attr = args.positional[0].asString();
        k = 1;
    }
    std::string testName;
    CallArgs testArgs;
    if (k < args.positional.size()) {
        if (!args.positional[k].isString())
            fail("the test name must be a string");
        testName = args.positional[k].asString();
        testArgs.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(k + 1), args.positional.end());
    }
    List out;
    for (const auto& item : iterate(input)) {
        const Value subject = byAttr ? attributeOrItem(item, attr) : item;
        bool ok;
        if (testName.empty()) {
            ok = subject.truthy();
        } else {
            CallArgs copy = testArgs;
            ok = applyTest(testName, subject, copy);
        }
        if (ok == keep)
            out.push_back(item);
    }
    return out;
}

std::string indentText(const std::string& s, const Value& width, bool first, bool blank) {
    std::string pad = width.isString() ? width.asString() : std::string(static_cast<std::size_t>(std::max<int64_t>(0, toInt(width, "indent"))), ' ');
    std::string out;
    std::size_t start = 0;
    bool firstLine = true;
    while (true) {
        const std::size_t nl = s.find('\n', start);
        const std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        const bool isBlank = std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
        if ((firstLine ? first : true) && (blank || !isBlank))
            out += pad;
        out += line;
        if (nl == std::string::npos)
            break;
        out += '\n';
        start = nl + 1;
        firstLine = false;
    }
    return out;
}

} // namespace

std::vector<Value> iterate(const Value& v) {
    switch (v.type()) {
    case Value::Type::List: return v.asList();
    case Value::Type::Dict: {
        std::vector<Value> keys;
        for (const auto& [k, _] : v.asDict().items())
            keys.emplace_back(k);
        return keys;
    }
    case Value::Type::String: {
        std::vector<Value> chars;
        for (char32_t c : cps(v.asString()))
            chars.emplace_back(utf8::encode(c));
        return chars;
    }
    case Value::Type::Undefined: return {};
    default: fail("'" + v.typeName() + "' object is not iterable");
    }
}

Value unaryMinus(const Value& v) {
    if (v.isInt())
        return Value(-v.asInt());
    if (v.isFloat())
        return Value(-v.asFloat());
    if (v.isBool())
        return Value(static_cast<int64_t>(v.asBool() ? -1 : 0));
    fail("bad operand type for unary -: '" + v.typeName() + "'");
}

Value binaryOp(const std::string& op, const Value& a, const Value& b) {
    auto numeric = [](const Value& v) { return v.isNumber() || v.isBool(); };
    auto intLike = [](const Value& v) { return v.isInt() || v.isBool(); };
    auto asI = [](const Value& v) { return v.isBool() ? int64_t(v.asBool()) : v.asInt(); };
    auto typeError = [&]() -> Value {
        if (a.isUndefined() || b.isUndefined())
            fail("'" + (a.isUndefined() ? a.undefinedName() : b.undefinedName()) + "' is undefined");
        fail("unsupported operand type(s) for " + op + ": '" + a.typeName() + "' and '" + b.typeName() + "'");
    };
    if (op == "~")
        return Value(a.str() + b.str());
    if (op == "==")
        return Value(a.equals(b));
    if (op == "!=")
        return Value(!a.equals(b));
    if (op == "<")
        return Value(lessThan(a, b));
    if (op == ">")
        return Value(lessThan(b, a));
    if (op == "<=")
        return Value(!lessThan(b, a));
    if (op == ">=")
        return Value(!lessThan(a, b));
    if (op == "in" || op == "notin") {
        bool found = false;
        if (b.isString()) {
            if (!a.isString())
                fail("'in <string>' requires string as left operand, not " + a.typeName());
            found = b.asString().find(a.asString()) != std::string::npos;
        } else if (b.isList()) {
            for (const auto& x : b.asList())
                if (x.equals(a)) {
                    found = true;
                    break;
                }
        } else if (b.isDict()) {
            found = a.isString() && b.asDict().contains(a.asString());
        } else if (b.isUndefined()) {
            found = false;
        } else {
            fail("argument of type '" + b.typeName() + "' is not iterable");
        }
        return Value(op == "in" ? found : !found);
    }
    if (op == "+") {
        if (intLike(a) && intLike(b))
            return Value(asI(a) + asI(b));
        if (numeric(a) && numeric(b))
            return Value(a.asNumber() + b.asNumber());
        if (a.isString() && b.isString())
            return Value(a.asString() + b.asString());
        if (a.isList() && b.isList()) {
            List l = a.asList();
            l.insert(l.end(), b.asList().begin(), b.asList().end());
            return Value(std::move(l));
        }
        return typeError();
    }
    if (op == "-") {
        if (intLike(a) && intLike(b))
            return Value(asI(a) - asI(b));
        if (numeric(a) && numeric(b))
            return Value(a.asNumber() - b.asNumber());
        return typeError();
    }
    if (op == "*") {
        if (intLike(a) && intLike(b))
            return Value(asI(a) * asI(b));
        if (numeric(a) && numeric(b))
            return Value(a.asNumber() * b.asNumber());
        const Value* seq = a.isString() || a.isList() ? &a : b.isString() || b.isList() ? &b : nullptr;
        const Value* count = seq == &a ? &b : &a;
        if (seq && intLike(*count)) {
            const int64_t n = std::max<int64_t>(0, asI(*count));
            if (seq->isString()) {
                if (seq->asString().size() * static_cast<std::size_t>(n) > kMaxRepeatBytes)
                    fail("string repetition result too large");
                std::string out;
                for (int64_t i = 0; i < n; ++i)
                    out += seq->asString();
                return Value(std::move(out));
            }
            if (seq->asList().size() * static_cast<std::size_t>(n) > kMaxRange)
                fail("list repetition result too large");
            List out;
            for (int64_t i = 0; i < n; ++i)
                out.insert(out.end(), seq->asList().begin(), seq->asList().end());
            return Value(std::move(out));
        }
        return typeError();
    }
    if (op == "/") {
        if (!numeric(a) || !numeric(b))
            return typeError();
        if (b.asNumber() == 0.0)
            fail("division by zero");
        return Value(a.asNumber() / b.asNumber());
    }
    if (op == "//" || op == "%") {
        if (op == "%" && a.isString())
            return Value(percentFormat(a.asString(), b));
        if (!numeric(a) || !numeric(b))
            return typeError();
        if (b.asNumber() == 0.0)
            fail(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
        if (intLike(a) && intLike(b)) {
            const int64_t x = asI(a), y = asI(b);
            int64_t q = x / y, r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) {
                --q;
                r += y;
            }
            return op == "//" ? Value(q) : Value(r);
        }
        const double x = a.asNumber(), y = b.asNumber();
        const double q = std::floor(x / y);
        return op == "//" ? Value(q) : Value(x - q * y);
    }
    if (op == "**") {
        if (!numeric(a) || !numeric(b))
            return typeError();
        if (intLike(a) && intLike(b) && asI(b) >= 0) {
            int64_t r = 1, base = asI(a);
            for (int64_t e = asI(b); e > 0; --e) {
                if (std::llabs(r) > (int64_t(1) << 40))
                    return Value(std::pow(a.asNumber(), b.asNumber()));
                r *= base;
            }
            return Value(r);
        }
        return Value(std::pow(a.asNumber(), b.asNumber()));
    }
    fail("unknown operator " + op);
}

std::string percentFormat(const std::string& fmt, const Value& args) {
    std::vector<Value> list = args.isList() ? args.asList() : std::vector<Value>{args};
    std::string out;
    std::size_t k = 0;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out += fmt[i];
            continue;
        }
        if (i + 1 >= fmt.size())
            fail("incomplete format");
        const char c = fmt[++i];
        if (c == '%') {
            out += '%';
            continue;
        }
        if (k >= list.size())
            fail("not enough arguments for format string");
        const Value& v = list[k++];
        if (c == 's')
            out += v.str();
        else if (c == 'r')
            out += v.repr();
        else if (c == 'd' || c == 'i')
            out += std::to_string(toInt(v, "%d format"));
        else if (c == 'f')
            out += std::to_string(v.asNumber());
        else
            fail(std::string("unsupported format character '") + c + "'");
    }
    return out;
}

Value getItem(const Value& obj, const Value& key) {
    if (obj.isUndefined())
        fail("'" + obj.undefinedName() + "' is undefined");
    if (obj.isList() || obj.isString()) {
        if (!(key.isInt() || key.isBool())) {
            if (key.isString())
                return getAttribute(obj, key.asString());
            fail("indices must be integers, not " + key.typeName());
        }
        int64_t i = key.isBool() ? key.asBool() : key.asInt();
        if (obj.isList()) {
            const auto& l = obj.asList();
            if (i < 0)
                i += static_cast<int64_t>(l.size());
            if (i < 0 || i >= static_cast<int64_t>(l.size()))
                return Value::undefined("list index " + std::to_string(key.isInt() ? key.asInt() : i));
            return l[static_cast<std::size_t>(i)];
        }
        const auto c = cps(obj.asString());
        if (i < 0)
            i += static_cast<int64_t>(c.size());
        if (i < 0 || i >= static_cast<int64_t>(c.size()))
            return Value::undefined("string index");
        return Value(utf8::encode(c[static_cast<std::size_t>(i)]));
    }
    if (obj.isDict()) {
        const std::string k = key.isString() ? key.asString() : key.str();
        if (const Value* v = obj.asDict().find(k))
            return *v;
        if (key.isString())
            return boundMethod(obj, k);
        return Value::undefined(k);
    }
    if (key.isString())
        return getAttribute(obj, key.asString());
    return Value::undefined();
}

Value getAttribute(const Value& obj, const std::string& name) {
    if (obj.isUndefined())
        fail("'" + obj.undefinedName() + "' is undefined");
    if (obj.isDict()) {
        const Dict& d = obj.asDict();
        if (!d.isNamespace) {
            static const char* methods[] = {"items", "keys", "values", "get"};
            for (const char* m : methods)
                if (name == m)
                    return boundMethod(obj, name);
        }
        if (const Value* v = d.find(name))
            return *v;
        return Value::undefined(name);
    }
    return boundMethod(obj, name);
}

Value sliceValue(const Value& obj, const Value& startV, const Value& stopV, const Value& stepV) {
    auto opt = [](const Value& v, const char* what) -> std::optional<int64_t> {
        if (v.isUndefined() || v.isNone())
            return std::nullopt;
        return toInt(v, what);
    };
    const auto step = opt(stepV, "slice step").value_or(1);
    if (step == 0)
        fail("slice step cannot be zero");
    std::vector<Value> items;
    std::vector<char32_t> chars;
    int64_t n;
    if (obj.isList()) {
        n = static_cast<int64_t>(obj.asList().size());
    } else if (obj.isString()) {
        chars = cps(obj.asString());
        n = static_cast<int64_t>(chars.size());
    } else if (obj.isUndefined()) {
        fail("'" + obj.undefinedName() + "' is undefined");
    } else {
        fail("'" + obj.typeName() + "' object is not subscriptable");
    }
    auto clamp = [&](std::optional<int64_t> v, int64_t dflt, bool isStart) {
        if (!v)
            return dflt;
        int64_t x = *v;
        if (x < 0)
            x += n;
        if (step > 0)
            return std::clamp<int64_t>(x, 0, n);
        return std::clamp<int64_t>(x, -1, n - 1);
        (void)isStart;
    };
    const int64_t start = clamp(opt(startV, "slice start"), step > 0 ? 0 : n - 1, true);
    const int64_t stop = clamp(opt(stopV, "slice stop"), step > 0 ? n : -1, false);
    List out;
    std::vector<char32_t> outChars;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (obj.isList())
            out.push_back(obj.asList()[static_cast<std::size_t>(i)]);
        else
            outChars.push_back(chars[static_cast<std::size_t>(i)]);
    }
    if (obj.isList())
        return Value(std::move(out));
    return Value(utf8::fromCodePoints(outChars));
}

namespace {

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
                return Value(unicode::toLower(s));
            if (name == "title")
                return Value(pyTitle(s));
            if (name == "capitalize")
                return Value(capitalize(s));
            if (name == "swapcase") {
                auto c = cps(s);
                for (auto& ch : c)
                    ch = unicode::toUpper(ch) == ch ? unicode::toLower(ch) : unicode::toUpper(ch);
                return Value(utf8::fromCodePoints(c));
            }
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
            const bool anyCased = std::any_of(c.begin(), c.end(), [](char32_t x) { return unicode::toUpper(x) != unicode::toLower(x); });
            if (name == "islower")
                return Value(anyCased && std::all_of(c.begin(), c.end(), [](char32_t x) { return unicode::toLower(x) == x; }));
            if (name == "isupper")
                return Value(anyCased && std::all_of(c.begin(), c.end(), [](char32_t x) { return unicode::toUpper(x) == x; }));
            fail("unknown string method " + name);
        });
    }
    if (self.isDict()) {
        const auto dict = self.dictPtr();
        if (name == "items")
            return Value::callable([dict](CallArgs&) {
                List out;
                for (const auto& [k, v] : dict->items())
                    out.emplace_back(List{Value(k), v});
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

const std::unordered_map<std::string, TestFn>& tests() {
    static const std::unordered_map<std::string, TestFn> table = [] {
        std::unordered_map<std::string, TestFn> t;
        const Value undefined;
        t["defined"] = [](const Value& v, CallArgs&) { return !v.isUndefined(); };
        t["undefined"] = [](const Value& v, CallArgs&) { return v.isUndefined(); };
        t["none"] = [](const Value& v, CallArgs&) { return v.isNone(); };
        t["boolean"] = [](const Value& v, CallArgs&) { return v.isBool(); };
        t["true"] = [](const Value& v, CallArgs&) { return v.isBool() && v.asBool(); };
        t["false"] = [](const Value& v, CallArgs&) { return v.isBool() && !v.asBool(); };
        t["integer"] = [](const Value& v, CallArgs&) { return v.isInt(); };
        t["float"] = [](const Value& v, CallArgs&) { return v.isFloat(); };
        t["number"] = [](const Value& v, CallArgs&) { return v.isNumber(); };
        t["string"] = [](const Value& v, CallArgs&) { return v.isString(); };
        t["mapping"] = [](const Value& v, CallArgs&) { return v.isDict(); };
        t["iterable"] = [](const Value& v, CallArgs&) { return v.isList() || v.isDict() || v.isString(); };
        t["sequence"] = [](const Value& v, CallArgs&) { return v.isList() || v.isDict() || v.isString(); };
        t["callable"] = [](const Value& v, CallArgs&) { return v.isCallable(); };
        t["odd"] = [](const Value& v, CallArgs&) { return toInt(v, "odd") % 2 != 0; };
        t["even"] = [](const Value& v, CallArgs&) { return toInt(v, "even") % 2 == 0; };
        t["divisibleby"] = [undefined](const Value& v, CallArgs& a) {
            const int64_t d = toInt(arg(a, 0, "num", undefined), "divisibleby");
            if (d == 0)
                fail("division by zero");
            return toInt(v, "divisibleby") % d == 0;
        };
        auto cmp = [undefined](const char* op) {
            return [op, undefined](const Value& v, CallArgs& a) { return binaryOp(op, v, arg(a, 0, "other", undefined)).truthy(); };
        };
        for (const char* n : {"eq", "equalto", "=="})
            t[n] = cmp("==");
        for (const char* n : {"ne", "!="})
            t[n] = cmp("!=");
        for (const char* n : {"lt", "lessthan", "<"})
            t[n] = cmp("<");
        for (const char* n : {"le", "<="})
            t[n] = cmp("<=");
        for (const char* n : {"gt", "greaterthan", ">"})
            t[n] = cmp(">");
        for (const char* n : {"ge", ">="})
            t[n] = cmp(">=");
        t["in"] = cmp("in");
        t["sameas"] = [undefined](const Value& v, CallArgs& a) {
            const Value& o = arg(a, 0, "other", undefined);
            if (v.type() != o.type())
                return false;
            if (v.isList())
                return v.listPtr() == o.listPtr();
            if (v.isDict())
                return v.dictPtr() == o.dictPtr();
            return v.equals(o);
        };
        t["lower"] = [](const Value& v, CallArgs&) { return v.isString() && unicode::toLower(v.asString()) == v.asString(); };
        t["upper"] = [](const Value& v, CallArgs&) { return v.isString() && unicode::toUpper(v.asString()) == v.asString(); };
        t["filter"] = [](const Value& v, CallArgs&) { return v.isString() && hasFilter(v.asString()); };
        t["test"] = [](const Value& v, CallArgs&) { return v.isString() && hasTest(v.asString()); };
        return t;
    }();
    return table;
}

const std::unordered_map<std::string, FilterFn>& filters() {
    static const std::unordered_map<std::string, FilterFn> table = [] {
        std::unordered_map<std::string, FilterFn> f;
        const Value undefined;
        auto requireString = [](const Value& v, const char* filter) -> std::string {
            if (v.isString())
                return v.asString();
            if (v.isUndefined())
                return std::string();
            return v.str();
            (void)filter;
        };
        f["trim"] = [undefined, requireString](const Value& v, CallArgs& a) {
            return Value(stripChars(requireString(v, "trim"), arg(a, 0, "chars", undefined), true, true));
        };
        f["upper"] = [requireString](const Value& v, CallArgs&) { return Value(unicode::toUpper(requireString(v, "upper"))); };
        f["lower"] = [requireString](const Value& v, CallArgs&) { return Value(unicode::toLower(requireString(v, "lower"))); };
        f["capitalize"] = [requireString](const Value& v, CallArgs&) { return Value(capitalize(requireString(v, "capitalize"))); };
        f["title"] = [requireString](const Value& v, CallArgs&) { return Value(jinjaTitle(requireString(v, "title"))); };
        f["string"] = [](const Value& v, CallArgs&) { return Value(v.str()); };
        f["safe"] = [](const Value& v, CallArgs&) { return v; };
        f["e"] = f["escape"] = f["forceescape"] = [](const Value& v, CallArgs&) { return Value(htmlEscape(v.str())); };
        f["pprint"] = [](const Value& v, CallArgs&) { return Value(v.repr()); };
        f["length"] = f["count"] = [](const Value& v, CallArgs&) -> Value {
            if (v.isString())
                return Value(static_cast<int64_t>(utf8::length(v.asString())));
            if (v.isList())
                return Value(static_cast<int64_t>(v.asList().size()));
            if (v.isDict())
                return Value(static_cast<int64_t>(v.asDict().size()));
            if (v.isUndefined())
                return Value(static_cast<int64_t>(0));
            fail("object of type '" + v.typeName() + "' has no len()");
        };
        f["tojson"] = [undefined](const Value& v, CallArgs& a) {
            const Value indent = arg(a, 0, "indent", Value::none());
            Value::JsonOptions o;
            o.indent = indent.isNone() || indent.isUndefined() ? -1 : static_cast<int>(toInt(indent, "indent"));
            o.sortKeys = arg(a, 99, "sort_keys", Value(false)).truthy();
            o.ensureAscii = arg(a, 99, "ensure_ascii", Value(false)).truthy();
            const Value separators = arg(a, 99, "separators", Value::none());
            if (separators.isList()) {
                if (separators.asList().size() != 2)
                    fail("tojson separators must be a pair of strings");
                o.itemSeparator = separators.asList()[0].str();
                o.keySeparator = separators.asList()[1].str();
            }
            return Value(v.toJson(o));
        };
        f["first"] = [](const Value& v, CallArgs&) {
            auto items = iterate(v);
            return items.empty() ? Value::undefined("first") : items.front();
        };
        f["last"] = [](const Value& v, CallArgs&) {
            auto items = iterate(v);
            return items.empty() ? Value::undefined("last") : items.back();
        };
        f["list"] = [](const Value& v, CallArgs&) { return Value(iterate(v)); };
        f["reverse"] = [](const Value& v, CallArgs&) -> Value {
            if (v.isString()) {
                auto c = cps(v.asString());
                std::reverse(c.begin(), c.end());
                return Value(utf8::fromCodePoints(c));
            }
            auto items = iterate(v);
            std::reverse(items.begin(), items.end());
            return Value(std::move(items));
        };
        f["join"] = [](const Value& v, CallArgs& a) {
            const Value sepV = arg(a, 0, "d", Value(""));
            const Value attr = arg(a, 1, "attribute", Value::none());
            std::string out;
            bool first = true;
            for (const auto& x : iterate(v)) {
                if (!first)
                    out += sepV.str();
                out += (attr.isString() ? attributeOrItem(x, attr.asString()) : x).str();
                first = false;
            }
            return Value(std::move(out));
        };
        f["default"] = f["d"] = [](const Value& v, CallArgs& a) {
            const Value dflt = arg(a, 0, "default_value", Value(""));
            const bool boolean = arg(a, 1, "boolean", Value(false)).truthy();
            if (v.isUndefined() || (boolean && !v.truthy()))
                return dflt;
            return v;
        };
        f["items"] = [](const Value& v, CallArgs&) -> Value {
            if (v.isUndefined())
                return Value(List{});
            if (!v.isDict())
                fail("items filter needs a mapping, found " + v.typeName());
            List out;
            for (const auto& [k, x] : v.asDict().items())
                out.emplace_back(List{Value(k), x});
            return Value(std::move(out));
        };
        f["dictsort"] = [](const Value& v, CallArgs& a) -> Value {
            if (!v.isDict())
                fail("dictsort needs a mapping, found " + v.typeName());
            const bool caseSensitive = arg(a, 0, "case_sensitive", Value(false)).truthy();
            const bool byValue = arg(a, 1, "by", Value("key")).str() == "value";
            const bool reverse = arg(a, 2, "reverse", Value(false)).truthy();
            List out;
            for (const auto& [k, x] : v.asDict().items())
                out.emplace_back(List{Value(k), x});
            std::stable_sort(out.begin(), out.end(), [&](const Value& p, const Value& q) {
                Value x = p.asList()[byValue ? 1 : 0], y = q.asList()[byValue ? 1 : 0];
                if (!caseSensitive && x.isString() && y.isString()) {
                    x = Value(unicode::toLower(x.asString()));
                    y = Value(unicode::toLower(y.asString()));
                }
                return reverse ? lessThan(y, x) : lessThan(x, y);
            });
            return Value(std::move(out));
        };
        f["sort"] = [](const Value& v, CallArgs& a) {
            const bool reverse = arg(a, 0, "reverse", Value(false)).truthy();
            const bool caseSensitive = arg(a, 1, "case_sensitive", Value(false)).truthy();
            const Value attr = arg(a, 2, "attribute", Value::none());
            auto items = iterate(v);
            auto key = [&](const Value& x) {
                Value k = attr.isString() ? attributeOrItem(x, attr.asString()) : x;
                if (!caseSensitive && k.isString())
                    k = Value(unicode::toLower(k.asString()));
                return k;
            };
            std::stable_sort(items.begin(), items.end(), [&](const Value& p, const Value& q) {
                return reverse ? lessThan(key(q), key(p)) : lessThan(key(p), key(q));
            });
            return Value(std::move(items));
        };
        f["unique"] = [](const Value& v, CallArgs&) {
            List out;
            for (const auto& x : iterate(v))
                if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return y.equals(x); }))
                    out.push_back(x);
            return Value(std::move(out));
        };
        f["map"] = [](const Value& v, CallArgs& a) {
            List out;
            if (const Value* attr = a.kw("attribute")) {
                const Value* dflt = a.kw("default");
                for (const auto& x : iterate(v)) {
                    Value r = attributeOrItem(x, attr->str());
                    out.push_back(r.isUndefined() && dflt ? *dflt : r);
                }
                return Value(std::move(out));
            }
            if (a.positional.empty() || !a.positional[0].isString())
                fail("map needs a filter name or attribute=");
            const std::string name = a.positional[0].asString();
            CallArgs rest;
            rest.positional.assign(a.positional.begin() + 1, a.positional.end());
            rest.keyword = a.keyword;
            for (const auto& x : iterate(v)) {
                CallArgs copy = rest;
                out.push_back(applyFilter(name, x, copy));
            }
            return Value(std::move(out));
        };
        f["select"] = [](const Value& v, CallArgs& a) { return Value(selectItems(v, a, false, true)); };
        f["reject"] = [](const Value& v, CallArgs& a) { return Value(selectItems(v, a, false, false)); };
        f["selectattr"] = [](const Value& v, CallArgs& a) { return Value(selectItems(v, a, true, true)); };
        f["rejectattr"] = [](const Value& v, CallArgs& a) { return Value(selectItems(v, a, true, false)); };
        f["attr"] = [undefined](const Value& v, CallArgs& a) { return getAttribute(v, arg(a, 0, "name", undefined).str()); };
        f["replace"] = [undefined, requireString](const Value& v, CallArgs& a) {
            return Value(replaceAll(requireString(v, "replace"), arg(a, 0, "old", undefined).str(), arg(a, 1, "new", undefined).str(),
                                    arg(a, 2, "count", Value::none()).isNone() ? -1 : toInt(arg(a, 2, "count", Value::none()), "count")));
        };
        f["int"] = [](const Value& v, CallArgs& a) -> Value {
            const Value dflt = arg(a, 0, "default", Value(static_cast<int64_t>(0)));
            if (v.isInt())
                return v;
            if (v.isBool())
                return Value(static_cast<int64_t>(v.asBool()));
            if (v.isFloat())
                return Value(static_cast<int64_t>(v.asFloat()));
            if (v.isString()) {
                try {
                    std::size_t used = 0;
                    const std::string s = stripChars(v.asString(), Value::none(), true, true);
                    const long long x = std::stoll(s, &used, 10);
                    if (used == s.size())
                        return Value(static_cast<int64_t>(x));
                    const double d = std::stod(s, &used);
                    if (used == s.size())
                        return Value(static_cast<int64_t>(d));
                } catch (...) {
                }
            }
            return dflt;
        };
        f["float"] = [](const Value& v, CallArgs& a) -> Value {
            const Value dflt = arg(a, 0, "default", Value(0.0));
            if (v.isNumber() || v.isBool())
                return Value(v.asNumber());
            if (v.isString()) {
                try {
                    std::size_t used = 0;
                    const std::string s = stripChars(v.asString(), Value::none(), true, true);
                    const double d = std::stod(s, &used);
                    if (used == s.size())
                        return Value(d);
                } catch (...) {
                }
            }
            return dflt;
        };
        f["abs"] = [](const Value& v, CallArgs&) -> Value {
            if (v.isInt())
                return Value(static_cast<int64_t>(std::llabs(v.asInt())));
            if (v.isFloat())
                return Value(std::fabs(v.asFloat()));
            fail("bad operand type for abs(): '" + v.typeName() + "'");
        };
        f["round"] = [](const Value& v, CallArgs& a) {
            const int64_t precision = toInt(arg(a, 0, "precision", Value(static_cast<int64_t>(0))), "precision");
            const std::string method = arg(a, 1, "method", Value("common")).str();
            const double scale = std::pow(10.0, static_cast<double>(precision));
            const double x = v.asNumber() * scale;
            const double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
            return Value(r / scale);
        };
        f["sum"] = [](const Value& v, CallArgs& a) {
            const Value attr = arg(a, 0, "attribute", Value::none());
            Value total = arg(a, 1, "start", Value(static_cast<int64_t>(0)));
            for (const auto& x : iterate(v))
                total = binaryOp("+", total, attr.isString() ? attributeOrItem(x, attr.asString()) : x);
            return total;
        };
        auto minmax = [](bool wantMax) {
            return [wantMax](const Value& v, CallArgs& a) {
                const bool caseSensitive = arg(a, 0, "case_sensitive", Value(false)).truthy();
                const Value attr = arg(a, 1, "attribute", Value::none());
                auto items = iterate(v);
                if (items.empty())
                    return Value::undefined(wantMax ? "max" : "min");
                auto key = [&](const Value& x) {
                    Value k = attr.isString() ? attributeOrItem(x, attr.asString()) : x;
                    if (!caseSensitive && k.isString())
                        k = Value(unicode::toLower(k.asString()));
                    return k;
                };
                Value best = items[0];
                for (const auto& x : items)
                    if (wantMax ? lessThan(key(best), key(x)) : lessThan(key(x), key(best)))
                        best = x;
                return best;
            };
        };
        f["max"] = minmax(true);
        f["min"] = minmax(false);
        f["indent"] = [requireString](const Value& v, CallArgs& a) {
            return Value(indentText(requireString(v, "indent"), arg(a, 0, "width", Value(static_cast<int64_t>(4))),
                                    arg(a, 1, "first", Value(false)).truthy(), arg(a, 2, "blank", Value(false)).truthy()));
        };
        f["wordcount"] = [](const Value& v, CallArgs&) {
            return Value(static_cast<int64_t>(splitString(v.str(), Value::none(), -1, false).size()));
        };
        f["format"] = [](const Value& v, CallArgs& a) {
            return Value(percentFormat(v.str(), a.positional.size() == 1 ? a.positional[0] : Value(a.positional)));
        };
        f["batch"] = [undefined](const Value& v, CallArgs& a) {
            const int64_t size = toInt(arg(a, 0, "linecount", undefined), "batch");
            if (size <= 0)
                fail("batch size must be positive");
            const Value fill = arg(a, 1, "fill_with", Value::none());
            List out, cur;
            for (const auto& x : iterate(v)) {
                cur.push_back(x);
                if (static_cast<int64_t>(cur.size()) == size) {
                    out.emplace_back(std::move(cur));
                    cur.clear();
                }
            }
            if (!cur.empty()) {
                if (!fill.isNone())
                    while (static_cast<int64_t>(cur.size()) < size)
                        cur.push_back(fill);
                out.emplace_back(std::move(cur));
            }
            return Value(std::move(out));
        };
        return f;
    }();
    return table;
}

} // namespace

bool hasFilter(const std::string& name) { return filters().count(name) != 0; }

Value applyFilter(const std::string& name, const Value& input, CallArgs& args) {
    auto it = filters().find(name);
    if (it == filters().end())
        fail("unknown filter '" + name + "'");
    return it->second(input, args);
}

bool hasTest(const std::string& name) { return tests().count(name) != 0; }

bool applyTest(const std::string& name, const Value& input, CallArgs& args) {
    auto it = tests().find(name);
    if (it == tests().end())
        fail("unknown test '" + name + "'");
    return it->second(input, args);
}

void addGlobals(Dict& g) {
    g.set("namespace", Value::callable([](CallArgs& a) {
        auto ns = std::make_shared<Dict>();
        ns->isNamespace = true;
        for (const auto& p : a.positional) {
            if (!p.isDict())
                fail("namespace() positional arguments must be mappings");
            for (const auto& [k, v] : p.asDict().items())
                ns->set(k, v);
        }
        for (const auto& [k, v] : a.keyword)
            ns->set(k, v);
        return Value(ns);
    }));
    g.set("dict", Value::callable([](CallArgs& a) {
        auto d = std::make_shared<Dict>();
        for (const auto& p : a.positional) {
            if (!p.isDict())
                fail("dict() positional argument must be a mapping");
            for (const auto& [k, v] : p.asDict().items())
                d->set(k, v);
        }
        for (const auto& [k, v] : a.keyword)
            d->set(k, v);
        return Value(d);
    }));
    g.set("range", Value::callable([](CallArgs& a) {
        int64_t start = 0, stop, step = 1;
        if (a.positional.size() == 1) {
            stop = toInt(a.positional[0], "range");
        } else if (a.positional.size() == 2 || a.positional.size() == 3) {
            start = toInt(a.positional[0], "range");
            stop = toInt(a.positional[1], "range");
            if (a.positional.size() == 3)
                step = toInt(a.positional[2], "range");
        } else {
            fail("range expected 1 to 3 arguments");
        }
        if (step == 0)
            fail("range() arg 3 must not be zero");
        List out;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (out.size() >= kMaxRange)
                fail("range() is too long for a template");
            out.emplace_back(i);
        }
        return Value(std::move(out));
    }));
    g.set("raise_exception", Value::callable([](CallArgs& a) -> Value {
        throw TemplateException(a.positional.empty() ? std::string("raise_exception called") : a.positional[0].str());
    }));
    g.set("strftime_now", Value::callable([](CallArgs& a) {
        const std::string fmt = a.positional.empty() ? std::string("%Y-%m-%d") : a.positional[0].str();
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        localtime_r(&now, &tm);
        char buf[256];
        const std::size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
        return Value(std::string(buf, n));
    }));
}

} // namespace rslora::models::jinja
