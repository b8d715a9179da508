// Values of the chat-template interpreter: Python-like undefined, None, bool, int, float, str, list,
// tuple, dict (insertion-ordered), namespace and callables, with Python's truthiness, equality and str().
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace rslora::models::jinja {

class Value;
using List = std::vector<Value>;

class Dict;

struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;
    const Value* kw(const std::string& name) const;
};

using Callable = std::function<Value(CallArgs&)>;

struct Undefined {
    std::string name; // what was looked up, for messages
};

// An int above INT64_MAX (up to UINT64_MAX), from JSON or arithmetic: Python holds it exactly, so it
// prints, compares, computes and goes through tojson exactly (see JinjaIntegers.h).
struct LargeUnsigned {
    uint64_t value;
};

class Value {
public:
    // UInt is an int of Python above INT64_MAX (LargeUnsigned); isInt() is false for it, typeName() "int".
    enum class Type { Undefined, None, Bool, Int, Float, String, List, Dict, Callable, UInt };

    Value() : m_v(Undefined{}) {}
    static Value undefined(std::string name = {}) { Value v; v.m_v = Undefined{std::move(name)}; return v; }
    static Value none() { Value v; v.m_v = nullptr; return v; }
    Value(bool b) : m_v(b) {}
    Value(int i) : m_v(static_cast<int64_t>(i)) {}
    Value(int64_t i) : m_v(i) {}
    Value(double d) : m_v(d) {}
    Value(LargeUnsigned u) : m_v(u) {}
    Value(const char* s) : m_v(std::string(s)) {}
    Value(std::string s) : m_v(std::move(s)) {}
    Value(List l) : m_v(std::make_shared<List>(std::move(l))) {}
    Value(std::shared_ptr<List> l) : m_v(std::move(l)) {}
    Value(std::shared_ptr<Dict> d) : m_v(std::move(d)) {}
    static Value callable(Callable f) { Value v; v.m_v = std::make_shared<Callable>(std::move(f)); return v; }
    // A Python tuple: a list that prints in parentheses, is named "tuple" and never equals a list.
    static Value tuple(List l) { Value v(std::move(l)); v.m_tuple = true; return v; }

    Type type() const { return static_cast<Type>(m_v.index()); }
    bool isUndefined() const { return type() == Type::Undefined; }
    bool isNone() const { return type() == Type::None; }
    bool isBool() const { return type() == Type::Bool; }
    bool isInt() const { return type() == Type::Int; }
    bool isFloat() const { return type() == Type::Float; }
    bool isNumber() const { return isInt() || isFloat() || isUInt(); }
    bool isString() const { return type() == Type::String; }
    bool isList() const { return type() == Type::List; }
    bool isTuple() const { return m_tuple && isList(); }
    bool isDict() const { return type() == Type::Dict; }
    bool isCallable() const { return type() == Type::Callable; }
    bool isUInt() const { return type() == Type::UInt; }

    bool asBool() const { return std::get<bool>(m_v); }
    int64_t asInt() const { return std::get<int64_t>(m_v); }
    double asFloat() const { return std::get<double>(m_v); }
    // Python's float(x) of a number: ints rounded to the nearest double.
    double asNumber() const {
        return isInt() ? static_cast<double>(asInt()) : isUInt() ? static_cast<double>(asUInt()) : isBool() ? (asBool() ? 1.0 : 0.0) : asFloat();
    }
    const std::string& asString() const { return std::get<std::string>(m_v); }
    const List& asList() const { return *std::get<std::shared_ptr<List>>(m_v); }
    const std::shared_ptr<List>& listPtr() const { return std::get<std::shared_ptr<List>>(m_v); }
    Dict& asDict() const { return *std::get<std::shared_ptr<Dict>>(m_v); }
    const std::shared_ptr<Dict>& dictPtr() const { return std::get<std::shared_ptr<Dict>>(m_v); }
    const Callable& asCallable() const { return *std::get<std::shared_ptr<Callable>>(m_v); }
    const std::string& undefinedName() const { return std::get<Undefined>(m_v).name; }
    uint64_t asUInt() const { return std::get<LargeUnsigned>(m_v).value; }

    bool truthy() const;
    // Python str(): None -> "None", True -> "True", lists and dicts in repr form; undefined -> "".
    std::string str() const;
    // Python repr(): strings quoted.
    std::string repr() const;
    // Python ==.
    bool equals(const Value& other) const;
    // Type name as Python would say it ("str", "int", "list", "dict", "NoneType", "undefined").
    std::string typeName() const;

    static Value fromJson(const nlohmann::ordered_json& j);
    struct JsonOptions {
        int indent = -1; // < 0: single line
        bool sortKeys = false;
        bool ensureAscii = false;
        // Python's defaults: ", " and ": " on one line, "," and ": " when indenting.
        std::string itemSeparator;
        std::string keySeparator = ": ";
    };
    // json.dumps(value, ensure_ascii=False, indent=indent) as transformers' tojson does.
    std::string toJson(int indent = -1, bool sortKeys = false) const;
    std::string toJson(const JsonOptions& options) const;

private:
    std::variant<Undefined, std::nullptr_t, bool, int64_t, double, std::string, std::shared_ptr<List>,
                 std::shared_ptr<Dict>, std::shared_ptr<Callable>, LargeUnsigned>
        m_v;
    bool m_tuple = false;
};

// Insertion-ordered string-keyed mapping. A namespace() object is a Dict whose attributes may be set.
class Dict {
public:
    bool isNamespace = false;
    // Set on a for loop's `loop` object: loop(items) renders a recursive loop's body over items.
    Callable call;

    const Value* find(const std::string& key) const;
    void set(const std::string& key, Value v);
    bool contains(const std::string& key) const { return m_index.count(key) != 0; }
    std::size_t size() const { return m_items.size(); }
    const std::vector<std::pair<std::string, Value>>& items() const { return m_items; }

private:
    std::vector<std::pair<std::string, Value>> m_items;
    std::unordered_map<std::string, std::size_t> m_index;
};

// Python float repr: shortest round-trip digits, "1.0" for integral values, "1e+20" style exponents.
std::string formatFloat(double d);

} // namespace rslora::models::jinja
