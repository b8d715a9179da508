// Jinja2's filters that cut a value into parts: batch, slice, groupby and truncate.
#include "models/chat/JinjaHelpers.h"

#include "models/tokenizer/Utf8.h"

#include <algorithm>

namespace rslora::models::jinja::detail {

namespace {

// batch(linecount, fill_with=None): lists of linecount items, the last filled up when fill_with is given.
Value batch(const Value& v, CallArgs& a) {
    const int64_t size = toInt(arg(a, 0, "linecount", Value()), "batch");
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
}

// slice(slices, fill_with=None): `slices` columns; the first len % slices hold one item more, the
// others get fill_with when it is given.
Value slice(const Value& v, CallArgs& a) {
    const int64_t slices = toInt(arg(a, 0, "slices", Value()), "slice");
    if (slices <= 0)
        fail(slices == 0 ? "integer division or modulo by zero" : "slice count must be positive");
    if (slices > static_cast<int64_t>(kMaxRange))
        fail("slice: " + std::to_string(slices) + " slices are too many for a template");
    const Value fill = arg(a, 1, "fill_with", Value::none());
    const List items = iterate(v);
    const auto length = static_cast<int64_t>(items.size());
    const int64_t perSlice = length / slices, withExtra = length % slices;
    List out;
    int64_t start = 0;
    for (int64_t k = 0; k < slices; ++k) {
        const int64_t end = start + perSlice + (k < withExtra ? 1 : 0);
        List part(items.begin() + start, items.begin() + end);
        if (!fill.isNone() && k >= withExtra)
            part.push_back(fill);
        out.emplace_back(std::move(part));
        start = end;
    }
    return Value(std::move(out));
}

// groupby(attribute, default=None, case_sensitive=False): (grouper, items) tuples in grouper order;
// without case_sensitive strings group ignoring case and the grouper is the first item's own value.
Value groupby(const Value& v, CallArgs& a) {
    const Value attribute = arg(a, 0, "attribute", Value());
    if (!attribute.isString() && !attribute.isInt())
        fail("groupby needs an attribute name");
    const Value dflt = arg(a, 1, "default", Value::none());
    const bool caseSensitive = arg(a, 2, "case_sensitive", Value(false)).truthy();
    auto value = [&](const Value& item) {
        Value k = attributeOrItem(item, attribute.str());
        return k.isUndefined() && !dflt.isNone() ? dflt : k;
    };
    auto key = [&](const Value& item) {
        Value k = value(item);
        return !caseSensitive && k.isString() ? Value(pyLower(k.asString())) : k;
    };
    List items = iterate(v);
    for (const auto& item : items) // every key is computed, as Python's sorted does (one item included)
        key(item);
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
        const Value kx = key(x), ky = key(y);
        // Python's sorted() asks Jinja2's Undefined keys which is less, and it refuses to say.
        if (kx.isUndefined() && ky.isUndefined())
            fail("'" + kx.undefinedName() + "' is undefined");
        return lessThan(kx, ky);
    });
    List out;
    for (std::size_t i = 0; i < items.size();) {
        const Value k = key(items[i]);
        std::size_t j = i + 1;
        while (j < items.size() && key(items[j]).equals(k))
            ++j;
        List group(items.begin() + static_cast<std::ptrdiff_t>(i), items.begin() + static_cast<std::ptrdiff_t>(j));
        out.push_back(Value::tuple(List{caseSensitive ? k : value(group.front()), Value(std::move(group))}));
        i = j;
    }
    return Value(std::move(out));
}

// truncate(length=255, killwords=False, end='...', leeway=5): text longer than length + leeway cut to
// length characters with `end`, at a space unless killwords.
Value truncate(const Value& v, CallArgs& a) {
    const std::string s = v.str();
    const int64_t length = toInt(arg(a, 0, "length", Value(static_cast<int64_t>(255))), "truncate length");
    const bool killwords = arg(a, 1, "killwords", Value(false)).truthy();
    const std::string end = arg(a, 2, "end", Value("...")).str();
    const Value leewayV = arg(a, 3, "leeway", Value::none());
    const int64_t leeway = leewayV.isNone() ? 5 : toInt(leewayV, "truncate leeway");
    const auto endLength = static_cast<int64_t>(utf8::length(end));
    if (length < endLength)
        fail("truncate: expected length >= " + std::to_string(endLength) + ", got " + std::to_string(length));
    if (leeway < 0)
        fail("truncate: expected leeway >= 0, got " + std::to_string(leeway));
    // Jinja2 measures and cuts the value itself: a short list, dict or undefined value comes back as it
    // is, a long one cannot be cut as text; numbers and None have no length.
    if (!v.isString()) {
        if (!v.isList() && !v.isDict() && !v.isUndefined())
            fail("object of type '" + v.typeName() + "' has no len()");
        const std::size_t size = v.isList() ? v.asList().size() : v.isDict() ? v.asDict().size() : 0;
        if (static_cast<int64_t>(size) <= length + leeway)
            return v;
        if (v.isDict())
            fail("unhashable type: 'slice'");
        fail(killwords ? "can only concatenate " + v.typeName() + " (not \"str\") to " + v.typeName()
                       : "'" + v.typeName() + "' object has no attribute 'rsplit'");
    }
    const auto c = cps(s);
    if (static_cast<int64_t>(c.size()) <= length + leeway)
        return Value(s);
    std::string kept = utf8::fromCodePoints(std::vector<char32_t>(c.begin(), c.begin() + (length - endLength)));
    if (!killwords) {
        const std::size_t space = kept.rfind(' ');
        if (space != std::string::npos)
            kept.resize(space);
    }
    return Value(kept + end);
}

} // namespace

void addSliceFilters(FilterTable& table) {
    table["batch"] = batch;
    table["slice"] = slice;
    table["groupby"] = groupby;
    table["truncate"] = truncate;
}

} // namespace rslora::models::jinja::detail
