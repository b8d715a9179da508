// Template source -> tokens (see JinjaLexer.h).
#include "models/chat/JinjaLexer.h"

#include "common/Error.h"

#include <cctype>
#include <cstdlib>

namespace rslora::models::jinja {

[[noreturn]] void syntaxError(int line, const std::string& message) {
    throw Error("chat template line " + std::to_string(line) + ": " + message);
}

namespace {

bool isSpaceNoNewline(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool isSpace(char c) { return isSpaceNoNewline(c) || c == '\n'; }

class Lexer {
public:
    explicit Lexer(const std::string& src) : m_src(normalizeNewlines(src)) {
        // keep_trailing_newline=False: one trailing newline of the source is dropped.
        if (!m_src.empty() && m_src.back() == '\n')
            m_src.pop_back();
    }

    std::vector<Token> run() {
        bool lineStarting = true;
        while (m_pos < m_src.size()) {
            const std::size_t open = findOpen(m_pos);
            std::string text = m_src.substr(m_pos, (open == std::string::npos ? m_src.size() : open) - m_pos);
            const int textLine = m_line;
            countLines(text);
            if (open == std::string::npos) {
                pushText(text, textLine, false, false, false, lineStarting);
                m_pos = m_src.size();
                break;
            }
            const char kind = m_src[open + 1]; // '{', '%', '#'
            std::size_t p = open + 2;
            char marker = 0;
            if (p < m_src.size() && (m_src[p] == '-' || m_src[p] == '+')) {
                marker = m_src[p];
                ++p;
            }
            const bool isBlock = kind == '%' || kind == '#';
            pushText(text, textLine, marker == '-', isBlock && marker != '+' , isBlock, lineStarting);
            m_pos = p;
            char closeMarker = 0;
            if (kind == '#') {
                const std::size_t close = m_src.find("#}", m_pos);
                if (close == std::string::npos)
                    syntaxError(m_line, "comment is not closed with #}");
                if (close > m_pos && (m_src[close - 1] == '-' || m_src[close - 1] == '+'))
                    closeMarker = m_src[close - 1];
                countLines(m_src.substr(m_pos, close - m_pos));
                m_pos = close + 2;
            } else if (kind == '%' && isRawBlock()) {
                lexRaw(closeMarker);
                lineStarting = false;
                afterTag(closeMarker, true, lineStarting);
                continue;
            } else {
                m_tokens.push_back({kind == '{' ? Token::Type::ExprOpen : Token::Type::StmtOpen, "", m_line});
                closeMarker = lexInside(kind == '{' ? '}' : '%');
                m_tokens.push_back({kind == '{' ? Token::Type::ExprClose : Token::Type::StmtClose, "", m_line});
            }
            afterTag(closeMarker, isBlock, lineStarting);
        }
        m_tokens.push_back({Token::Type::End, "", m_line});
        return std::move(m_tokens);
    }

private:
    // Jinja2's lexer joins the source's lines with "\n" first: \r\n and lone \r become \n everywhere,
    // so trim_blocks and the trailing-newline rule see Windows line endings as Python does.
    static std::string normalizeNewlines(const std::string& src) {
        std::string out;
        out.reserve(src.size());
        for (std::size_t i = 0; i < src.size(); ++i) {
            if (src[i] != '\r') {
                out += src[i];
                continue;
            }
            out += '\n';
            if (i + 1 < src.size() && src[i + 1] == '\n')
                ++i;
        }
        return out;
    }

    std::size_t findOpen(std::size_t from) const {
        for (std::size_t i = from; i + 1 < m_src.size(); ++i)
            if (m_src[i] == '{' && (m_src[i + 1] == '{' || m_src[i + 1] == '%' || m_src[i + 1] == '#'))
                return i;
        return std::string::npos;
    }

    void countLines(const std::string& s) {
        for (char c : s)
            if (c == '\n')
                ++m_line;
    }

    // Text before a tag: "-" strips all trailing whitespace; lstrip_blocks strips the indentation
    // of a block tag that starts its line.
    void pushText(std::string text, int line, bool stripRight, bool lstripBlock, bool isBlock, bool lineStarting) {
        if (m_stripNextLeft) {
            std::size_t k = 0;
            while (k < text.size() && isSpace(text[k]))
                ++k;
            text.erase(0, k);
            m_stripNextLeft = false;
        }
        if (stripRight) {
            std::size_t k = text.size();
            while (k > 0 && isSpace(text[k - 1]))
                --k;
            text.erase(k);
        } else if (lstripBlock && isBlock) {
            const std::size_t nl = text.rfind('\n');
            const std::size_t lineStart = nl == std::string::npos ? 0 : nl + 1;
            if (nl != std::string::npos || lineStarting) {
                bool onlySpace = true;
                for (std::size_t k = lineStart; k < text.size() && onlySpace; ++k)
                    onlySpace = isSpaceNoNewline(text[k]);
                if (onlySpace)
                    text.erase(lineStart);
            }
        }
        if (!text.empty())
            m_tokens.push_back({Token::Type::Text, std::move(text), line});
    }

    // After a tag: "-" strips all following whitespace; trim_blocks removes one newline after a block tag.
    void afterTag(char closeMarker, bool isBlock, bool& lineStarting) {
        lineStarting = false;
        if (closeMarker == '-') {
            m_stripNextLeft = true;
            return;
        }
        if (isBlock && closeMarker != '+' && m_pos < m_src.size() && m_src[m_pos] == '\n') {
            ++m_pos;
            ++m_line;
            lineStarting = true;
        }
    }

    bool isRawBlock() const {
        std::size_t p = m_pos;
        while (p < m_src.size() && isSpace(m_src[p]))
            ++p;
        if (m_src.compare(p, 3, "raw") != 0)
            return false;
        p += 3;
        return p < m_src.size() && (isSpace(m_src[p]) || m_src[p] == '%' || m_src[p] == '-');
    }

    void lexRaw(char& closeMarker) {
        std::size_t close = m_src.find("%}", m_pos);
        if (close == std::string::npos)
            syntaxError(m_line, "raw block tag is not closed");
        std::size_t bodyStart = close + 2;
        // {% raw -%}: the body's leading whitespace goes.
        if (close > m_pos && m_src[close - 1] == '-')
            while (bodyStart < m_src.size() && isSpace(m_src[bodyStart]))
                ++bodyStart;
        // Find {% endraw %} (with optional whitespace markers).
        std::size_t search = bodyStart;
        while (true) {
            const std::size_t open = m_src.find("{%", search);
            if (open == std::string::npos)
                syntaxError(m_line, "raw block has no {% endraw %}");
            std::size_t p = open + 2;
            bool stripBefore = false;
            if (p < m_src.size() && (m_src[p] == '-' || m_src[p] == '+')) {
                stripBefore = m_src[p] == '-';
                ++p;
            }
            while (p < m_src.size() && isSpace(m_src[p]))
                ++p;
            if (m_src.compare(p, 6, "endraw") == 0) {
                p += 6;
                while (p < m_src.size() && isSpace(m_src[p]))
                    ++p;
                if (p < m_src.size() && (m_src[p] == '-' || m_src[p] == '+'))
                    closeMarker = m_src[p++];
                if (m_src.compare(p, 2, "%}") != 0)
                    syntaxError(m_line, "malformed endraw tag");
                std::string body = m_src.substr(bodyStart, open - bodyStart);
                if (stripBefore)
                    while (!body.empty() && isSpace(body.back()))
                        body.pop_back();
                const int line = m_line;
                countLines(m_src.substr(m_pos, p + 2 - m_pos));
                if (!body.empty())
                    m_tokens.push_back({Token::Type::Text, std::move(body), line});
                m_pos = p + 2;
                return;
            }
            search = open + 2;
        }
    }

    // Tokenizes an expression or statement until its closing "}}" / "%}". Returns the close marker.
    char lexInside(char closer) {
        int depth = 0;
        while (true) {
            if (m_pos >= m_src.size())
                syntaxError(m_line, std::string("tag is not closed with ") + (closer == '}' ? "}}" : "%}"));
            const char c = m_src[m_pos];
            if (c == '\n') {
                ++m_line;
                ++m_pos;
                continue;
            }
            if (isSpace(c)) {
                ++m_pos;
                continue;
            }
            // Closing tag, possibly with a whitespace marker.
            if (depth == 0) {
                if ((c == '-' || c == '+') && m_src.compare(m_pos + 1, 1, std::string(1, closer)) == 0 &&
                    m_pos + 2 < m_src.size() && m_src[m_pos + 2] == '}') {
                    m_pos += 3;
                    return c;
                }
                if (c == closer && m_pos + 1 < m_src.size() && m_src[m_pos + 1] == '}') {
                    m_pos += 2;
                    return 0;
                }
            }
            if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
                std::size_t e = m_pos;
                while (e < m_src.size() && (std::isalnum(static_cast<unsigned char>(m_src[e])) || m_src[e] == '_'))
                    ++e;
                m_tokens.push_back({Token::Type::Name, m_src.substr(m_pos, e - m_pos), m_line});
                m_pos = e;
                continue;
            }
            if (std::isdigit(static_cast<unsigned char>(c))) {
                lexNumber();
                continue;
            }
            if (c == '\'' || c == '"') {
                lexString(c);
                continue;
            }
            static const char* twoChar[] = {"==", "!=", "<=", ">=", "//", "**"};
            bool matched = false;
            for (const char* op : twoChar)
                if (m_src.compare(m_pos, 2, op) == 0) {
                    m_tokens.push_back({Token::Type::Op, op, m_line});
                    m_pos += 2;
                    matched = true;
                    break;
                }
            if (matched)
                continue;
            static const std::string single = "+-*/%<>=()[]{},.:|~!";
            if (single.find(c) == std::string::npos)
                syntaxError(m_line, std::string("unexpected character '") + c + "'");
            if (c == '(' || c == '[' || c == '{')
                ++depth;
            else if ((c == ')' || c == ']' || c == '}') && depth > 0)
                --depth;
            m_tokens.push_back({Token::Type::Op, std::string(1, c), m_line});
            ++m_pos;
        }
    }

    void lexNumber() {
        std::size_t e = m_pos;
        // Jinja2's 0b / 0o / 0x integer literals, with underscores between digits.
        if (m_src[e] == '0' && e + 2 < m_src.size()) {
            const char p = static_cast<char>(std::tolower(static_cast<unsigned char>(m_src[e + 1])));
            auto isDigit = [p](char c) {
                return p == 'b' ? (c == '0' || c == '1') : p == 'o' ? (c >= '0' && c <= '7') : std::isxdigit(static_cast<unsigned char>(c)) != 0;
            };
            std::size_t k = e + 2;
            bool any = false;
            if (p == 'b' || p == 'o' || p == 'x') {
                while (k < m_src.size()) {
                    if (m_src[k] == '_' && k + 1 < m_src.size() && isDigit(m_src[k + 1]))
                        ++k;
                    else if (!isDigit(m_src[k]))
                        break;
                    any = true;
                    ++k;
                }
            }
            if (any) {
                std::string text;
                for (std::size_t i = m_pos; i < k; ++i)
                    if (m_src[i] != '_')
                        text += m_src[i];
                m_tokens.push_back({Token::Type::Int, text, m_line});
                m_pos = k;
                return;
            }
        }
        bool isFloat = false;
        while (e < m_src.size() && (std::isdigit(static_cast<unsigned char>(m_src[e])) || m_src[e] == '_'))
            ++e;
        if (e + 1 < m_src.size() && m_src[e] == '.' && std::isdigit(static_cast<unsigned char>(m_src[e + 1]))) {
            isFloat = true;
            ++e;
            while (e < m_src.size() && (std::isdigit(static_cast<unsigned char>(m_src[e])) || m_src[e] == '_'))
                ++e;
        }
        if (e < m_src.size() && (m_src[e] == 'e' || m_src[e] == 'E')) {
            std::size_t k = e + 1;
            if (k < m_src.size() && (m_src[k] == '+' || m_src[k] == '-'))
                ++k;
            if (k < m_src.size() && std::isdigit(static_cast<unsigned char>(m_src[k]))) {
                isFloat = true;
                e = k;
                while (e < m_src.size() && std::isdigit(static_cast<unsigned char>(m_src[e])))
                    ++e;
            }
        }
        std::string text;
        for (std::size_t i = m_pos; i < e; ++i)
            if (m_src[i] != '_')
                text += m_src[i];
        m_tokens.push_back({isFloat ? Token::Type::Float : Token::Type::Int, text, m_line});
        m_pos = e;
    }

    void lexString(char quote) {
        std::string out;
        std::size_t p = m_pos + 1;
        const int line = m_line;
        while (true) {
            if (p >= m_src.size())
                syntaxError(line, "string literal is not closed");
            const char c = m_src[p];
            if (c == quote) {
                ++p;
                break;
            }
            if (c == '\n')
                ++m_line;
            if (c != '\\') {
                out += c;
                ++p;
                continue;
            }
            if (p + 1 >= m_src.size())
                syntaxError(line, "string literal ends with a backslash");
            const char e = m_src[p + 1];
            p += 2;
            switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
                // Python's octal escape: one to three digits (\0, \12, \101 is "A").
                char32_t cp = static_cast<char32_t>(e - '0');
                for (int k = 0; k < 2 && p < m_src.size() && m_src[p] >= '0' && m_src[p] <= '7'; ++k)
                    cp = cp * 8 + static_cast<char32_t>(m_src[p++] - '0');
                appendUtf8(out, cp);
                break;
            }
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'v': out += '\v'; break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case '\n': ++m_line; break; // line continuation
            case 'N':
                // Python resolves \N{NAME} from the Unicode name table, which this build does not carry.
                syntaxError(line, "\\N{...} escapes are not supported in string literals; write the character itself or a \\u escape");
            case 'x':
            case 'u':
            case 'U': {
                const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                if (p + digits > m_src.size())
                    syntaxError(line, "truncated escape in string literal");
                const std::string hex = m_src.substr(p, digits);
                for (char h : hex)
                    if (!std::isxdigit(static_cast<unsigned char>(h)))
                        syntaxError(line, "bad escape \\" + std::string(1, e) + hex + " in string literal");
                const unsigned long cp = std::strtoul(hex.c_str(), nullptr, 16);
                appendUtf8(out, static_cast<char32_t>(cp));
                p += digits;
                break;
            }
            default:
                out += '\\';
                out += e;
            }
        }
        m_tokens.push_back({Token::Type::String, std::move(out), line});
        m_pos = p;
    }

    static void appendUtf8(std::string& out, char32_t cp) {
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            cp = 0xFFFD;
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::string m_src;
    std::size_t m_pos = 0;
    int m_line = 1;
    bool m_stripNextLeft = false;
    std::vector<Token> m_tokens;
};

} // namespace

std::vector<Token> lexTemplate(const std::string& source) {
    Lexer lexer(source);
    return lexer.run();
}

} // namespace rslora::models::jinja
