// Python / Jinja2 semantics for the chat-template interpreter's operators: iteration, arithmetic
// and comparison, % formatting, item and attribute access, slicing.
#include "models/chat/JinjaBuiltins.h"
#include "models/chat/JinjaDictKeys.h"
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaIntegers.h"

#include "models/chat/JinjaTemplate.h"
#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <functional>
#include <unordered_map>

namespace rslora::models::jinja {

using namespace detail;

std::vector<Value> iterate(const Value& v) {
    switch (v.type()) {
    case Value::Type::List: return v.asList();
    case Value::Type::Dict: {
        std::vector<Value> keys;
        for (const auto& [k, _] : v.asDict().items())
            keys.push_back(keyValue(k));
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
    if (isIntegral(v))
        return intResult(-wideOf(v), "-" + v.str());
    if (v.isFloat())
        return Value(-v.asFloat());
    if (v.isUndefined())
        fail("'" + v.undefinedName() + "' is undefined");
    fail("bad operand type for unary -: '" + v.typeName() + "'");
}

namespace {

// Python's <, >, <=, >= (numbers compared exactly; NaN is neither less, equal nor greater).
bool compare(const std::string& op, const Value& a, const Value& b) {
    if (isNumeric(a) && isNumeric(b)) {
        const auto order = compareNumbers(a, b);
        if (!order)
            return false;
        return op == "<" ? *order < 0 : op == ">" ? *order > 0 : op == "<=" ? *order <= 0 : *order >= 0;
    }
    if (op == "<")
        return lessThan(a, b);
    if (op == ">")
        return lessThan(b, a);
    return op == "<=" ? !lessThan(b, a) : !lessThan(a, b);
}

// `seq * count` (either order): Python's repetition of a str, list or tuple.
Value repeat(const Value& seq, const Value& count) {
    const Wide n = std::max<Wide>(0, wideOf(count));
    if (n > static_cast<Wide>(INT64_MAX))
        fail("cannot fit 'int' into an index-sized integer");
    const std::size_t size = seq.isString() ? seq.asString().size() : seq.asList().size();
    const Wide limit = seq.isString() ? static_cast<Wide>(kMaxRepeatBytes) : static_cast<Wide>(kMaxRange);
    if (size != 0 && n * static_cast<Wide>(size) > limit)
        fail(seq.isString() ? "string repetition result too large" : "list repetition result too large");
    const std::size_t times = size == 0 ? 0 : static_cast<std::size_t>(n);
    if (seq.isString()) {
        std::string out;
        for (std::size_t i = 0; i < times; ++i)
            out += seq.asString();
        return Value(std::move(out));
    }
    List out;
    for (std::size_t i = 0; i < times; ++i)
        out.insert(out.end(), seq.asList().begin(), seq.asList().end());
    return seq.isTuple() ? Value::tuple(std::move(out)) : Value(std::move(out));
}

// Python's float % and //: the remainder from fmod, moved into the divisor's sign; the quotient from
// the exact difference, so 7.0 % 0.2 is 0.19999999999999962, not 0.0.
Value floatDivMod(const std::string& op, double x, double y) {
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0) {
        if ((y < 0) != (mod < 0)) {
            mod += y;
            div -= 1.0;
        }
    } else {
        mod = std::copysign(0.0, y);
    }
    double floordiv;
    if (div != 0) {
        floordiv = std::floor(div);
        if (div - floordiv > 0.5)
            floordiv += 1.0;
    } else {
        floordiv = std::copysign(0.0, x / y);
    }
    return op == "//" ? Value(floordiv) : Value(mod);
}

} // namespace

Value binaryOp(const std::string& op, const Value& a, const Value& b) {
    auto typeError = [&]() -> Value {
        if (a.isUndefined() || b.isUndefined())
            fail("'" + (a.isUndefined() ? a.undefinedName() : b.undefinedName()) + "' is undefined");
        fail("unsupported operand type(s) for " + op + ": '" + a.typeName() + "' and '" + b.typeName() + "'");
    };
    const bool integers = isIntegral(a) && isIntegral(b);
    const bool numbers = isNumeric(a) && isNumeric(b);
    // An integer result, or the error naming the operation when it is beyond the supported range.
    auto integer = [&](Wide w) {
        if (auto v = fitInt(w))
            return *v;
        return intResult(w, a.str() + " " + op + " " + b.str());
    };
    if (op == "~")
        return Value(a.str() + b.str());
    if (op == "==")
        return Value(a.equals(b));
    if (op == "!=")
        return Value(!a.equals(b));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
        if (a.isUndefined() || b.isUndefined()) // Jinja2's Undefined refuses to be ordered
            return typeError();
        return Value(compare(op, a, b));
    }
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
            requireHashable(a); // Python hashes the key: `{} in d` is a TypeError
            found = dictFind(b.asDict(), a) != nullptr;
        } else if (b.isUndefined()) {
            found = false;
        } else {
            fail("argument of type '" + b.typeName() + "' is not iterable");
        }
        return Value(op == "in" ? found : !found);
    }
    if (op == "+") {
        if (integers)
            return integer(wideOf(a) + wideOf(b));
        if (numbers)
            return Value(a.asNumber() + b.asNumber());
        if (a.isString() && b.isString())
            return Value(a.asString() + b.asString());
        if (a.isList() && b.isList()) {
            if (a.isTuple() != b.isTuple())
                fail("can only concatenate " + a.typeName() + " (not \"" + b.typeName() + "\") to " + a.typeName());
            List l = a.asList();
            l.insert(l.end(), b.asList().begin(), b.asList().end());
            return a.isTuple() ? Value::tuple(std::move(l)) : Value(std::move(l));
        }
        return typeError();
    }
    if (op == "-") {
        if (integers)
            return integer(wideOf(a) - wideOf(b));
        if (numbers)
            return Value(a.asNumber() - b.asNumber());
        return typeError();
    }
    if (op == "*") {
        if (integers) {
            Wide r = 0;
            if (__builtin_mul_overflow(wideOf(a), wideOf(b), &r))
                r = static_cast<Wide>(UINT64_MAX) + 1;
            return integer(r);
        }
        if (numbers)
            return Value(a.asNumber() * b.asNumber());
        if ((a.isString() || a.isList()) && isIntegral(b))
            return repeat(a, b);
        if ((b.isString() || b.isList()) && isIntegral(a))
            return repeat(b, a);
        return typeError();
    }
    if (op == "/") {
        if (!numbers)
            return typeError();
        if (b.asNumber() == 0.0)
            fail("division by zero");
        if (integers)
            return Value(trueDivide(wideOf(a), wideOf(b)));
        return Value(a.asNumber() / b.asNumber());
    }
    if (op == "//" || op == "%") {
        if (op == "%" && a.isString())
            return Value(percentFormat(a.asString(), b));
        if (!numbers)
            return typeError();
        if (b.asNumber() == 0.0)
            fail(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
        if (integers)
            return integer(op == "//" ? floorDiv(wideOf(a), wideOf(b)) : floorMod(wideOf(a), wideOf(b)));
        return floatDivMod(op, a.asNumber(), b.asNumber());
    }
    if (op == "**") {
        if (!numbers)
            return typeError();
        if (integers && wideOf(b) >= 0)
            return intPower(wideOf(a), wideOf(b), a.str() + " ** " + b.str());
        if (a.asNumber() == 0 && b.asNumber() < 0)
            fail("0.0 cannot be raised to a negative power");
        return Value(std::pow(a.asNumber(), b.asNumber()));
    }
    fail("unknown operator " + op);
}

Value getItem(const Value& obj, const Value& key) {
    if (obj.isUndefined())
        fail("'" + obj.undefinedName() + "' is undefined");
    if (obj.isList() || obj.isString()) {
        if (!(key.isInt() || key.isBool())) {
            if (key.isString())
                return getAttribute(obj, key.asString());
            // Jinja2's getitem: the TypeError of a float or other key gives an undefined value.
            return Value::undefined(key.str());
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
        // Jinja2's getitem: an unhashable key's TypeError gives an undefined value too.
        if (const Value* v = dictFind(obj.asDict(), key))
            return *v;
        if (key.isString())
            return boundMethod(obj, key.asString());
        return Value::undefined(key.str());
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
            static const char* methods[] = {"items", "keys", "values", "get", "copy"};
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
        return obj.isTuple() ? Value::tuple(std::move(out)) : Value(std::move(out));
    return Value(utf8::fromCodePoints(outChars));
}


} // namespace rslora::models::jinja
