// The recursive-descent parser of chat templates behind parseTemplate (JinjaParser.h): one class whose
// statement rules are in JinjaParser.cpp and whose expression rules are in JinjaExpressionParser.cpp.
#pragma once

#include "models/chat/JinjaAst.h"
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaLexer.h"

#include <algorithm>
#include <string>
#include <vector>

namespace rslora::models::jinja {

class TemplateParser {
public:
    explicit TemplateParser(std::vector<Token> tokens) : m_t(std::move(tokens)) {}
    NodePtr parseAll();

private:
    const Token& peek(std::size_t k = 0) const { return m_t[std::min(m_i + k, m_t.size() - 1)]; }
    const Token& next() { return m_t[m_i < m_t.size() - 1 ? m_i++ : m_i]; }
    bool isOp(const char* op, std::size_t k = 0) const { return peek(k).type == Token::Type::Op && peek(k).text == op; }
    bool isName(const char* n, std::size_t k = 0) const { return peek(k).type == Token::Type::Name && peek(k).text == n; }
    void expectOp(const char* op);
    void expectName(const char* n);
    std::string identifier();
    void expectStmtClose();
    static std::string describe(const Token& t);

    // ---- statement rules (JinjaParser.cpp) ----
    // Parses statements until one of `stops` appears as a statement keyword; that keyword is left in
    // `endTag` with the parser positioned right after it (before the rest of its tag).
    NodePtr parseBody(const std::vector<std::string>& stops, std::string& endTag);
    // parseBody for the body of a macro, call block or generation block: loops around it do not count.
    NodePtr parseFunctionBody(const std::vector<std::string>& stops, std::string& endTag);
    NodePtr parseStatement();
    NodePtr parseIf(int line);
    NodePtr parseFor(int line);
    NodePtr parseSet(int line);
    NodePtr parseCallBlock(int line);
    NodePtr parseMacro(int line);

    // "(a, b=1)": names into n.names, a default (or null) per name.
    void parseParams(Node& n, std::vector<NodePtr>& defaults);

    // ---- expression rules (JinjaExpressionParser.cpp) ----
    NodePtr parseExpression();
    // Jinja2's parse_tuple: `a, b` (or `a,`) is a tuple where a whole expression stands ({{ }}, the
    // value of set, the iterable of for); without `withCondition`, `if` ends the expression (a loop filter).
    NodePtr parseTuple(bool withCondition);
    NodePtr parseTernary();

    // The iterable of a for loop: "if" there starts the loop filter, not a conditional expression.
    NodePtr parseTernaryNoCondition() { return parseOr(); }
    NodePtr binary(const std::string& op, NodePtr a, NodePtr b, int line);
    NodePtr parseOr();
    NodePtr parseAnd();
    NodePtr parseNot();

    // `a < b < c` is Python's chained comparison: (a < b) and (b < c), b evaluated once.
    NodePtr parseCompare();
    NodePtr parseMath1();
    NodePtr parseConcat();
    NodePtr parseMath2();
    NodePtr parsePow();
    NodePtr parseUnary(bool withFilter);
    NodePtr parsePrimary();
    NodePtr literal(Value v, int line);
    void parseCallArgs(std::vector<NodePtr>& args, std::vector<std::string>& names);
    NodePtr parsePostfix(NodePtr node);
    NodePtr parseFilterExpr(NodePtr node);
    // Whether a test's argument without parentheses starts here ("is divisibleby 3").
    bool startsExpression() const;

    // Nesting guard: deeply nested input must be an error, not a stack overflow.
    struct Depth {
        TemplateParser& p;
        explicit Depth(TemplateParser& parser) : p(parser) {
            if (++p.m_depth > kMaxDepth)
                syntaxError(p.peek().line, "expressions or blocks nested more than " + std::to_string(kMaxDepth) + " deep");
        }
        ~Depth() { --p.m_depth; }
    };
    static constexpr int kMaxDepth = 200;

    std::vector<Token> m_t;
    std::size_t m_i = 0;
    int m_depth = 0;
    // for-loop bodies around the statement being parsed, within the innermost macro, call block or
    // generation block (their bodies run as functions in Jinja2: break/continue there is an error).
    int m_loops = 0;
};

} // namespace rslora::models::jinja
