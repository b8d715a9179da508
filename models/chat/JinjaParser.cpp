// Tokens -> syntax tree (the tokens come from JinjaLexer). Expression precedence follows Jinja2's parser:
// or < and < not < comparisons/in < + - < ~ < * / // % < ** < unary -, with filters, tests,
// attributes, subscripts and calls binding tightest.
#include "models/chat/JinjaParser.h"

#include "common/Error.h"
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaLexer.h"

#include <cctype>
#include <cstdlib>

namespace rslora::models::jinja {

namespace {

class Parser {
public:
    explicit Parser(std::vector<Token> tokens) : m_t(std::move(tokens)) {}

    NodePtr parseAll() {
        std::string endTag;
        auto body = parseBody({}, endTag);
        if (!endTag.empty())
            syntaxError(m_t[m_i].line, "unexpected '" + endTag + "'");
        return body;
    }

private:
    const Token& peek(std::size_t k = 0) const { return m_t[std::min(m_i + k, m_t.size() - 1)]; }
    const Token& next() { return m_t[m_i < m_t.size() - 1 ? m_i++ : m_i]; }
    bool isOp(const char* op, std::size_t k = 0) const { return peek(k).type == Token::Type::Op && peek(k).text == op; }
    bool isName(const char* n, std::size_t k = 0) const { return peek(k).type == Token::Type::Name && peek(k).text == n; }
    void expectOp(const char* op) {
        if (!isOp(op))
            syntaxError(peek().line, std::string("expected '") + op + "', found " + describe(peek()));
        ++m_i;
    }
    void expectName(const char* n) {
        if (!isName(n))
            syntaxError(peek().line, std::string("expected '") + n + "', found " + describe(peek()));
        ++m_i;
    }
    std::string identifier() {
        if (peek().type != Token::Type::Name)
            syntaxError(peek().line, "expected a name, found " + describe(peek()));
        return next().text;
    }
    void expectStmtClose() {
        if (peek().type != Token::Type::StmtClose)
            syntaxError(peek().line, "expected end of statement %}, found " + describe(peek()));
        ++m_i;
    }
    static std::string describe(const Token& t) {
        switch (t.type) {
        case Token::Type::End: return "end of template";
        case Token::Type::ExprClose: return "'}}'";
        case Token::Type::StmtClose: return "'%}'";
        case Token::Type::Text: return "text";
        case Token::Type::String: return "string \"" + t.text + "\"";
        default: return "'" + t.text + "'";
        }
    }

    // Parses statements until one of `stops` appears as a statement keyword; that keyword is left in
    // `endTag` with the parser positioned right after it (before the rest of its tag).
    NodePtr parseBody(const std::vector<std::string>& stops, std::string& endTag) {
        Depth guard(*this);
        auto body = std::make_unique<Node>(Node::Kind::Body, peek().line);
        endTag.clear();
        while (true) {
            const Token& t = peek();
            if (t.type == Token::Type::End) {
                if (!stops.empty())
                    syntaxError(t.line, "missing '" + stops.back() + "' before the end of the template");
                return body;
            }
            if (t.type == Token::Type::Text) {
                auto n = std::make_unique<Node>(Node::Kind::Text, t.line);
                n->name = t.text;
                body->children.push_back(std::move(n));
                ++m_i;
                continue;
            }
            if (t.type == Token::Type::ExprOpen) {
                ++m_i;
                auto n = std::make_unique<Node>(Node::Kind::Output, t.line);
                n->children.push_back(parseExpression());
                if (peek().type != Token::Type::ExprClose)
                    syntaxError(peek().line, "expected '}}', found " + describe(peek()));
                ++m_i;
                body->children.push_back(std::move(n));
                continue;
            }
            if (t.type == Token::Type::StmtOpen) {
                const Token& kw = peek(1);
                if (kw.type == Token::Type::Name) {
                    for (const auto& s : stops)
                        if (kw.text == s) {
                            m_i += 2;
                            endTag = s;
                            return body;
                        }
                }
                ++m_i;
                body->children.push_back(parseStatement());
                continue;
            }
            syntaxError(t.line, "unexpected " + describe(t));
        }
    }

