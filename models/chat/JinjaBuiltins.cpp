// Python / Jinja2 semantics for the chat-template interpreter's operators: iteration, arithmetic
// and comparison, % formatting, item and attribute access, slicing.
#include "models/chat/JinjaBuiltins.h"
#include "models/chat/JinjaHelpers.h"

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

namespace {

// Python's integers are unbounded; ours are 64-bit, and a result that does not fit is an error rather
// than a wrapped-around or float value.
[[noreturn]] void integerOverflow(const std::string& op) {
    fail("integer result of " + op + " is beyond 64 bits (Python's big integers are not supported)");
}

int64_t checkedPower(int64_t base, int64_t exponent) {
    int64_t result = 1;
    while (exponent > 0) {
        if ((exponent & 1) && __builtin_mul_overflow(result, base, &result))
            integerOverflow("**");
        exponent >>= 1;
        if (exponent > 0 && __builtin_mul_overflow(base, base, &base))
            integerOverflow("**");
    }
    return result;
}

} // namespace

Value unaryMinus(const Value& v) {
    if (v.isUInt())
        largeUnsignedArithmetic(v, "unary -");
    if (v.isInt()) {
        if (v.asInt() == INT64_MIN)
            integerOverflow("unary -");
        return Value(-v.asInt());
    }
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
    // Text % value formats it (%s, %r print it exactly; %d refuses it below as arithmetic would).
    if ((a.isUInt() || b.isUInt()) && !(op == "%" && a.isString()))
        largeUnsignedArithmetic(a.isUInt() ? a : b, op);
    if (op == "+") {
        if (intLike(a) && intLike(b)) {
            int64_t r = 0;
            if (__builtin_add_overflow(asI(a), asI(b), &r))
                integerOverflow("+");
            return Value(r);
        }
        if (numeric(a) && numeric(b))
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
        if (intLike(a) && intLike(b)) {
            int64_t r = 0;
            if (__builtin_sub_overflow(asI(a), asI(b), &r))
                integerOverflow("-");
            return Value(r);
        }
        if (numeric(a) && numeric(b))
            return Value(a.asNumber() - b.asNumber());
        return typeError();
    }
    if (op == "*") {
        if (intLike(a) && intLike(b)) {
            int64_t r = 0;
            if (__builtin_mul_overflow(asI(a), asI(b), &r))
                integerOverflow("*");
            return Value(r);
        }
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
            return seq->isTuple() ? Value::tuple(std::move(out)) : Value(std::move(out));
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
            if (x == INT64_MIN && y == -1) {
                if (op == "//")
                    integerOverflow("//");
                return Value(int64_t(0));
            }
            int64_t q = x / y, r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) {
                --q;
                r += y;
            }
            return op == "//" ? Value(q) : Value(r);
        }
        // Python's float divmod: the remainder from fmod, moved into the divisor's sign; the quotient
        // from the exact difference, so 7.0 % 0.2 is 0.19999999999999962, not 0.0.
        const double x = a.asNumber(), y = b.asNumber();
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
    if (op == "**") {
        if (!numeric(a) || !numeric(b))
            return typeError();
        if (intLike(a) && intLike(b) && asI(b) >= 0) {
            const int64_t base = asI(a);
            if (base == 0 || base == 1)
                return Value(asI(b) == 0 ? int64_t(1) : base);
            if (base == -1)
                return Value(asI(b) % 2 == 0 ? int64_t(1) : int64_t(-1));
            return Value(checkedPower(base, asI(b)));
        }
        if (a.asNumber() == 0 && b.asNumber() < 0)
            fail("0.0 cannot be raised to a negative power");
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
        else if ((c == 'd' || c == 'i') && v.isUInt())
            out += v.str();
        else if (c == 'd' || c == 'i')
            out += std::to_string(toInt(v, "%d format"));
        else if (c == 'f' && (v.isNumber() || v.isBool() || v.isUInt()))
            out += std::to_string(v.isUInt() ? static_cast<double>(v.asUInt()) : v.asNumber());
        else if (c == 'f')
            fail("%f format: a real number is required, not " + v.typeName());
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
        return obj.isTuple() ? Value::tuple(std::move(out)) : Value(std::move(out));
    return Value(utf8::fromCodePoints(outChars));
}


} // namespace rslora::models::jinja
