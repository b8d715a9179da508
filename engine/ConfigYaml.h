// Reads YAML configs (training, pipeline and sweep configs) with yaml-cpp into JSON, so that one
// reader (TrainConfig::fromJson) handles both formats, and remembers where every value stood so that
// errors about it can name the line and column. Anchors, aliases, merge keys (<<), lists of
// mappings and block scalars are real YAML here. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>

namespace rslora::engine {

struct YamlPosition {
    int line = 0;   // 1-based
    int column = 0; // 1-based
};

// A YAML file read into JSON plus the position of every mapping key and sequence item, keyed by
// JSON pointer ("/stages/1/data/train").
struct YamlDocument {
    std::string fileName;
    nlohmann::json value;
    std::map<std::string, YamlPosition> positions;

    // "line L, column C" of `pointer`, or of its nearest ancestor that has one; empty when none.
    std::string where(const std::string& pointer) const;
};

// Throws rslora::Error "file:line:column: what" for a syntax error, a duplicate key, a key that is
// not a scalar, an undefined alias or more than one document.
YamlDocument readYaml(const std::string& text, const std::string& fileName);

// The value alone (readYaml(...).value).
nlohmann::json yamlToJson(const std::string& text, const std::string& fileName);

// Whether a path names a YAML file by its extension (.yaml, .yml).
bool isYamlPath(const std::string& path);

// Where a config key stood in its file ("line 3, column 5"), for messages; empty when unknown. An
// empty key asks for the section itself.
using KeyLocator = std::function<std::string(const std::string& section, const std::string& key)>;

// While alive, TrainConfig::fromJson on this thread adds the position `locate` gives to every message
// about a key (type errors and unknown keys). Scopes nest; the innermost one counts.
class KeyLocatorScope {
public:
    explicit KeyLocatorScope(KeyLocator locate);
    ~KeyLocatorScope();
    KeyLocatorScope(const KeyLocatorScope&) = delete;
    KeyLocatorScope& operator=(const KeyLocatorScope&) = delete;
    // The innermost scope's locator on this thread, or null.
    static const KeyLocator* current();

private:
    KeyLocator m_locate;
    const KeyLocatorScope* m_previous = nullptr;
};

} // namespace rslora::engine