    NodePtr parseStatement() {
        const Token& kw = peek();
        if (kw.type != Token::Type::Name)
            syntaxError(kw.line, "expected a statement keyword, found " + describe(kw));
        const std::string k = kw.text;
        const int line = kw.line;
        ++m_i;
        if (k.compare(0, 3, "end") == 0 || k == "elif" || k == "else")
            syntaxError(line, "unexpected '" + k + "' without a matching opening statement");
        if (k == "if")
            return parseIf(line);
        if (k == "for")
            return parseFor(line);
        if (k == "set")
            return parseSet(line);
        if (k == "macro")
            return parseMacro(line);
        if (k == "call")
            return parseCallBlock(line);
        if (k == "break" || k == "continue") {
            expectStmtClose();
            return std::make_unique<Node>(k == "break" ? Node::Kind::Break : Node::Kind::Continue, line);
        }
        if (k == "generation") {
            expectStmtClose();
            auto n = std::make_unique<Node>(Node::Kind::Generation, line);
            std::string end;
            n->children.push_back(parseBody({"endgeneration"}, end));
            expectStmtClose();
            return n;
        }
        if (k == "filter") {
            auto n = std::make_unique<Node>(Node::Kind::FilterBlock, line);
            n->name = identifier();
            std::vector<NodePtr> args;
            std::vector<std::string> names;
            if (isOp("("))
                parseCallArgs(args, names);
            expectStmtClose();
            std::string end;
            n->children.push_back(parseBody({"endfilter"}, end));
            expectStmtClose();
            n->positionalCount = args.size() - names.size();
            for (auto& a : args)
                n->children.push_back(std::move(a));
            n->names = std::move(names);
            return n;
        }
        syntaxError(line, "unsupported statement '" + k +
                              "' (supported: if, for, set, macro, call, break, continue, generation, filter, raw)");
    }

    NodePtr parseIf(int line) {
        auto n = std::make_unique<Node>(Node::Kind::If, line);
        n->children.push_back(parseExpression());
        expectStmtClose();
        while (true) {
            std::string end;
            n->children.push_back(parseBody({"elif", "else", "endif"}, end));
            if (end == "elif") {
                n->children.push_back(parseExpression());
                expectStmtClose();
                continue;
            }
            if (end == "else") {
                expectStmtClose();
                std::string end2;
                n->children.push_back(parseBody({"endif"}, end2));
            }
            expectStmtClose();
            return n;
        }
    }

    NodePtr parseFor(int line) {
        auto n = std::make_unique<Node>(Node::Kind::For, line);
        const bool paren = isOp("(");
        if (paren)
            ++m_i;
        n->names.push_back(identifier());
        while (isOp(",")) {
            ++m_i;
            n->names.push_back(identifier());
        }
        if (paren)
            expectOp(")");
        expectName("in");
        NodePtr iterable = parseTernaryNoCondition();
        NodePtr filter;
        if (isName("if")) {
            ++m_i;
            filter = parseTernaryNoCondition();
        }
        if (isName("recursive"))
            syntaxError(peek().line, "recursive loops are not supported");
        expectStmtClose();
        std::string end;
        NodePtr body = parseBody({"else", "endfor"}, end);
        NodePtr elseBody;
        if (end == "else") {
            expectStmtClose();
            std::string end2;
            elseBody = parseBody({"endfor"}, end2);
        }
        expectStmtClose();
        n->children.push_back(std::move(iterable));
        n->children.push_back(std::move(body));
        n->children.push_back(std::move(elseBody));
        n->children.push_back(std::move(filter));
        return n;
    }

