// The expression rules of TemplateParser. Precedence follows Jinja2's parser: or < and < not <
// comparisons/in < + - < ~ < * / // % < ** < unary -, with filters, tests, attributes, subscripts and
// calls binding tightest.
#include "models/chat/TemplateParser.h"

#include "common/Error.h"
#include "models/chat/JinjaHelpers.h"
#include "models/chat/JinjaIntegers.h"

#include <cctype>
#include <cstdlib>

namespace rslora::models::jinja {

NodePtr TemplateParser::parseExpression() {
    Depth guard(*this);
    return parseTernary();
}

NodePtr TemplateParser::parseTuple(bool withCondition) {
    Depth guard(*this);
    const int line = peek().line;
    NodePtr first = withCondition ? parseTernary() : parseTernaryNoCondition();
    if (!isOp(","))
        return first;
    auto tuple = std::make_unique<Node>(Node::Kind::TupleLit, line);
    tuple->children.push_back(std::move(first));
    while (isOp(",")) {
        ++m_i;
        const Token& t = peek();
        const bool ends = t.type == Token::Type::StmtClose || t.type == Token::Type::ExprClose || t.type == Token::Type::End ||
                          (!withCondition && (isName("if") || isName("recursive")));
        if (ends)
            break;
        tuple->children.push_back(withCondition ? parseTernary() : parseTernaryNoCondition());
    }
    return tuple;
}

NodePtr TemplateParser::parseTernary() {
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

NodePtr TemplateParser::binary(const std::string& op, NodePtr a, NodePtr b, int line) {
    auto n = std::make_unique<Node>(Node::Kind::Binary, line);
    n->op = op;
    n->children.push_back(std::move(a));
    n->children.push_back(std::move(b));
    return n;
}

NodePtr TemplateParser::parseOr() {
    NodePtr left = parseAnd();
    while (isName("or")) {
        const int line = next().line;
        left = binary("or", std::move(left), parseAnd(), line);
    }
    return left;
}

NodePtr TemplateParser::parseAnd() {
    NodePtr left = parseNot();
    while (isName("and")) {
        const int line = next().line;
        left = binary("and", std::move(left), parseNot(), line);
    }
    return left;
}

NodePtr TemplateParser::parseNot() {
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

NodePtr TemplateParser::parseCompare() {
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

NodePtr TemplateParser::parseMath1() {
    NodePtr left = parseConcat();
    while (isOp("+") || isOp("-")) {
        const Token& t = next();
        left = binary(t.text, std::move(left), parseConcat(), t.line);
    }
    return left;
}

NodePtr TemplateParser::parseConcat() {
    NodePtr left = parseMath2();
    while (isOp("~")) {
        const int line = next().line;
        left = binary("~", std::move(left), parseMath2(), line);
    }
    return left;
}

NodePtr TemplateParser::parseMath2() {
    NodePtr left = parsePow();
    while (isOp("*") || isOp("/") || isOp("//") || isOp("%")) {
        const Token& t = next();
        left = binary(t.text, std::move(left), parsePow(), t.line);
    }
    return left;
}

NodePtr TemplateParser::parsePow() {
    NodePtr left = parseUnary(true);
    while (isOp("**")) {
        const int line = next().line;
        left = binary("**", std::move(left), parseUnary(true), line);
    }
    return left;
}

NodePtr TemplateParser::parseUnary(bool withFilter) {
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

NodePtr TemplateParser::parsePrimary() {
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
            syntaxError(t.line, "integer literal " + t.text + " is beyond 64 bits " + detail::kIntegerRange);
        if (!v.valid)
            syntaxError(t.line, "invalid integer literal " + t.text);
        return literal(v.value, t.line);
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

NodePtr TemplateParser::literal(Value v, int line) {
    auto n = std::make_unique<Node>(Node::Kind::Literal, line);
    n->value = std::move(v);
    return n;
}

void TemplateParser::parseCallArgs(std::vector<NodePtr>& args, std::vector<std::string>& names) {
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

NodePtr TemplateParser::parsePostfix(NodePtr node) {
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
            // Jinja2's subscript: comma-separated items, each an expression or a slice; x[] and x[a, b]
            // look up a tuple key (which no list, string or JSON dict has: undefined).
            const int line = next().line;
            std::vector<NodePtr> items;
            NodePtr slice;
            while (!isOp("]")) {
                if (!items.empty() || slice)
                    expectOp(",");
                NodePtr parts[3];
                int colons = 0;
                for (int k = 0; k < 3; ++k) {
                    if (!isOp(":") && !isOp("]") && !isOp(","))
                        parts[k] = parseExpression();
                    if (isOp(":") && k < 2) {
                        ++m_i;
                        ++colons;
                        continue;
                    }
                    break;
                }
                if (colons == 0) {
                    if (!parts[0])
                        syntaxError(peek().line, "unexpected " + describe(peek()));
                    items.push_back(std::move(parts[0]));
                } else {
                    if (slice || !items.empty())
                        syntaxError(line, "a slice inside a tuple subscript is not supported");
                    slice = std::make_unique<Node>(Node::Kind::Slice, line);
                    slice->children.push_back(nullptr);
                    for (auto& p : parts)
                        slice->children.push_back(std::move(p));
                }
            }
            expectOp("]");
            if (slice) {
                if (!items.empty())
                    syntaxError(line, "a slice inside a tuple subscript is not supported");
                slice->children[0] = std::move(node);
                node = std::move(slice);
            } else {
                auto n = std::make_unique<Node>(Node::Kind::Index, line);
                n->children.push_back(std::move(node));
                if (items.size() == 1) {
                    n->children.push_back(std::move(items[0]));
                } else {
                    auto tuple = std::make_unique<Node>(Node::Kind::TupleLit, line);
                    tuple->children = std::move(items);
                    n->children.push_back(std::move(tuple));
                }
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

NodePtr TemplateParser::parseFilterExpr(NodePtr node) {
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
            if (peek().type != Token::Type::Name)
                syntaxError(peek().line, "expected a test name after 'is', found " + describe(peek()));
            n->name = next().text;
            n->children.push_back(std::move(node));
            if (isOp("(")) {
                std::vector<NodePtr> args;
                parseCallArgs(args, n->names);
                n->positionalCount = args.size() - n->names.size();
                for (auto& a : args)
                    n->children.push_back(std::move(a));
            } else if (startsExpression()) {
                // A single argument without parentheses, read as Jinja2 reads one: "is divisibleby 3",
                // "is equalto 'x'", "is in [1, 2]"; any name but else/or/and is taken as the argument.
                if (isName("is"))
                    syntaxError(peek().line, "You cannot chain multiple tests with is");
                n->children.push_back(parsePostfix(parsePrimary()));
                n->positionalCount = 1;
            }
            node = std::move(n);
        } else {
            return node;
        }
    }
}

bool TemplateParser::startsExpression() const {
    const Token& t = peek();
    switch (t.type) {
    case Token::Type::String:
    case Token::Type::Int:
    case Token::Type::Float:
        return true;
    case Token::Type::Name:
        // Only these keywords end a test; Jinja2 reads any other name (if, in, not, ...) as its argument.
        return !(t.text == "and" || t.text == "or" || t.text == "else");
    case Token::Type::Op:
        return t.text == "[" || t.text == "{";
    default:
        return false;
    }
}

} // namespace rslora::models::jinja
