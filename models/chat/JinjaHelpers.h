// Helpers shared by the chat-template interpreter's operators, methods and filters (internal to
// models/chat): Python string semantics (strip, split, replace, title, str.format, indent),
// ordering, argument access and errors.
#pragma once

#include "models/chat/JinjaBuiltins.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rslora::models::jinja::detail {

inline constexpr std::size_t kMaxRange = 1'000'000;

using FilterFn = std::function<Value(const Value&, CallArgs&)>;
using FilterTable = std::unordered_map<std::string, FilterFn>;
// The filters that cut a value into parts: batch, slice, groupby, truncate (JinjaSliceFilters.cpp).
void addSliceFilters(FilterTable& table);
// The filters that rework text: wordwrap, urlencode (JinjaTextFilters.cpp).
void addTextFilters(FilterTable& table);
inline constexpr std::size_t kMaxRepeatBytes = 16u << 20;

[[noreturn]] void fail(const std::string& message);
Value makeList(List l);
std::vector<char32_t> cps(const std::string& s);
bool isPySpace(char32_t c);
// str.splitlines(): \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029 end a line; a final line
// break adds no empty line.
std::vector<std::vector<char32_t>> splitLines(const std::vector<char32_t>& s);
// Argument `index` (or keyword `name`) of a call; a copy: callers often pass a temporary fallback.
Value arg(CallArgs& a, std::size_t index, const char* name, const Value& fallback);
int64_t toInt(const Value& v, const char* what);
// A float truncated to an integer as Python's int() does, when it fits in 64 bits (not NaN or ±inf).
std::optional<int64_t> truncatedInt(double d);
// Python's int(text, base): `valid` when Python accepts the text, `overflow` when its value is
// beyond the interpreter's integers (-2^63 to 2^64 - 1); `value` an int or, above INT64_MAX, a LargeUnsigned.
struct PyInt {
    bool valid = false;
    bool overflow = false;
    Value value;
};
PyInt parsePyInt(const std::string& text, int64_t base);
// Python's float(text) (inf, nan, underscores between digits; no hexadecimal); nullopt when invalid.
std::optional<double> parsePyFloat(const std::string& text);
// int(d) for a float: nullopt for NaN; an error naming `what` for ±inf or a value beyond the
// interpreter's integers (-2^63 to 2^64 - 1).
std::optional<Value> floatToPyInt(double d, const char* what);
std::string stripChars(const std::string& s, const Value& chars, bool left, bool right);
List splitString(const std::string& s, const Value& sep, int64_t maxsplit, bool fromRight);
std::string replaceAll(const std::string& s, const std::string& from, const std::string& to, int64_t count);
std::string capitalize(const std::string& s);
// Python's round(x, ndigits): half to even on the exact binary value; an int stays an int.
Value pyRound(const Value& v, int64_t ndigits);
// str.lower(): full case mapping, with Σ becoming ς at the end of a word (Python's final-sigma rule).
std::string pyLower(const std::string& s);
// str.title(): a cased letter after an uncased character starts a word.
std::string pyTitle(const std::string& s);
std::string pySwapcase(const std::string& s);
// str.isupper() / str.islower(): some cased character, and none of the other case (nor titlecase).
bool pyIsUpper(const std::string& s);
// str.istitle(): some cased character; uppercase and titlecase ones only after uncased ones, lowercase
// ones only after cased ones.
bool pyIsTitle(const std::string& s);
bool pyIsLower(const std::string& s);
// Jinja's title filter: words start after whitespace or one of - ( { [ <.
std::string jinjaTitle(const std::string& s);
bool lessThan(const Value& a, const Value& b);
// Python's hash() requirement: lists, dicts and namespaces (also inside a tuple) are unhashable.
void requireHashable(const Value& v);
std::string htmlEscape(const std::string& s);
// str.format (JinjaFormat.cpp): {} / {0} / {name} fields with .attr and [key] accessors, !r !s !a
// conversions and Python's format-spec mini-language (nested {} fields in the spec included).
std::string pyFormat(const std::string& fmt, CallArgs& args);
// "a.b" attribute paths as used by map(attribute=...), sort(attribute=...).
Value attributeOrItem(const Value& v, const std::string& path);
// str.ljust / rjust / center (`align` '<', '>', '^') of `s` to `width` characters with the one-character
// `fill`: for center the extra character goes right, unless the margin and width are both odd.
std::string justify(const std::string& s, const Value& width, const Value& fill, char align, const char* what);
std::string indentText(const std::string& s, const Value& width, bool first, bool blank);
// str / dict / list methods bound to `self` (obj.name when obj has no such key); undefined when unknown.
Value boundMethod(const Value& self, const std::string& name);

} // namespace rslora::models::jinja::detail
