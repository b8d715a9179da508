// Jinja2 filters, tests and globals of the chat-template interpreter.
#include "models/chat/JinjaBuiltins.h"
#include "models/chat/JinjaDictKeys.h"
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaIntegers.h"

#include "models/chat/JinjaTemplate.h"
#include "models/tokenizer/UnicodeText.h"
#include "models/tokenizer/Utf8.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <unordered_map>

namespace rslora::models::jinja {

using namespace detail;

namespace {

using TestFn = std::function<bool(const Value&, CallArgs&)>;

const std::unordered_map<std::string, TestFn>& tests();
const std::unordered_map<std::string, FilterFn>& filters();

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
    if (!input.truthy()) // Jinja2 iterates only a true value: 0, none and "" give nothing
        return out;
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
        t["integer"] = [](const Value& v, CallArgs&) { return v.isInt() || v.isUInt(); };
        t["float"] = [](const Value& v, CallArgs&) { return v.isFloat(); };
        t["number"] = [](const Value& v, CallArgs&) { return v.isNumber() || v.isBool(); }; // Python's bool is a Number
        t["string"] = [](const Value& v, CallArgs&) { return v.isString(); };
        t["mapping"] = [](const Value& v, CallArgs&) { return v.isDict(); };
        // An undefined value iterates as empty in Jinja2, so it is iterable.
        t["iterable"] = [](const Value& v, CallArgs&) { return v.isList() || v.isDict() || v.isString() || v.isUndefined(); };
        // Jinja2's Undefined has a length, items and a __call__ (that fails): a sequence and callable.
        t["sequence"] = [](const Value& v, CallArgs&) { return v.isList() || v.isDict() || v.isString() || v.isUndefined(); };
        t["callable"] = [](const Value& v, CallArgs&) { return v.isCallable() || (v.isDict() && v.asDict().call) || v.isUndefined(); };
        // Jinja2: value % 2 == 1, value % 2 == 0, value % num == 0 (so 1.5 is neither odd nor even).
        t["odd"] = [](const Value& v, CallArgs&) { return binaryOp("%", v, Value(2)).equals(Value(1)); };
        t["even"] = [](const Value& v, CallArgs&) { return binaryOp("%", v, Value(2)).equals(Value(0)); };
        t["divisibleby"] = [undefined](const Value& v, CallArgs& a) {
            return binaryOp("%", v, arg(a, 0, "num", undefined)).equals(Value(0));
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
        t["lower"] = [](const Value& v, CallArgs&) { return pyIsLower(v.str()); };
        t["upper"] = [](const Value& v, CallArgs&) { return pyIsUpper(v.str()); };
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
        f["lower"] = [requireString](const Value& v, CallArgs&) { return Value(pyLower(requireString(v, "lower"))); };
        f["capitalize"] = [requireString](const Value& v, CallArgs&) { return Value(capitalize(requireString(v, "capitalize"))); };
        f["title"] = [requireString](const Value& v, CallArgs&) { return Value(jinjaTitle(requireString(v, "title"))); };
        f["string"] = [](const Value& v, CallArgs&) { return Value(v.str()); };
        // Jinja2's safe is Markup(value): a string, whatever the value (autoescaping is off, so it is
        // the value's text).
        f["safe"] = [](const Value& v, CallArgs&) { return Value(v.str()); };
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
                out.push_back(Value::tuple(List{keyValue(k), x}));
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
                out.push_back(Value::tuple(List{keyValue(k), x}));
            std::stable_sort(out.begin(), out.end(), [&](const Value& p, const Value& q) {
                Value x = p.asList()[byValue ? 1 : 0], y = q.asList()[byValue ? 1 : 0];
                if (!caseSensitive && x.isString() && y.isString()) {
                    x = Value(pyLower(x.asString()));
                    y = Value(pyLower(y.asString()));
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
            // Jinja2 sorts by a list of the values of each comma-separated attribute (the item itself
            // without one), so items whose keys are equal are never asked which is less.
            std::vector<std::string> attrs;
            if (attr.isString()) {
                std::size_t start = 0;
                const std::string& text = attr.asString();
                for (std::size_t comma; (comma = text.find(',', start)) != std::string::npos; start = comma + 1)
                    attrs.push_back(text.substr(start, comma - start));
                attrs.push_back(text.substr(start));
            }
            auto key = [&](const Value& x) {
                List parts;
                for (const auto& name : attrs)
                    parts.push_back(attributeOrItem(x, name));
                if (attrs.empty())
                    parts.push_back(x);
                for (auto& k : parts)
                    if (!caseSensitive && k.isString())
                        k = Value(pyLower(k.asString()));
                return Value(std::move(parts));
            };
            // Every item's key is computed (as Python's sorted does, one item included), then compared.
            std::vector<std::pair<Value, Value>> keyed;
            for (auto& x : items)
                keyed.emplace_back(key(x), std::move(x));
            std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& p, const auto& q) {
                return reverse ? lessThan(q.first, p.first) : lessThan(p.first, q.first);
            });
            List out;
            for (auto& [k, x] : keyed)
                out.push_back(std::move(x));
            return Value(std::move(out));
        };
        // Jinja2's unique: first occurrences, compared case-insensitively unless case_sensitive=true.
        f["unique"] = [](const Value& v, CallArgs& a) {
            const bool caseSensitive = arg(a, 0, "case_sensitive", Value(false)).truthy();
            const Value attr = arg(a, 1, "attribute", Value::none());
            List out, seen;
            for (const auto& x : iterate(v)) {
                Value k = attr.isString() ? attributeOrItem(x, attr.asString()) : x;
                if (!caseSensitive && k.isString())
                    k = Value(pyLower(k.asString()));
                requireHashable(k); // Jinja2 keeps the values seen in a set
                if (std::none_of(seen.begin(), seen.end(), [&](const Value& y) { return y.equals(k); })) {
                    seen.push_back(k);
                    out.push_back(x);
                }
            }
            return Value(std::move(out));
        };
        f["map"] = [](const Value& v, CallArgs& a) {
            List out;
            if (!v.truthy()) // as select: Jinja2 maps only a true value
                return Value(std::move(out));
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
        // Jinja2's attr filter reads attributes only: a dict's keys are items, not attributes.
        f["attr"] = [undefined](const Value& v, CallArgs& a) {
            const std::string name = arg(a, 0, "name", undefined).str();
            if (v.isDict() && !v.asDict().isNamespace)
                return boundMethod(v, name);
            return getAttribute(v, name);
        };
        f["replace"] = [undefined, requireString](const Value& v, CallArgs& a) {
            return Value(replaceAll(requireString(v, "replace"), arg(a, 0, "old", undefined).str(), arg(a, 1, "new", undefined).str(),
                                    arg(a, 2, "count", Value::none()).isNone() ? -1 : toInt(arg(a, 2, "count", Value::none()), "count")));
        };
        // Jinja2's do_int: int(value) (int(text, base) for a string), else int(float(value)), else the
        // default. A value beyond 64 bits is refused, never wrapped or replaced by the default.
        f["int"] = [](const Value& v, CallArgs& a) -> Value {
            const Value dflt = arg(a, 0, "default", Value(static_cast<int64_t>(0)));
            if (v.isUndefined()) // int(Undefined) raises in Jinja2 rather than giving the default
                fail("'" + v.undefinedName() + "' is undefined");
            if (v.isInt() || v.isUInt())
                return v;
            if (v.isBool())
                return Value(static_cast<int64_t>(v.asBool()));
            if (v.isFloat()) {
                const auto i = floatToPyInt(v.asFloat(), "int");
                return i ? *i : dflt;
            }
            if (v.isString()) {
                const int64_t base = toInt(arg(a, 1, "base", Value(static_cast<int64_t>(10))), "int base");
                const PyInt parsed = parsePyInt(v.asString(), base);
                if (parsed.overflow)
                    fail("int: '" + v.asString() + "' is beyond 64 bits " + kIntegerRange);
                if (parsed.valid)
                    return parsed.value;
                if (const auto d = parsePyFloat(v.asString())) {
                    const auto i = floatToPyInt(*d, "int");
                    return i ? *i : dflt;
                }
            }
            return dflt;
        };
        // Jinja2's do_float: float(value), else the default (Python's syntax, whatever the C locale).
        f["float"] = [](const Value& v, CallArgs& a) -> Value {
            const Value dflt = arg(a, 0, "default", Value(0.0));
            if (v.isUndefined())
                fail("'" + v.undefinedName() + "' is undefined");
            if (v.isNumber() || v.isBool())
                return Value(v.asNumber());
            if (v.isString())
                if (const auto d = parsePyFloat(v.asString()))
                    return Value(*d);
            return dflt;
        };
        f["abs"] = [](const Value& v, CallArgs&) -> Value {
            if (isIntegral(v))
                return intResult(wideOf(v) < 0 ? -wideOf(v) : wideOf(v), "abs(" + v.str() + ")");
            if (v.isFloat())
                return Value(std::fabs(v.asFloat()));
            fail("bad operand type for abs(): '" + v.typeName() + "'");
        };
        f["round"] = [](const Value& v, CallArgs& a) {
            const int64_t precision = toInt(arg(a, 0, "precision", Value(static_cast<int64_t>(0))), "precision");
            const std::string method = arg(a, 1, "method", Value("common")).str();
            if (method != "common" && method != "ceil" && method != "floor")
                fail("method must be common, ceil or floor");
            if (!v.isNumber() && !v.isBool())
                fail("type " + v.typeName() + " doesn't define __round__ method");
            if (method == "common")
                return pyRound(v, precision);
            const double scale = std::pow(10.0, static_cast<double>(precision));
            const double x = v.asNumber() * scale;
            // Jinja2 divides the int math.ceil/math.floor returns: a zero result is 0.0, never -0.0.
            const double rounded = method == "ceil" ? std::ceil(x) : std::floor(x);
            return Value(rounded == 0 ? 0.0 : rounded / scale);
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
                // Python's min/max compare the keys themselves: Jinja2's Undefined keys refuse to be ordered.
                auto less = [](const Value& x, const Value& y) {
                    if (x.isUndefined() && y.isUndefined())
                        fail("'" + x.undefinedName() + "' is undefined");
                    return lessThan(x, y);
                };
                Value best = items[0];
                Value bestKey = key(best);
                for (std::size_t i = 1; i < items.size(); ++i) {
                    const Value k = key(items[i]);
                    if (wantMax ? less(bestKey, k) : less(k, bestKey)) {
                        best = items[i];
                        bestKey = k;
                    }
                }
                return best;
            };
        };
        f["max"] = minmax(true);
        f["min"] = minmax(false);
        f["indent"] = [requireString](const Value& v, CallArgs& a) {
            // Jinja2's do_indent appends "\n" to its argument: anything but a string fails there.
            if (v.isList())
                fail("'list' object has no attribute 'splitlines'");
            if (v.isUndefined()) // Jinja2's Undefined refuses the +=
                fail("'" + v.undefinedName() + "' is undefined");
            if (!v.isString())
                fail("unsupported operand type(s) for +=: '" + v.typeName() + "' and 'str'");
            return Value(indentText(requireString(v, "indent"), arg(a, 0, "width", Value(static_cast<int64_t>(4))),
                                    arg(a, 1, "first", Value(false)).truthy(), arg(a, 2, "blank", Value(false)).truthy()));
        };
        // Jinja2 counts the matches of Python's \w+: letters, numbers and "_" (not marks or emoji).
        f["wordcount"] = [](const Value& v, CallArgs&) {
            int64_t words = 0;
            bool inWord = false;
            for (char32_t c : cps(v.str())) {
                const bool w = c == '_' || unicode::isLetter(c) || unicode::isNumeric(c);
                words += w && !inWord;
                inWord = w;
            }
            return Value(words);
        };
        f["center"] = [](const Value& v, CallArgs& a) {
            return Value(justify(v.str(), arg(a, 0, "width", Value(static_cast<int64_t>(80))), Value(" "), '^', "center"));
        };
        f["format"] = [](const Value& v, CallArgs& a) {
            // Jinja2's do_format: text % kwargs, or text % args as a tuple.
            if (!a.positional.empty() && !a.keyword.empty())
                fail("format: can't handle positional and keyword arguments at the same time");
            if (!a.keyword.empty()) {
                auto mapping = std::make_shared<Dict>();
                for (const auto& [k, x] : a.keyword)
                    mapping->set(k, x);
                return Value(percentFormat(v.str(), Value(mapping)));
            }
            return Value(percentFormat(v.str(), Value::tuple(a.positional)));
        };
        addSliceFilters(f);
        addTextFilters(f);
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
    // joiner(sep): a function returning "" the first time and sep after.
    g.set("joiner", Value::callable([](CallArgs& a) {
        const Value sep = arg(a, 0, "sep", Value(", "));
        auto used = std::make_shared<bool>(false);
        return Value::callable([sep, used](CallArgs&) {
            const bool first = !*used;
            *used = true;
            return first ? Value("") : sep;
        });
    }));
    // cycler(*items): next() gives the items in turn, current the one next() gives next, reset() restarts.
    g.set("cycler", Value::callable([](CallArgs& a) {
        if (a.positional.empty())
            fail("at least one item has to be provided");
        auto cycler = std::make_shared<Dict>();
        const std::weak_ptr<Dict> self = cycler;
        const List items = a.positional;
        auto position = std::make_shared<std::size_t>(0);
        cycler->set("current", items[0]);
        cycler->set("next", Value::callable([self, items, position](CallArgs&) {
            const Value item = items[*position];
            *position = (*position + 1) % items.size();
            if (auto c = self.lock())
                c->set("current", items[*position]);
            return item;
        }));
        cycler->set("reset", Value::callable([self, items, position](CallArgs&) {
            *position = 0;
            if (auto c = self.lock())
                c->set("current", items[0]);
            return Value::none();
        }));
        return Value(cycler);
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
