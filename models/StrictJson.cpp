// Duplicate keys in config or index files are ambiguous; refuse them instead of guessing.
#include "models/StrictJson.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

namespace rslora::models {
namespace {
struct DuplicateKey {
    std::string key;
};

// Python's json (transformers' and PEFT's writer) writes NaN, Infinity and -Infinity for floats that
// are not finite; JSON has no such values, so the parser stops there and can only name a position.
// The path of the value ("rms_norm_eps", "rope_scaling.factor", "eos_token_id[1]") where the first
// such literal starts before `end` (the parser's stop), and the literal; empty when there is none.
std::string nonFiniteLiteralPath(const std::string& text, size_t end, std::string* literal) {
    struct Frame {
        bool object = false;
        std::string key;
        size_t index = 0;
    };
    std::vector<Frame> stack;
    std::string current;
    bool inString = false, escaped = false;
    end = std::min(end, text.size());
    for (size_t i = 0; i < end; ++i) {
        const char c = text[i];
        if (inString) {
            if (escaped) {
                escaped = false;
                current += c;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
                const size_t next = text.find_first_not_of(" \t\r\n", i + 1);
                if (!stack.empty() && stack.back().object && next != std::string::npos && text[next] == ':')
                    stack.back().key = current;
            } else {
                current += c;
            }
            continue;
        }
        switch (c) {
        case '"':
            inString = true;
            current.clear();
            continue;
        case '{':
            stack.push_back({true, {}, 0});
            continue;
        case '[':
            stack.push_back({false, {}, 0});
            continue;
        case '}':
        case ']':
            if (!stack.empty())
                stack.pop_back();
            continue;
        case ',':
            if (!stack.empty() && !stack.back().object)
                ++stack.back().index;
            continue;
        default:
            break;
        }
        const auto path = [&] {
            std::string p;
            for (const Frame& f : stack)
                p += f.object ? (p.empty() ? "" : ".") + f.key : "[" + std::to_string(f.index) + "]";
            return p.empty() ? std::string("the value") : p;
        };
        for (const char* word : {"NaN", "Infinity", "-Infinity"})
            if (text.compare(i, std::strlen(word), word) == 0) {
                *literal = word;
                return path();
            }
        if (c == '-' || (c >= '0' && c <= '9')) {
            // A number beyond double's range (1e400): Python reads it as infinity.
            const size_t stop = std::min(text.find_first_not_of("0123456789+-.eE", i), end);
            const std::string number = text.substr(i, stop - i);
            if (!std::isfinite(std::strtod(number.c_str(), nullptr))) {
                *literal = number;
                return path();
            }
            i = stop - 1;
        }
    }
    return {};
}
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
        // A parse error stops at the literal; a number overflow has no position.
        const auto* parse = dynamic_cast<const json::parse_error*>(&e);
        std::string literal;
        const std::string path = nonFiniteLiteralPath(text, parse ? parse->byte : text.size(), &literal);
        if (path.empty())
            throw Error(fileName + ": expected valid JSON: " + jsonErrorText(e));
        if (literal == "NaN" || literal == "Infinity" || literal == "-Infinity")
            throw Error(fileName + ": " + path + " is " + literal + ", which is not a number JSON has (Python's json writes it "
                        "for a float that is not finite); " + path + " must be a finite number",
                        "write a finite number in its place");
        throw Error(fileName + ": expected valid JSON: " + jsonErrorText(e) + ": " + path + " is " + literal +
                        ", beyond the range of a double (it would read as infinity); " + path + " must be a finite number",
                    "write a finite number in its place");
    }
}

nlohmann::json readJsonFileStrict(const std::filesystem::path& path) {
    return parseJsonStrict(readFile(path), path.string());
}

} // namespace rslora::models
