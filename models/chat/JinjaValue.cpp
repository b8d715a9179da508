// Python semantics for interpreter values: truthiness, equality, str/repr and JSON conversion.
#include "models/chat/JinjaValue.h"

#include "models/chat/JinjaDictKeys.h"
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaIntegers.h"

#include "common/Error.h"
#include "models/tokenizer/Utf8.h"

#include <utf8proc.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

namespace rslora::models::jinja {

const Value* CallArgs::kw(const std::string& name) const {
    for (const auto& [k, v] : keyword)
        if (k == name)
            return &v;
    return nullptr;
}

const Value* Dict::find(const std::string& key) const {
    auto it = m_index.find(key);
    return it == m_index.end() ? nullptr : &m_items[it->second].second;
}

void Dict::set(const std::string& key, Value v) {
    auto it = m_index.find(key);
    if (it != m_index.end()) {
        m_items[it->second].second = std::move(v);
        return;
    }
    m_index.emplace(key, m_items.size());
    m_items.emplace_back(key, std::move(v));
}

namespace {

constexpr char kKeyMark = '\xFF';

std::string floatKey(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(bits));
    return std::string(1, kKeyMark) + "f" + buf;
}

// The stored forms a key equal to `key` may have (1, 1.0 and True are equal and hash alike); the first
// is the form `key` itself is stored under. Empty for an unhashable key.
std::vector<std::string> keyForms(const Value& key) {
    const std::string mark(1, kKeyMark);
    switch (key.type()) {
    case Value::Type::String: return {key.asString()};
    case Value::Type::None: return {mark + "n"};
    case Value::Type::Undefined: return {mark + "U"};
    case Value::Type::Bool:
    case Value::Type::Int:
    case Value::Type::UInt:
    case Value::Type::Float: {
        std::vector<std::string> forms;
        std::optional<detail::Wide> integral;
        if (key.isFloat()) {
            const double d = key.asFloat();
            forms.push_back(floatKey(d));
            if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) <= 1.8446744073709552e19)
                integral = detail::Wide(d);
        } else {
            const detail::Wide w = detail::wideOf(key);
            if (key.isBool())
                forms.push_back(mark + (key.asBool() ? "b1" : "b0"));
            else
                forms.push_back(mark + "i" + key.str());
            integral = w;
        }
        if (!integral)
            return forms;
        const detail::Wide w = *integral;
        const std::optional<Value> fitted = detail::fitInt(w);
        if (!fitted)
            return forms;
        const Value asInt = *fitted;
        auto add = [&](std::string f) {
            if (std::find(forms.begin(), forms.end(), f) == forms.end())
                forms.push_back(std::move(f));
        };
        add(mark + "i" + asInt.str());
        if (w == 0 || w == 1)
            add(mark + (w == 1 ? "b1" : "b0"));
        const double d = asInt.asNumber();
        if (detail::Wide(d) == w) {
            add(floatKey(d));
            if (w == 0)
                add(floatKey(-0.0));
        }
        return forms;
    }
    case Value::Type::List: {
        if (!key.isTuple())
            return {};
        std::string out = mark + "t";
        for (const auto& x : key.asList()) {
            const auto inner = keyForms(x);
            if (inner.empty())
                return {};
            out += std::to_string(inner[0].size()) + ":" + inner[0];
        }
        return {out};
    }
    default: return {};
    }
}

} // namespace

std::string dictKey(const Value& key) {
    auto forms = keyForms(key);
    if (forms.empty())
        detail::fail("unhashable type: '" + key.typeName() + "'");
    return std::move(forms[0]);
}

