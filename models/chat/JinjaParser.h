// Lexer and parser of the Jinja subset used by chat templates, with the whitespace rules transformers
// renders with (trim_blocks, lstrip_blocks, "-" and "+" markers, trailing newline dropped).
#pragma once

#include "models/chat/JinjaAst.h"

#include <string>

namespace rslora::models::jinja {

// Parses a whole template into a Body node. Throws rslora::Error "template line N: ..." on syntax
// errors and on constructs outside the supported subset.
NodePtr parseTemplate(const std::string& source);

} // namespace rslora::models::jinja