    NodePtr parseSet(int line) {
        std::string first = identifier();
        if (isOp(".")) {
            ++m_i;
            auto n = std::make_unique<Node>(Node::Kind::Set, line);
            n->isAttr = true;
            n->names = {first, identifier()};
            expectOp("=");
            n->children.push_back(parseExpression());
            expectStmtClose();
            return n;
        }
        std::vector<std::string> targets{first};
        while (isOp(",")) {
            ++m_i;
            targets.push_back(identifier());
        }
        if (isOp("=")) {
            ++m_i;
            auto n = std::make_unique<Node>(Node::Kind::Set, line);
            n->names = std::move(targets);
            n->children.push_back(parseExpression());
            expectStmtClose();
            return n;
        }
        if (targets.size() != 1)
            syntaxError(line, "a block set takes one name");
        auto n = std::make_unique<Node>(Node::Kind::SetBlock, line);
        n->name = first;
        expectStmtClose();
        std::string end;
        n->children.push_back(parseBody({"endset"}, end));
        expectStmtClose();
        return n;
    }

    NodePtr parseCallBlock(int line) {
        auto n = std::make_unique<Node>(Node::Kind::CallBlock, line);
        std::vector<NodePtr> defaults;
        if (isOp("("))
            parseParams(*n, defaults);
        n->children.push_back(parseExpression());
        if (n->children[0]->kind != Node::Kind::Call)
            syntaxError(line, "{% call %} expects a macro call, such as {% call wrap('b') %}");
        expectStmtClose();
        std::string end;
        n->children.push_back(parseBody({"endcall"}, end));
        expectStmtClose();
        for (auto& d : defaults)
            n->children.push_back(std::move(d));
        return n;
    }

    NodePtr parseMacro(int line) {
        auto n = std::make_unique<Node>(Node::Kind::Macro, line);
        n->name = identifier();
        std::vector<NodePtr> defaults;
        parseParams(*n, defaults);
        expectStmtClose();
        std::string end;
        n->children.push_back(parseBody({"endmacro"}, end));
        if (peek().type == Token::Type::Name && peek().text == n->name)
            ++m_i;
        expectStmtClose();
        for (auto& d : defaults)
            n->children.push_back(std::move(d));
        return n;
    }

    // "(a, b=1)": names into n.names, a default (or null) per name.
    void parseParams(Node& n, std::vector<NodePtr>& defaults) {
        expectOp("(");
        while (!isOp(")")) {
            n.names.push_back(identifier());
            if (isOp("=")) {
                ++m_i;
                defaults.push_back(parseExpression());
            } else {
                defaults.push_back(nullptr);
            }
            if (!isOp(","))
                break;
            ++m_i;
        }
        expectOp(")");
    }

    // ---- expressions ----

    NodePtr parseExpression() {
        Depth guard(*this);
        return parseTernary();
    }

    NodePtr parseTernary() {
        NodePtr expr = parseOr();
        while (isName("if")) {
            const int line = peek().line;
            ++m_i;
            NodePtr cond = parseOr();
            NodePtr otherwise;
            if (isName("else")) {
                ++m_i;
                otherwise = parseTernary();
            }
            auto n = std::make_unique<Node>(Node::Kind::Ternary, line);
            n->children.push_back(std::move(expr));
            n->children.push_back(std::move(cond));
            n->children.push_back(std::move(otherwise));
            expr = std::move(n);
        }
        return expr;
    }

    // The iterable of a for loop: "if" there starts the loop filter, not a conditional expression.
    NodePtr parseTernaryNoCondition() { return parseOr(); }

    NodePtr binary(const std::string& op, NodePtr a, NodePtr b, int line) {
        auto n = std::make_unique<Node>(Node::Kind::Binary, line);
        n->op = op;
        n->children.push_back(std::move(a));
        n->children.push_back(std::move(b));
        return n;
    }

    NodePtr parseOr() {
        NodePtr left = parseAnd();
        while (isName("or")) {
            const int line = next().line;
            left = binary("or", std::move(left), parseAnd(), line);
        }
        return left;
    }

    NodePtr parseAnd() {
        NodePtr left = parseNot();
        while (isName("and")) {
            const int line = next().line;
            left = binary("and", std::move(left), parseNot(), line);
        }
        return left;
    }

