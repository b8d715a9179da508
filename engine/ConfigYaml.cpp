// YAML configs through yaml-cpp (see ConfigYaml.h).
#include "engine/ConfigYaml.h"

#include "common/Error.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <limits>
#include <regex>
#include <set>

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

// A plain (unquoted, untagged) scalar resolved as the configs always read them: booleans (also
// yes/no), null, integers, floats (also .inf/.nan), everything else a string.
json plainScalar(const std::string& v)
{
    static const std::set<std::string> yes{"true", "True", "TRUE", "yes", "Yes", "YES"};
    static const std::set<std::string> no{"false", "False", "FALSE", "no", "No", "NO"};
    static const std::set<std::string> nul{"", "~", "null", "Null", "NULL"};
    static const std::regex integer(R"([-+]?[0-9]+)");
    static const std::regex real(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
    if (yes.count(v))
        return true;
    if (no.count(v))
        return false;
    if (nul.count(v))
        return nullptr;
    if (std::regex_match(v, integer)) {
        try {
            return std::stoll(v);
        } catch (const std::out_of_range&) {
            return std::stod(v);
        }
    }
    if (std::regex_match(v, real))
        return std::stod(v);
    if (v == ".inf" || v == "+.inf" || v == ".Inf" || v == "+.Inf")
        return std::numeric_limits<double>::infinity();
    if (v == "-.inf" || v == "-.Inf")
        return -std::numeric_limits<double>::infinity();
    if (v == ".nan" || v == ".NaN")
        return std::numeric_limits<double>::quiet_NaN();
    return v;
}

class Converter {
public:
    Converter(const std::string& file, std::map<std::string, YamlPosition>& positions) : m_file(file), m_positions(positions) {}

    json convert(const YAML::Node& node, const std::string& pointer, int depth = 0)
    {
        if (depth > 200)
            fail(node.Mark(), "nesting deeper than 200 levels (a recursive alias?)");
        switch (node.Type()) {
        case YAML::NodeType::Undefined:
        case YAML::NodeType::Null:
            return nullptr;
        case YAML::NodeType::Scalar: {
            const std::string& tag = node.Tag();
            if (tag == "!" || tag == "tag:yaml.org,2002:str")
                return node.Scalar(); // quoted, block or explicitly a string
            return plainScalar(node.Scalar());
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

    const std::string& m_file;
    std::map<std::string, YamlPosition>& m_positions;
};

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

YamlDocument readYaml(const std::string& text, const std::string& fileName)
{
    YamlDocument doc;
    doc.fileName = fileName;
    std::vector<YAML::Node> docs;
    try {
        docs = YAML::LoadAll(text);
    } catch (const YAML::Exception& e) {
        throw Error(at(fileName, e.mark) + ": " + e.msg);
    }
    if (docs.size() > 1)
        throw Error(at(fileName, docs[1].Mark()) + ": a config holds one YAML document, found " + std::to_string(docs.size())
                    + " (remove the second '---')");
    if (docs.empty() || docs[0].IsNull()) {
        doc.value = json::object();
        return doc;
    }
    Converter c(fileName, doc.positions);
    try {
        doc.value = c.convert(docs[0], "");
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
