// A small YAML-subset reader for training configs (see ConfigYaml.h).
#include "engine/ConfigYaml.h"

#include "common/Error.h"

#include <cctype>
#include <vector>

namespace rslora::engine {

using nlohmann::json;

namespace {

struct Line {
    int indent;
    std::string text;
    int number;
};

std::string trim(const std::string& s)
{
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
        ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
        --e;
    return s.substr(b, e - b);
}

std::string stripComment(const std::string& s)
{
    char quote = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if (quote) {
            if (s[i] == quote)
                quote = 0;
        } else if (s[i] == '"' || s[i] == '\'') {
            quote = s[i];
        } else if (s[i] == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(s[i - 1])))) {
            return s.substr(0, i);
        }
    }
    return s;
}

class Parser {
public:
    Parser(std::vector<Line> lines, std::string file) : m_lines(std::move(lines)), m_file(std::move(file)) {}

    json parseBlock(size_t& i, int indent)
    {
        if (i >= m_lines.size())
            return json::object();
        if (m_lines[i].text.rfind("- ", 0) == 0 || m_lines[i].text == "-") {
            json arr = json::array();
            while (i < m_lines.size() && m_lines[i].indent == indent && m_lines[i].text[0] == '-') {
                const std::string rest = trim(m_lines[i].text.substr(1));
                ++i;
                arr.push_back(scalar(rest, m_lines[i - 1].number));
            }
            return arr;
        }
        json obj = json::object();
        while (i < m_lines.size() && m_lines[i].indent == indent) {
            const Line& l = m_lines[i];
            const size_t colon = findColon(l.text);
            if (colon == std::string::npos)
                fail(l.number, "expected 'key: value', found '" + l.text + "'");
            std::string key = trim(l.text.substr(0, colon));
            if (key.size() >= 2 && (key[0] == '"' || key[0] == '\''))
                key = key.substr(1, key.size() - 2);
            const std::string value = trim(l.text.substr(colon + 1));
            ++i;
            if (value.empty()) {
                if (i < m_lines.size() && m_lines[i].indent > indent)
                    obj[key] = parseBlock(i, m_lines[i].indent);
                else
                    obj[key] = nullptr;
            } else {
                obj[key] = scalar(value, l.number);
            }
        }
        if (i < m_lines.size() && m_lines[i].indent > indent)
            fail(m_lines[i].number, "unexpected indentation");
        return obj;
    }

    json scalar(const std::string& v, int line)
    {
        if (v.empty())
            return nullptr;
        if (v.front() == '[' || v.front() == '{') {
            // Flow collections: JSON with bare words allowed; quote them and let nlohmann parse.
            std::string out;
            for (size_t i = 0; i < v.size();) {
                const char c = v[i];
                if (c == '"' || c == '\'') {
                    const size_t end = v.find(c, i + 1);
                    if (end == std::string::npos)
                        fail(line, "unterminated string");
                    out += '"' + v.substr(i + 1, end - i - 1) + '"';
                    i = end + 1;
                } else if (std::string("[]{},:").find(c) != std::string::npos || std::isspace(static_cast<unsigned char>(c))) {
                    out += c;
                    ++i;
                } else {
                    size_t end = i;
                    while (end < v.size() && std::string("[]{},").find(v[end]) == std::string::npos
                           && !(v[end] == ':' && (end + 1 == v.size() || v[end + 1] == ' ')))
                        ++end;
                    out += scalar(trim(v.substr(i, end - i)), line).dump();
                    i = end;
                }
            }
            try {
                return json::parse(out);
            } catch (const json::parse_error&) {
                fail(line, "cannot read the flow collection '" + v + "'");
            }
        }
        if ((v.front() == '"' || v.front() == '\'') && v.size() >= 2 && v.back() == v.front())
            return v.substr(1, v.size() - 2);
        if (v == "true" || v == "True" || v == "yes")
            return true;
        if (v == "false" || v == "False" || v == "no")
            return false;
        if (v == "null" || v == "~")
            return nullptr;
        try {
            size_t pos = 0;
            const long long n = std::stoll(v, &pos);
            if (pos == v.size())
                return n;
        } catch (...) {
        }
        try {
            size_t pos = 0;
            const double d = std::stod(v, &pos);
            if (pos == v.size())
                return d;
        } catch (...) {
        }
        return v;
    }

private:
    static size_t findColon(const std::string& s)
    {
        char quote = 0;
        for (size_t i = 0; i < s.size(); ++i) {
            if (quote) {
                if (s[i] == quote)
                    quote = 0;
            } else if (s[i] == '"' || s[i] == '\'') {
                quote = s[i];
            } else if (s[i] == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) {
                return i;
            }
        }
        return std::string::npos;
    }
    [[noreturn]] void fail(int line, const std::string& msg) const
    {
        throw Error(m_file + ":" + std::to_string(line) + ": " + msg);
    }

    std::vector<Line> m_lines;
    std::string m_file;
};

} // namespace

json yamlToJson(const std::string& text, const std::string& fileName)
{
    std::vector<Line> lines;
    size_t start = 0;
    int number = 0;
    while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        ++number;
        std::string raw = stripComment(text.substr(start, end - start));
        if (!raw.empty() && raw.back() == '\r')
            raw.pop_back();
        if (raw.find('\t') != std::string::npos && trim(raw).size())
            throw Error(fileName + ":" + std::to_string(number) + ": tabs are not allowed for indentation in YAML");
        const std::string t = trim(raw);
        if (!t.empty() && t != "---") {
            int indent = 0;
            while (indent < int(raw.size()) && raw[indent] == ' ')
                ++indent;
            lines.push_back({indent, t, number});
        }
        start = end + 1;
    }
    if (lines.empty())
        return json::object();
    Parser p(lines, fileName);
    size_t i = 0;
    json j = p.parseBlock(i, lines[0].indent);
    return j;
}

} // namespace rslora::engine
