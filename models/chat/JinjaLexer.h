// Tokens of a chat template: text runs with transformers' whitespace rules applied (trim_blocks,
// lstrip_blocks, "-" and "+" markers, trailing newline dropped), and the names, literals and
// operators inside {{ }} and {% %}.
#pragma once

#include <string>
#include <vector>

namespace rslora::models::jinja {

struct Token {
    enum class Type { Text, ExprOpen, ExprClose, StmtOpen, StmtClose, Name, String, Int, Float, Op, End };
    Type type;
    std::string text;
    int line;
};

// Throws rslora::Error "chat template line N: message".
[[noreturn]] void syntaxError(int line, const std::string& message);

// The whole template as tokens, ending with an End token. Throws like syntaxError.
std::vector<Token> lexTemplate(const std::string& source);

} // namespace rslora::models::jinja
