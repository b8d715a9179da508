// Tokens -> syntax tree (the tokens come from JinjaLexer): parseTemplate, TemplateParser's token helpers
// and its statement rules (if, for, set, macro, call blocks); the expression rules are in
// JinjaExpressionParser.cpp.
#include "models/chat/JinjaParser.h"

#include "common/Error.h"
#include "models/chat/JinjaHelpers.h"
#include "models/chat/TemplateParser.h"

namespace rslora::models::jinja {

NodePtr TemplateParser::parseAll() {
    std::string endTag;
    auto body = parseBody({}, endTag);
    if (!endTag.empty())
        syntaxError(m_t[m_i].line, "unexpected '" + endTag + "'");
    return body;
}

void TemplateParser::expectOp(const char* op) {
    if (!isOp(op))
        syntaxError(peek().line, std::string("expected '") + op + "', found " + describe(peek()));
    ++m_i;
}

void TemplateParser::expectName(const char* n) {
    if (!isName(n))
        syntaxError(peek().line, std::string("expected '") + n + "', found " + describe(peek()));
    ++m_i;
}

std::string TemplateParser::identifier() {
    if (peek().type != Token::Type::Name)
        syntaxError(peek().line, "expected a name, found " + describe(peek()));
    return next().text;
}

void TemplateParser::expectStmtClose() {
    if (peek().type != Token::Type::StmtClose)
        syntaxError(peek().line, "expected end of statement %}, found " + describe(peek()));
    ++m_i;
}

std::string TemplateParser::describe(const Token& t) {
    switch (t.type) {
    case Token::Type::End: return "end of template";
    case Token::Type::ExprClose: return "'}}'";
    case Token::Type::StmtClose: return "'%}'";
    case Token::Type::Text: return "text";
    case Token::Type::String: return "string \"" + t.text + "\"";
    default: return "'" + t.text + "'";
    }
}

NodePtr TemplateParser::parseBody(const std::vector<std::string>& stops, std::string& endTag) {
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
            n->children.push_back(parseTuple(true));
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

NodePtr TemplateParser::parseFunctionBody(const std::vector<std::string>& stops, std::string& endTag) {
    const int loops = m_loops;
    m_loops = 0;
    NodePtr body = parseBody(stops, endTag);
    m_loops = loops;
    return body;
}

NodePtr TemplateParser::parseStatement() {
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
        // Jinja2 compiles the template to Python, which refuses a break or continue outside a loop.
        if (m_loops == 0)
            syntaxError(line, "'" + k + "' outside a for loop");
        return std::make_unique<Node>(k == "break" ? Node::Kind::Break : Node::Kind::Continue, line);
    }
    if (k == "generation") {
        expectStmtClose();
        auto n = std::make_unique<Node>(Node::Kind::Generation, line);
        std::string end;
        n->children.push_back(parseFunctionBody({"endgeneration"}, end));
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

NodePtr TemplateParser::parseIf(int line) {
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

NodePtr TemplateParser::parseFor(int line) {
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
    NodePtr iterable = parseTuple(false);
    NodePtr filter;
    if (isName("if")) {
        ++m_i;
        filter = parseTernaryNoCondition();
    }
    if (isName("recursive")) {
        ++m_i;
        n->recursive = true;
    }
    expectStmtClose();
    std::string end;
    ++m_loops;
    NodePtr body = parseBody({"else", "endfor"}, end);
    --m_loops;
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

NodePtr TemplateParser::parseSet(int line) {
    std::string first = identifier();
    if (isOp(".")) {
        ++m_i;
        auto n = std::make_unique<Node>(Node::Kind::Set, line);
        n->isAttr = true;
        n->names = {first, identifier()};
        expectOp("=");
        n->children.push_back(parseTuple(true));
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
        n->children.push_back(parseTuple(true));
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

NodePtr TemplateParser::parseCallBlock(int line) {
    auto n = std::make_unique<Node>(Node::Kind::CallBlock, line);
    std::vector<NodePtr> defaults;
    if (isOp("("))
        parseParams(*n, defaults);
    n->children.push_back(parseExpression());
    if (n->children[0]->kind != Node::Kind::Call)
        syntaxError(line, "{% call %} expects a macro call, such as {% call wrap('b') %}");
    expectStmtClose();
    std::string end;
    n->children.push_back(parseFunctionBody({"endcall"}, end));
    expectStmtClose();
    for (auto& d : defaults)
        n->children.push_back(std::move(d));
    return n;
}

NodePtr TemplateParser::parseMacro(int line) {
    auto n = std::make_unique<Node>(Node::Kind::Macro, line);
    n->name = identifier();
    std::vector<NodePtr> defaults;
    parseParams(*n, defaults);
    expectStmtClose();
    std::string end;
    n->children.push_back(parseFunctionBody({"endmacro"}, end));
    if (peek().type == Token::Type::Name && peek().text == n->name)
        ++m_i;
    expectStmtClose();
    for (auto& d : defaults)
        n->children.push_back(std::move(d));
    return n;
}

void TemplateParser::parseParams(Node& n, std::vector<NodePtr>& defaults) {
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

NodePtr parseTemplate(const std::string& source) {
    TemplateParser parser(lexTemplate(source));
    return parser.parseAll();
}

} // namespace rslora::models::jinja
