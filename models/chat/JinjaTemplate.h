// A compiled chat template: the Jinja subset that Hugging Face chat templates use, rendered the way
// transformers renders them (jinja2 sandbox with trim_blocks and lstrip_blocks, loop controls,
// raise_exception, strftime_now, tojson without ASCII escaping, {% generation %} marks).
//
// Supported: {{ }}, {% if/elif/else %}, {% for a[, b] in x [if c] [recursive] %} with loop.*, loop(items) and else,
// {% set x = ... %}, {% set ns.attr = ... %}, {% set x %}...{% endset %}, {% macro %} and calls,
// {% break %}/{% continue %}, {% filter %}, {% raw %}, {% generation %}, comments, whitespace control
// (-, +), literals (str, int, float, bool, none, list, dict, tuple), arithmetic, ~, comparisons,
// in/not in, and/or/not, a if c else b, attributes, subscripts and slices (messages[1:], [::-1]),
// filters (see JinjaBuiltins.cpp: trim, tojson, length, join, map, select/reject(attr), items,
// default, first/last, upper/lower, replace, list, string, int, float, indent, ...), tests (defined,
// none, string, mapping, iterable, equalto, ...), str methods (startswith, endswith, split, strip,
// lstrip, rstrip, replace, upper, lower, title, find, ...), dict methods (items, keys, values, get),
// globals namespace(), range(), dict(), raise_exception(), strftime_now().
// {% call %} blocks with caller(). Not supported: include/import/extends.
#pragma once

#include "common/Error.h"
#include "models/chat/JinjaAst.h"

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rslora::models::jinja {

// raise_exception("...") called by the template; what() is the template's own message.
class TemplateException : public Error {
public:
    explicit TemplateException(const std::string& message) : Error(message) {}
};

struct RenderResult {
    std::string text;
    // Byte ranges of the text produced inside {% generation %} ... {% endgeneration %}.
    std::vector<std::pair<std::size_t, std::size_t>> generationSpans;
};

struct RenderLimits {
    std::size_t maxOutputBytes = 64u << 20;
    std::size_t maxLoopIterations = 10'000'000;
    int maxCallDepth = 200;
    std::size_t maxSteps = 50'000'000; // statements executed and macro calls, all together
};

class Template {
public:
    // Parses `source`; throws rslora::Error with the line on syntax errors.
    explicit Template(const std::string& source);
    // Renders with the variables of `context` (a JSON object). Throws TemplateException for
    // raise_exception() and rslora::Error for evaluation errors ("template line N: ...").
    RenderResult render(const nlohmann::ordered_json& context, const RenderLimits& limits = {}) const;
    RenderResult render(const Dict& context, const RenderLimits& limits = {}) const;

private:
    std::shared_ptr<const Node> m_root;
};

} // namespace rslora::models::jinja