    NodePtr parseNot() {
        Depth guard(*this);
        if (isName("not")) {
            const int line = next().line;
            auto n = std::make_unique<Node>(Node::Kind::Unary, line);
            n->op = "not";
            n->children.push_back(parseNot());
            return n;
        }
        return parseCompare();
    }

    // `a < b < c` is Python's chained comparison: (a < b) and (b < c), b evaluated once.
    NodePtr parseCompare() {
        NodePtr first = parseMath1();
        std::vector<std::string> ops;
        std::vector<NodePtr> operands;
        int line = 0;
        while (true) {
            std::string op;
            if (ops.empty())
                line = peek().line;
            if (isOp("==") || isOp("!=") || isOp("<") || isOp(">") || isOp("<=") || isOp(">=")) {
                op = next().text;
            } else if (isName("in")) {
                ++m_i;
                op = "in";
            } else if (isName("not") && isName("in", 1)) {
                m_i += 2;
                op = "notin";
            } else {
                break;
            }
            ops.push_back(op);
            operands.push_back(parseMath1());
        }
        if (ops.empty())
            return first;
        if (ops.size() == 1)
            return binary(ops[0], std::move(first), std::move(operands[0]), line);
        auto n = std::make_unique<Node>(Node::Kind::Compare, line);
        n->names = std::move(ops);
        n->children.push_back(std::move(first));
        for (auto& o : operands)
            n->children.push_back(std::move(o));
        return n;
    }

    NodePtr parseMath1() {
        NodePtr left = parseConcat();
        while (isOp("+") || isOp("-")) {
            const Token& t = next();
            left = binary(t.text, std::move(left), parseConcat(), t.line);
        }
        return left;
    }

    NodePtr parseConcat() {
        NodePtr left = parseMath2();
        while (isOp("~")) {
            const int line = next().line;
            left = binary("~", std::move(left), parseMath2(), line);
        }
        return left;
    }

    NodePtr parseMath2() {
        NodePtr left = parsePow();
        while (isOp("*") || isOp("/") || isOp("//") || isOp("%")) {
            const Token& t = next();
            left = binary(t.text, std::move(left), parsePow(), t.line);
        }
        return left;
    }

    NodePtr parsePow() {
        NodePtr left = parseUnary(true);
        while (isOp("**")) {
            const int line = next().line;
            left = binary("**", std::move(left), parseUnary(true), line);
        }
        return left;
    }

    NodePtr parseUnary(bool withFilter) {
        Depth guard(*this);
        NodePtr node;
        if (isOp("-") || isOp("+")) {
            const Token& t = next();
            node = std::make_unique<Node>(Node::Kind::Unary, t.line);
            node->op = t.text;
            node->children.push_back(parseUnary(false));
        } else {
            node = parsePrimary();
        }
        node = parsePostfix(std::move(node));
        if (withFilter)
            node = parseFilterExpr(std::move(node));
        return node;
    }