Value keyValue(const std::string& stored) {
    if (stored.empty() || stored[0] != kKeyMark || stored.size() < 2)
        return Value(stored);
    const std::string body = stored.substr(2);
    switch (stored[1]) {
    case 'n': return Value::none();
    case 'U': return Value::undefined();
    case 'b': return Value(body == "1");
    case 'i': {
        int64_t i = 0;
        const auto r = std::from_chars(body.data(), body.data() + body.size(), i);
        if (r.ec == std::errc() && r.ptr == body.data() + body.size())
            return Value(i);
        uint64_t u = 0;
        std::from_chars(body.data(), body.data() + body.size(), u);
        return Value(LargeUnsigned{u});
    }
    case 'f': {
        const uint64_t bits = std::strtoull(body.c_str(), nullptr, 16);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return Value(d);
    }
    case 't': {
        List items;
        std::size_t pos = 0;
        while (pos < body.size()) {
            const std::size_t colon = body.find(':', pos);
            const std::size_t len = std::stoul(body.substr(pos, colon - pos));
            items.push_back(keyValue(body.substr(colon + 1, len)));
            pos = colon + 1 + len;
        }
        return Value::tuple(std::move(items));
    }
    default: return Value(stored);
    }
}

const Value* dictFind(const Dict& d, const Value& key) {
    if (key.isString())
        return d.find(key.asString());
    for (const auto& form : keyForms(key))
        if (const Value* v = d.find(form))
            return v;
    return nullptr;
}

void dictSet(Dict& d, const Value& key, Value v) {
    const auto forms = keyForms(key);
    if (forms.empty())
        detail::fail("unhashable type: '" + key.typeName() + "'");
    for (const auto& form : forms)
        if (d.contains(form)) {
            d.set(form, std::move(v));
            return;
        }
    d.set(forms[0], std::move(v));
}

// Python's repr of a float: the shortest digits that read back as the same double, positional for
// exponents -4 to 15 and d.ddde±XX otherwise. std::to_chars gives those digits whatever the C locale
// (the GUI runs under the user's, where printf would write "0,5").
std::string formatFloat(double d) {
    if (std::isnan(d))
        return "nan";
    if (std::isinf(d))
        return d > 0 ? "inf" : "-inf";
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    const std::string sci(buf, res.ptr); // "-1.2345e+02"
    const bool negative = sci[0] == '-';
    const std::size_t e = sci.find('e');
    std::string digits;
    for (std::size_t k = negative ? 1 : 0; k < e; ++k)
        if (sci[k] != '.')
            digits += sci[k];
    const int exponent = std::atoi(sci.c_str() + e + 1);
    std::string out = negative ? "-" : "";
    if (exponent < -4 || exponent >= 16) {
        out += digits.substr(0, 1);
        if (digits.size() > 1)
            out += "." + digits.substr(1);
        char exp[16];
        std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
        return out + exp;
    }
    if (exponent < 0)
        return out + "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    const std::size_t intDigits = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= intDigits)
        return out + digits + std::string(intDigits - digits.size(), '0') + ".0";
    return out + digits.substr(0, intDigits) + "." + digits.substr(intDigits);
}

bool Value::truthy() const {
    switch (type()) {
    case Type::Undefined: return false;
    case Type::None: return false;
    case Type::Bool: return asBool();
    case Type::Int: return asInt() != 0;
    case Type::Float: return asFloat() != 0.0;
    case Type::String: return !asString().empty();
    case Type::List: return !asList().empty();
    case Type::Dict: return asDict().size() != 0;
    case Type::Callable: return true;
    case Type::UInt: return true; // above INT64_MAX, never zero
    }
    return false;
}

namespace {

// Python's str.isprintable() for one character: not a control, format, surrogate, private-use or
// unassigned character, nor a separator other than the ASCII space.
bool isPrintable(char32_t c) {
    if (c == ' ')
        return true;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
        return false;
    default:
        return true;
    }
}

std::string pyQuote(const std::string& s) {
    // Python repr of a str: single quotes unless the text contains ' and no "; characters that are
    // not printable as \xhh, \uhhhh or \Uhhhhhhhh.
    const bool useDouble = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
    const char q = useDouble ? '"' : '\'';
    std::string out(1, q);
    std::size_t pos = 0;
    while (pos < s.size()) {
        char32_t c;
        const std::size_t len = utf8::decode(s, pos, c);
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c == static_cast<char32_t>(q)) {
                out += '\\';
                out += static_cast<char>(c);
            } else if (!isPrintable(c)) {
                char buf[16];
                std::snprintf(buf, sizeof buf, c <= 0xFF ? "\\x%02x" : c <= 0xFFFF ? "\\u%04x" : "\\U%08x", static_cast<unsigned>(c));
                out += buf;
            } else {
                out.append(s, pos, len);
            }
        }
        pos += len;
    }
    out += q;
    return out;
}

} // namespace

