// Duplicate keys in config or index files are ambiguous; refuse them instead of guessing.
#include "models/StrictJson.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"

#include <set>
#include <vector>

namespace rslora::models {
namespace {
struct DuplicateKey {
    std::string key;
};
} // namespace

nlohmann::json parseJsonStrict(const std::string& text, const std::string& fileName) {
    using json = nlohmann::json;
    std::vector<std::set<std::string>> seen;
    auto callback = [&](int, json::parse_event_t event, json& parsed) -> bool {
        if (event == json::parse_event_t::object_start)
            seen.emplace_back();
        else if (event == json::parse_event_t::object_end && !seen.empty())
            seen.pop_back();
        else if (event == json::parse_event_t::key && !seen.empty() &&
                 !seen.back().insert(parsed.get_ref<const std::string&>()).second)
            throw DuplicateKey{parsed.get<std::string>()};
        return true;
    };
    // nlohmann's parser stops at a NUL byte as at the end of the input, which would read the text
    // before it and ignore the rest; Python's json (transformers, PEFT) refuses the file.
    if (const size_t nul = text.find('\0'); nul != std::string::npos)
        throw Error(fileName + ": expected valid JSON: a NUL byte at offset " + std::to_string(nul) +
                    " (JSON allows none; the file may be damaged)");
    try {
        return json::parse(text, callback);
    } catch (const DuplicateKey& d) {
        throw Error(fileName + ": duplicate key '" + d.key + "'");
    } catch (const json::exception& e) {
        throw Error(fileName + ": expected valid JSON: " + jsonErrorText(e));
    }
}

nlohmann::json readJsonFileStrict(const std::filesystem::path& path) {
    return parseJsonStrict(readFile(path), path.string());
}

} // namespace rslora::models