    NodePtr parsePrimary() {
        const Token& t = peek();
        switch (t.type) {
        case Token::Type::Name: {
            ++m_i;
            if (t.text == "true" || t.text == "True")
                return literal(Value(true), t.line);
            if (t.text == "false" || t.text == "False")
                return literal(Value(false), t.line);
            if (t.text == "none" || t.text == "None")
                return literal(Value::none(), t.line);
            auto n = std::make_unique<Node>(Node::Kind::Name, t.line);
            n->name = t.text;
            return n;
        }
        case Token::Type::String: {
            std::string s;
            const int line = t.line;
            while (peek().type == Token::Type::String)
                s += next().text; // adjacent literals concatenate
            return literal(Value(std::move(s)), line);
        }
        case Token::Type::Int: {
            ++m_i;
            // Base 0 reads the 0b / 0o / 0x prefixes; plain digits are decimal ("007" included).
            const bool prefixed = t.text.size() > 1 && t.text[0] == '0' && std::isalpha(static_cast<unsigned char>(t.text[1]));
            const detail::PyInt v = detail::parsePyInt(t.text, prefixed ? 0 : 10);
            if (v.overflow)
                syntaxError(t.line, "integer literal " + t.text + " is beyond 64 bits (Python's big integers are not supported)");
            if (!v.valid)
                syntaxError(t.line, "invalid integer literal " + t.text);
            return literal(Value(v.value), t.line);
        }
        case Token::Type::Float: {
            ++m_i;
            // Python's float syntax, independent of the C locale's decimal separator.
            const auto v = detail::parsePyFloat(t.text);
            if (!v)
                syntaxError(t.line, "invalid float literal " + t.text);
            return literal(Value(*v), t.line);
        }
        case Token::Type::Op:
            if (t.text == "(") {
                ++m_i;
                if (isOp(")")) {
                    ++m_i;
                    return std::make_unique<Node>(Node::Kind::TupleLit, t.line);
                }
                NodePtr first = parseExpression();
                if (isOp(",")) {
                    auto tuple = std::make_unique<Node>(Node::Kind::TupleLit, t.line);
                    tuple->children.push_back(std::move(first));
                    while (isOp(",")) {
                        ++m_i;
                        if (isOp(")"))
                            break;
                        tuple->children.push_back(parseExpression());
                    }
                    expectOp(")");
                    return tuple;
                }
                expectOp(")");
                return first;
            }
            if (t.text == "[") {
                ++m_i;
                auto list = std::make_unique<Node>(Node::Kind::ListLit, t.line);
                while (!isOp("]")) {
                    list->children.push_back(parseExpression());
                    if (!isOp(","))
                        break;
                    ++m_i;
                }
                expectOp("]");
                return list;
            }
            if (t.text == "{") {
                ++m_i;
                auto dict = std::make_unique<Node>(Node::Kind::DictLit, t.line);
                while (!isOp("}")) {
                    dict->children.push_back(parseExpression());
                    expectOp(":");
                    dict->children.push_back(parseExpression());
                    if (!isOp(","))
                        break;
                    ++m_i;
                }
                expectOp("}");
                return dict;
            }
            break;
        default:
            break;
        }
        syntaxError(t.line, "unexpected " + describe(t) + " in expression");
    }

    NodePtr literal(Value v, int line) {
        auto n = std::make_unique<Node>(Node::Kind::Literal, line);
        n->value = std::move(v);
        return n;
    }

    void parseCallArgs(std::vector<NodePtr>& args, std::vector<std::string>& names) {
        expectOp("(");
        std::vector<NodePtr> keywordValues;
        while (!isOp(")")) {
            if (peek().type == Token::Type::Name && isOp("=", 1)) {
                names.push_back(next().text);
                ++m_i;
                keywordValues.push_back(parseExpression());
            } else {
                if (!names.empty())
                    syntaxError(peek().line, "positional argument after keyword argument");
                args.push_back(parseExpression());
            }
            if (!isOp(","))
                break;
            ++m_i;
        }
        expectOp(")");
        for (auto& k : keywordValues)
            args.push_back(std::move(k));
    }

    NodePtr parsePostfix(NodePtr node) {
        while (true) {
            if (isOp(".")) {
                const int line = next().line;
                auto n = std::make_unique<Node>(Node::Kind::Attr, line);
                if (peek().type == Token::Type::Int) {
                    // foo.0 is foo[0]
                    n->kind = Node::Kind::Index;
                    n->children.push_back(std::move(node));
                    n->children.push_back(literal(Value(static_cast<int64_t>(std::strtoll(next().text.c_str(), nullptr, 10))), line));
                } else {
                    n->name = identifier();
                    n->children.push_back(std::move(node));
                }
                node = std::move(n);
            } else if (isOp("[")) {
                const int line = next().line;
                NodePtr parts[3];
                int colons = 0;
                for (int k = 0; k < 3; ++k) {
                    if (!isOp(":") && !isOp("]"))
                        parts[k] = parseExpression();
                    if (isOp(":") && k < 2) {
                        ++m_i;
                        ++colons;
                        continue;
                    }
                    break;
                }
                expectOp("]");
                if (colons == 0) {
                    if (!parts[0])
                        syntaxError(line, "empty subscript");
                    auto n = std::make_unique<Node>(Node::Kind::Index, line);
                    n->children.push_back(std::move(node));
                    n->children.push_back(std::move(parts[0]));
                    node = std::move(n);
                } else {
                    auto n = std::make_unique<Node>(Node::Kind::Slice, line);
                    n->children.push_back(std::move(node));
                    for (auto& p : parts)
                        n->children.push_back(std::move(p));
                    node = std::move(n);
                }
            } else if (isOp("(")) {
                const int line = peek().line;
                auto n = std::make_unique<Node>(Node::Kind::Call, line);
                n->children.push_back(std::move(node));
                std::vector<NodePtr> args;
                parseCallArgs(args, n->names);
                n->positionalCount = args.size() - n->names.size();
                for (auto& a : args)
                    n->children.push_back(std::move(a));
                node = std::move(n);
            } else {
                return node;
            }
        }
    }