std::string Value::str() const {
    switch (type()) {
    case Type::Undefined: return "";
    case Type::None: return "None";
    case Type::Bool: return asBool() ? "True" : "False";
    case Type::Int: return std::to_string(asInt());
    case Type::Float: return formatFloat(asFloat());
    case Type::String: return asString();
    case Type::Callable: return "<function>";
    case Type::UInt: return std::to_string(asUInt());
    case Type::List:
    case Type::Dict: return repr();
    }
    return "";
}

std::string Value::repr() const {
    switch (type()) {
    case Type::Undefined: return "Undefined"; // Jinja2's Undefined.__repr__
    case Type::String: return pyQuote(asString());
    case Type::List: {
        std::string s = isTuple() ? "(" : "[";
        const auto& l = asList();
        for (std::size_t i = 0; i < l.size(); ++i)
            s += (i ? ", " : "") + l[i].repr();
        if (isTuple())
            return s + (l.size() == 1 ? ",)" : ")");
        return s + "]";
    }
    case Type::Dict: {
        const auto& d = asDict();
        std::string s = d.isNamespace ? "<Namespace {" : "{";
        bool first = true;
        for (const auto& [k, v] : d.items()) {
            s += (first ? "" : ", ") + keyValue(k).repr() + ": " + v.repr();
            first = false;
        }
        return s + (d.isNamespace ? "}>" : "}");
    }
    default: return str();
    }
}

bool Value::equals(const Value& o) const {
    // Python compares ints and floats exactly (9007199254740993 != 9007199254740992.0).
    if (detail::isNumeric(*this) || detail::isNumeric(o)) {
        if (!detail::isNumeric(*this) || !detail::isNumeric(o))
            return false;
        const auto order = detail::compareNumbers(*this, o);
        return order && *order == 0;
    }
    if (type() != o.type() || isTuple() != o.isTuple())
        return false;
    switch (type()) {
    case Type::Undefined: return true;
    case Type::None: return true;
    case Type::String: return asString() == o.asString();
    case Type::List: {
        const auto &a = asList(), &b = o.asList();
        if (a.size() != b.size())
            return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!a[i].equals(b[i]))
                return false;
        return true;
    }
    case Type::Dict: {
        const auto &a = asDict(), &b = o.asDict();
        if (dictPtr() == o.dictPtr())
            return true;
        if (a.size() != b.size())
            return false;
        for (const auto& [k, v] : a.items()) {
            const Value* w = dictFind(b, keyValue(k));
            if (!w || !v.equals(*w))
                return false;
        }
        return true;
    }
    case Type::Callable: return &asCallable() == &o.asCallable();
    default: return false;
    }
}

std::string Value::typeName() const {
    switch (type()) {
    case Type::Undefined: return "undefined";
    case Type::None: return "NoneType";
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return "str";
    case Type::List: return isTuple() ? "tuple" : "list";
    case Type::Dict: return asDict().isNamespace ? "Namespace" : "dict";
    case Type::Callable: return "function";
    case Type::UInt: return "int";
    }
    return "?";
}

Value Value::fromJson(const nlohmann::ordered_json& j) {
    switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned:
        // Python holds it exactly; above INT64_MAX it is kept as an unsigned value, never wrapped.
        if (j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
            return Value(LargeUnsigned{j.get<uint64_t>()});
        return Value(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
        List l;
        l.reserve(j.size());
        for (const auto& e : j)
            l.push_back(fromJson(e));
        return Value(std::move(l));
    }
    case nlohmann::ordered_json::value_t::object: {
        auto d = std::make_shared<Dict>();
        for (auto it = j.begin(); it != j.end(); ++it)
            d->set(it.key(), fromJson(it.value()));
        return Value(d);
    }
    default: return Value::undefined();
    }
}

