// Operators, filters, tests, methods and globals of the chat-template interpreter, with Python /
// Jinja2 semantics. Errors are thrown as EvalError; the interpreter adds the template line.
#pragma once

#include "models/chat/JinjaValue.h"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rslora::models::jinja {

struct EvalError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Elements a for loop visits: list items, dict keys, string characters; undefined -> none.
std::vector<Value> iterate(const Value& v);

Value binaryOp(const std::string& op, const Value& a, const Value& b);
Value unaryMinus(const Value& v);

// obj.name: dict methods and keys, str methods; missing -> undefined. Undefined obj -> EvalError.
Value getAttribute(const Value& obj, const std::string& name);
// obj[key]: list index (negative allowed), dict key, string character; missing -> undefined.
Value getItem(const Value& obj, const Value& key);
Value sliceValue(const Value& obj, const Value& start, const Value& stop, const Value& step);

bool hasFilter(const std::string& name);
Value applyFilter(const std::string& name, const Value& input, CallArgs& args);
bool hasTest(const std::string& name);
bool applyTest(const std::string& name, const Value& input, CallArgs& args);

// Built-in global functions: namespace, range, dict, raise_exception, strftime_now.
void addGlobals(Dict& globals);

// Python's `fmt % args` (JinjaFormat.cpp): a tuple holds the arguments, a dict serves %(key)s;
// flags, width, precision and the conversions s r a c d i u o x X e E f F g G %.
std::string percentFormat(const std::string& fmt, const Value& args);

} // namespace rslora::models::jinja