    NodePtr parseFilterExpr(NodePtr node) {
        while (true) {
            if (isOp("|")) {
                const int line = next().line;
                auto n = std::make_unique<Node>(Node::Kind::Filter, line);
                n->name = identifier();
                while (isOp(".")) { // dotted filter names are not used by chat templates
                    ++m_i;
                    n->name += "." + identifier();
                }
                n->children.push_back(std::move(node));
                if (isOp("(")) {
                    std::vector<NodePtr> args;
                    parseCallArgs(args, n->names);
                    n->positionalCount = args.size() - n->names.size();
                    for (auto& a : args)
                        n->children.push_back(std::move(a));
                }
                node = parsePostfix(std::move(n));
            } else if (isName("is")) {
                const int line = next().line;
                auto n = std::make_unique<Node>(Node::Kind::Test, line);
                if (isName("not")) {
                    ++m_i;
                    n->negated = true;
                }
                // Test names may be keywords: "is none", "is true", "is in".
                if (peek().type != Token::Type::Name && !(peek().type == Token::Type::Op &&
                                                           (isOp("==") || isOp("!=") || isOp("<") || isOp(">") ||
                                                            isOp("<=") || isOp(">="))))
                    syntaxError(peek().line, "expected a test name after 'is', found " + describe(peek()));
                n->name = next().text;
                n->children.push_back(std::move(node));
                if (isOp("(")) {
                    std::vector<NodePtr> args;
                    parseCallArgs(args, n->names);
                    n->positionalCount = args.size() - n->names.size();
                    for (auto& a : args)
                        n->children.push_back(std::move(a));
                } else if (startsExpression() ) {
                    // A single argument without parentheses: "is divisibleby 3", "is equalto 'x'".
                    n->children.push_back(parseUnary(false));
                    n->positionalCount = 1;
                }
                node = std::move(n);
            } else {
                return node;
            }
        }
    }

    bool startsExpression() const {
        const Token& t = peek();
        switch (t.type) {
        case Token::Type::String:
        case Token::Type::Int:
        case Token::Type::Float:
            return true;
        case Token::Type::Name:
            // Keywords that continue the surrounding expression are not arguments.
            return !(t.text == "and" || t.text == "or" || t.text == "if" || t.text == "else" || t.text == "in" ||
                     t.text == "not" || t.text == "is" || t.text == "recursive");
        case Token::Type::Op:
            return t.text == "[" || t.text == "{" || t.text == "-";
        default:
            return false;
        }
    }

    // Nesting guard: deeply nested input must be an error, not a stack overflow.
    struct Depth {
        Parser& p;
        explicit Depth(Parser& parser) : p(parser) {
            if (++p.m_depth > kMaxDepth)
                syntaxError(p.peek().line, "expressions or blocks nested more than " + std::to_string(kMaxDepth) + " deep");
        }
        ~Depth() { --p.m_depth; }
    };
    static constexpr int kMaxDepth = 200;

    std::vector<Token> m_t;
    std::size_t m_i = 0;
    int m_depth = 0;
};

} // namespace

NodePtr parseTemplate(const std::string& source) {
    Parser parser(lexTemplate(source));
    return parser.parseAll();
}

} // namespace rslora::models::jinja