namespace {

void jsonString(std::string& out, const std::string& s, bool ensureAscii) {
    out += '"';
    for (std::size_t i = 0; i < s.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (ensureAscii && c >= 0x80) {
            // Decode one UTF-8 sequence and write \uXXXX (surrogate pairs above the BMP).
            char32_t cp = 0xFFFD;
            int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
            if (extra && i + extra < s.size() + 0) {
                cp = c & (0x3F >> extra);
                for (int k = 1; k <= extra; ++k)
                    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
                i += extra;
            }
            char buf[16];
            if (cp >= 0x10000) {
                cp -= 0x10000;
                std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            }
            out += buf;
            continue;
        }
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

// json.dumps writes int, float, bool and None keys as text and refuses other keys.
std::string jsonKey(const std::string& stored) {
    const Value k = keyValue(stored);
    switch (k.type()) {
    case Value::Type::String: return k.asString();
    case Value::Type::None: return "null";
    case Value::Type::Bool: return k.asBool() ? "true" : "false";
    case Value::Type::Int:
    case Value::Type::UInt: return k.str();
    case Value::Type::Float: {
        const double d = k.asFloat();
        return std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : formatFloat(d);
    }
    default:
        detail::fail("tojson: keys must be str, int, float, bool or None, not " +
                    std::string(k.isUndefined() ? "Undefined" : k.typeName()));
    }
}

void toJsonImpl(const Value& v, std::string& out, const Value::JsonOptions& o, int depth) {
    const int indent = o.indent;
    if (depth > 200)
        throw std::runtime_error("tojson: value nested too deeply");
    auto newline = [&](int level) {
        out += '\n';
        out.append(static_cast<std::size_t>(indent * level), ' ');
    };
    switch (v.type()) {
    case Value::Type::Undefined:
        // transformers' tojson is json.dumps, which cannot write Jinja2's Undefined.
        throw Error("tojson: " + (v.undefinedName().empty() ? std::string("an undefined value") : "'" + v.undefinedName() + "' is undefined and") +
                    " cannot be written as JSON (Object of type Undefined is not JSON serializable)");
    case Value::Type::None: out += "null"; break;
    case Value::Type::Bool: out += v.asBool() ? "true" : "false"; break;
    case Value::Type::Int: out += std::to_string(v.asInt()); break;
    case Value::Type::Float: {
        const double d = v.asFloat();
        out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : formatFloat(d);
        break;
    }
    case Value::Type::String: jsonString(out, v.asString(), o.ensureAscii); break;
    case Value::Type::Callable: out += "null"; break;
    case Value::Type::UInt: out += std::to_string(v.asUInt()); break;
    case Value::Type::List: {
        const auto& l = v.asList();
        if (l.empty()) {
            out += "[]";
            break;
        }
        out += '[';
        for (std::size_t i = 0; i < l.size(); ++i) {
            if (i)
                out += o.itemSeparator;
            if (indent >= 0)
                newline(depth + 1);
            toJsonImpl(l[i], out, o, depth + 1);
        }
        if (indent >= 0)
            newline(depth);
        out += ']';
        break;
    }
    case Value::Type::Dict: {
        auto items = v.asDict().items();
        if (items.empty()) {
            out += "{}";
            break;
        }
        if (o.sortKeys) // Python sorts the keys themselves: str and int keys together are a TypeError
            std::stable_sort(items.begin(), items.end(),
                             [](const auto& a, const auto& b) { return detail::lessThan(keyValue(a.first), keyValue(b.first)); });
        out += '{';
        bool first = true;
        for (const auto& [k, val] : items) {
            if (!first)
                out += o.itemSeparator;
            first = false;
            if (indent >= 0)
                newline(depth + 1);
            jsonString(out, jsonKey(k), o.ensureAscii);
            out += o.keySeparator;
            toJsonImpl(val, out, o, depth + 1);
        }
        if (indent >= 0)
            newline(depth);
        out += '}';
        break;
    }
    }
}

} // namespace

std::string Value::toJson(int indent, bool sortKeys) const {
    JsonOptions o;
    o.indent = indent;
    o.sortKeys = sortKeys;
    return toJson(o);
}

std::string Value::toJson(const JsonOptions& options) const {
    JsonOptions o = options;
    if (o.itemSeparator.empty())
        o.itemSeparator = o.indent >= 0 ? "," : ", ";
    std::string out;
    toJsonImpl(*this, out, o, 0);
    return out;
}

} // namespace rslora::models::jinja
