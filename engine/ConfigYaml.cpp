// YAML configs through yaml-cpp (see ConfigYaml.h).
#include "engine/ConfigYaml.h"

#include "common/Error.h"
#include "common/JsonErrorText.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

namespace rslora::engine {

using nlohmann::json;

namespace {

std::string at(const std::string& file, const YAML::Mark& m)
{
    if (m.is_null())
        return file;
    return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// JSON pointer escaping of one reference token.
std::string pointerToken(const std::string& key)
{
    std::string out;
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

// The number forms below are scanned by hand: std::regex's matcher recurses once per character, and
// a scalar of a few hundred thousand digits overflowed the stack.
bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Skips digits from `i`; how many there were.
std::size_t skipDigits(const std::string& v, std::size_t& i)
{
    const std::size_t from = i;
    while (i < v.size() && isDigit(v[i]))
        ++i;
    return i - from;
}

// [-+]?[0-9]+
bool isInteger(const std::string& v)
{
    std::size_t i = !v.empty() && (v[0] == '+' || v[0] == '-') ? 1 : 0;
    return skipDigits(v, i) > 0 && i == v.size();
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool isReal(const std::string& v)
{
    std::size_t i = !v.empty() && (v[0] == '+' || v[0] == '-') ? 1 : 0;
    const std::size_t whole = skipDigits(v, i);
    if (i < v.size() && v[i] == '.') {
        ++i;
        if (skipDigits(v, i) == 0 && whole == 0)
            return false;
    } else if (whole == 0) {
        return false;
    }
    if (i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
        ++i;
        if (i < v.size() && (v[i] == '+' || v[i] == '-'))
            ++i;
        if (skipDigits(v, i) == 0)
            return false;
    }
    return i == v.size();
}

// A plain (unquoted, untagged) scalar resolved as the configs always read them: booleans (also
// yes/no), null, integers, floats (also .inf/.nan), everything else a string.
json plainScalar(const std::string& v)
{
    static const std::set<std::string> yes{"true", "True", "TRUE", "yes", "Yes", "YES"};
    static const std::set<std::string> no{"false", "False", "FALSE", "no", "No", "NO"};
    static const std::set<std::string> nul{"", "~", "null", "Null", "NULL"};
    if (yes.count(v))
        return true;
    if (no.count(v))
        return false;
    if (nul.count(v))
        return nullptr;
    // A number beyond a double's range reads as null here; the caller names it with its position.
    // (Underflow reads as zero or a denormal, as JSON readers do.)
    const auto real64 = [](const std::string& text) -> json {
        errno = 0;
        const double d = std::strtod(text.c_str(), nullptr);
        if (errno == ERANGE && std::isinf(d))
            return nullptr;
        return d;
    };
    if (isInteger(v)) {
        try {
            return std::stoll(v);
        } catch (const std::out_of_range&) {
        }
        // Up to 2^64 - 1 exactly, as a JSON config reads it (a seed past 2^63 - 1 became a float).
        if (v[0] != '-') {
            try {
                return json(static_cast<std::uint64_t>(std::stoull(v)));
            } catch (const std::out_of_range&) {
            }
        }
        return real64(v);
    }
    if (isReal(v))
        return real64(v);
    if (v == ".inf" || v == "+.inf" || v == ".Inf" || v == "+.Inf")
        return std::numeric_limits<double>::infinity();
    if (v == "-.inf" || v == "-.Inf")
        return -std::numeric_limits<double>::infinity();
    if (v == ".nan" || v == ".NaN")
        return std::numeric_limits<double>::quiet_NaN();
    return v;
}

// How many JSON values one config may expand to. Aliases share nodes in yaml-cpp, so a few lines of
// nested aliases ("a: [*b, *b, ...]", each level referring to the one before) expand exponentially;
// real configs hold a few hundred values.
constexpr std::size_t kMaxValues = 1000000;

// A first pass over the event stream that only finds where each document's root starts. yaml-cpp 0.7
// answers some stray tokens where a value should start (a ',' at the top level, for one) with an
// empty document that consumes nothing, again and again, so YAML::LoadAll never returns; a document
// that starts where the previous one did is that case, and it is reported instead of looped on.
class DocumentStarts : public YAML::EventHandler {
public:
    std::vector<YAML::Mark> roots; // the first event of every document so far

    void OnDocumentStart(const YAML::Mark&) override { m_inDocument = false; }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { root(m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { root(m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { root(m); }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override { root(m); }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override { root(m); }
    void OnMapEnd() override {}

private:
    void root(const YAML::Mark& m)
    {
        if (!m_inDocument)
            roots.push_back(m);
        m_inDocument = true;
    }
    bool m_inDocument = false;
};

// The length of the well-formed UTF-8 sequence at `i` (1 to 4), or 0 when the bytes there are not
// one (a stray continuation byte, a cut or overlong sequence, a surrogate, beyond U+10FFFF).
std::size_t utf8SequenceAt(const std::string& s, std::size_t i)
{
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80)
        return 1;
    const std::size_t length = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (length == 0 || i + length > s.size())
        return 0;
    uint32_t cp = c & (0x7f >> length);
    for (std::size_t k = 1; k < length; ++k) {
        const unsigned char t = static_cast<unsigned char>(s[i + k]);
        if ((t & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (t & 0x3f);
    }
    if ((length == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (length == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return length;
}

class Converter {
public:
    Converter(const std::string& file, std::map<std::string, YamlPosition>& positions) : m_file(file), m_positions(positions) {}

    json convert(const YAML::Node& node, const std::string& pointer, int depth = 0)
    {
        if (depth > 200)
            fail(node.Mark(), "nesting deeper than 200 levels (a recursive alias?)");
        if (++m_values > kMaxValues)
            fail(node.Mark(), "the config expands to more than " + std::to_string(kMaxValues)
                                  + " values (aliases referring to aliases?); a config needs far fewer");
        switch (node.Type()) {
        case YAML::NodeType::Undefined:
        case YAML::NodeType::Null:
            return nullptr;
        case YAML::NodeType::Scalar: {
            requireUtf8(node, "value");
            const std::string& tag = node.Tag();
            if (tag == "!" || tag == "tag:yaml.org,2002:str")
                return node.Scalar(); // quoted, block or explicitly a string
            const json value = plainScalar(node.Scalar());
            // Only a number out of a double's range reads as null from text ending in a digit.
            if (value.is_null() && !node.Scalar().empty() && std::isdigit(static_cast<unsigned char>(node.Scalar().back())))
                fail(node.Mark(), "the number " + jsonValueText(node.Scalar()) + " is beyond the range of a 64-bit float");
            return value;
        }
        case YAML::NodeType::Sequence: {
            json arr = json::array();
            size_t i = 0;
            for (const auto& item : node) {
                const std::string p = pointer + "/" + std::to_string(i++);
                remember(p, item.Mark());
                arr.push_back(convert(item, p, depth + 1));
            }
            return arr;
        }
        case YAML::NodeType::Map:
            return mapping(node, pointer, depth);
        }
        return nullptr;
    }

private:
    json mapping(const YAML::Node& node, const std::string& pointer, int depth)
    {
        json obj = json::object();
        std::vector<YAML::Node> merges;
        for (const auto& kv : node) {
            if (!kv.first.IsScalar())
                fail(kv.first.Mark(), "a mapping key must be a plain value, not a list or mapping");
            requireUtf8(kv.first, "key");
            const std::string key = kv.first.Scalar();
            if (key == "<<" && kv.first.Tag() != "!") {
                merges.push_back(kv.second);
                continue;
            }
            if (obj.contains(key))
                fail(kv.first.Mark(), "duplicate key '" + key + "'");
            const std::string p = pointer + "/" + pointerToken(key);
            remember(p, kv.first.Mark());
            obj[key] = convert(kv.second, p, depth + 1);
        }
        // Merge keys: the keys written here win over merged ones, earlier merged mappings over later.
        for (const auto& m : merges) {
            std::vector<YAML::Node> sources;
            if (m.IsMap())
                sources.push_back(m);
            else if (m.IsSequence())
                for (const auto& s : m)
                    sources.push_back(s);
            for (const auto& s : sources) {
                if (!s.IsMap())
                    fail(s.Mark(), "a merge key (<<) takes a mapping or a list of mappings");
                const json merged = mapping(s, pointer, depth + 1);
                for (auto it = merged.begin(); it != merged.end(); ++it)
                    if (!obj.contains(it.key()))
                        obj[it.key()] = it.value();
            }
        }
        return obj;
    }

    void remember(const std::string& pointer, const YAML::Mark& m)
    {
        if (!m.is_null())
            m_positions.emplace(pointer, YamlPosition{m.line + 1, m.column + 1});
    }

    [[noreturn]] void fail(const YAML::Mark& m, const std::string& msg) const { throw Error(at(m_file, m) + ": " + msg); }

    // A scalar must be text: bytes that are not UTF-8 (a file saved as Latin-1, say) would reach
    // paths, names and the stored JSON config, which cannot hold them. yaml-cpp converts UTF-16 and
    // UTF-32 files (with their byte order mark) itself, so only stray bytes are refused here.
    void requireUtf8(const YAML::Node& node, const char* what) const
    {
        const std::string& text = node.Scalar();
        std::size_t i = 0, characters = 0;
        while (i < text.size()) {
            const std::size_t n = utf8SequenceAt(text, i);
            if (n == 0)
                break;
            i += n;
            ++characters;
        }
        if (i == text.size())
            return;
        // The text as it reads, each stray byte shown as U+FFFD.
        std::string shown;
        for (std::size_t k = 0; k < text.size();) {
            const std::size_t n = utf8SequenceAt(text, k);
            shown += n == 0 ? std::string("\xEF\xBF\xBD") : text.substr(k, n);
            k += n == 0 ? 1 : n;
        }
        static const char* hex = "0123456789abcdef";
        const unsigned char c = static_cast<unsigned char>(text[i]);
        fail(node.Mark(), std::string("the ") + what + " " + jsonValueText(shown) + " is not valid UTF-8 (byte 0x" + hex[c >> 4] +
                              hex[c & 15] + " at character " + std::to_string(characters + 1) + "); save the file as UTF-8");
    }

    const std::string& m_file;
    std::map<std::string, YamlPosition>& m_positions;
    std::size_t m_values = 0;
};

// The character at a mark, for messages ("','", "end of file", "byte 0x8f").
std::string charAt(const std::string& text, const YAML::Mark& m)
{
    if (m.pos < 0 || static_cast<std::size_t>(m.pos) >= text.size())
        return "the end of the file";
    const unsigned char c = static_cast<unsigned char>(text[static_cast<std::size_t>(m.pos)]);
    if (c < 0x20 || c >= 0x7f) {
        static const char* hex = "0123456789abcdef";
        return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
    }
    return "'" + std::string(1, static_cast<char>(c)) + "'";
}

// Where the roots of the first two documents start (at most two: the second one is already an
// error). Throws "file:line:column: what" where yaml-cpp stops making progress (see DocumentStarts).
std::vector<YAML::Mark> firstDocumentRoots(const std::string& text, const std::string& fileName)
{
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    while (starts.roots.size() < 2 && parser.HandleNextDocument(starts)) {
        const auto& r = starts.roots;
        if (r.size() == 2 && r[0].pos == r[1].pos)
            throw Error(at(fileName, r[1]) + ": unexpected " + charAt(text, r[1]) + " where a value should start");
    }
    return starts.roots;
}

} // namespace

std::string YamlDocument::where(const std::string& pointer) const
{
    std::string p = pointer;
    while (true) {
        auto it = positions.find(p);
        if (it != positions.end())
            return "line " + std::to_string(it->second.line) + ", column " + std::to_string(it->second.column);
        const auto slash = p.rfind('/');
        if (slash == std::string::npos || p.empty())
            return {};
        p = p.substr(0, slash);
    }
}

// yaml-cpp reports a line indented with a tab as whatever that makes of the structure ("illegal map
// value", "end of map not found"); YAML indents with spaces only, which the message then says,
// naming the nearest tab-indented line at or before the error.
std::string tabIndentationHint(const std::string& text, const YAML::Mark& m)
{
    if (m.is_null())
        return {};
    int line = 0, found = 0;
    std::size_t start = 0;
    while (start <= text.size() && line <= m.line) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        ++line;
        const std::size_t firstText = text.find_first_not_of(" \t", start);
        const std::size_t indentEnd = std::min(end, firstText == std::string::npos ? end : firstText);
        if (text.find('\t', start) < indentEnd && indentEnd < end)
            found = line;
        start = end + 1;
    }
    if (found == 0)
        return {};
    return " (line " + std::to_string(found) + " is indented with a tab; YAML indents with spaces only)";
}

YamlDocument readYaml(const std::string& text, const std::string& fileName)
{
    YamlDocument doc;
    doc.fileName = fileName;
    YAML::Node root;
    try {
        const auto roots = firstDocumentRoots(text, fileName);
        if (roots.size() > 1)
            throw Error(at(fileName, roots[1]) + ": a config holds one YAML document, this is a second one (remove the second '---')");
        // YAML::Load reads the first document only, so it cannot run into the endless empty documents.
        if (!roots.empty())
            root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw Error(at(fileName, e.mark) + ": " + e.msg + tabIndentationHint(text, e.mark));
    }
    if (!root.IsDefined() || root.IsNull()) {
        doc.value = json::object();
        return doc;
    }
    Converter c(fileName, doc.positions);
    try {
        doc.value = c.convert(root, "");
    } catch (const YAML::Exception& e) {
        throw Error(at(fileName, e.mark) + ": " + e.msg);
    }
    return doc;
}

json yamlToJson(const std::string& text, const std::string& fileName)
{
    return readYaml(text, fileName).value;
}

namespace {
thread_local const KeyLocatorScope* t_locatorScope = nullptr;
}

KeyLocatorScope::KeyLocatorScope(KeyLocator locate) : m_locate(std::move(locate)), m_previous(t_locatorScope)
{
    t_locatorScope = this;
}

KeyLocatorScope::~KeyLocatorScope()
{
    t_locatorScope = m_previous;
}

const KeyLocator* KeyLocatorScope::current()
{
    return t_locatorScope && t_locatorScope->m_locate ? &t_locatorScope->m_locate : nullptr;
}

bool isYamlPath(const std::string& path)
{
    auto ends = [&](const char* ext) {
        const std::string e(ext);
        return path.size() > e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
    };
    return ends(".yaml") || ends(".yml") || ends(".YAML") || ends(".YML");
}

} // namespace rslora::engine
