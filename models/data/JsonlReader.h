// Reads JSON Lines (one object per line) or a JSON array file record by record, keeping each
// record's line number for error messages and key order (chat templates and tojson depend on it).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <string>

namespace rslora::models {

enum class MalformedLinePolicy {
    Fail, // throw rslora::Error naming the file and line
    Skip  // count it, remember the message, go on
};

struct JsonRecord {
    nlohmann::ordered_json value;
    std::size_t line = 0; // 1-based line (JSONL) or element index + 1 (JSON array)
    std::string where;    // "data.jsonl line 7" / "data.json element 7", for messages
};

class JsonlReader {
public:
    // Calls `onRecord` for every record; `onMalformed(line, message)` for a line that is not a JSON
    // object when the policy is Skip. `onRecord` may throw rslora::Error to reject a record; with
    // Skip it is reported to `onMalformed` too. Blank lines are ignored. A JSONL line longer than
    // `maxLineBytes` is malformed (it is never held whole). Returns the number of records.
    static std::size_t read(const std::filesystem::path& file, MalformedLinePolicy policy,
                            const std::function<void(const JsonRecord&)>& onRecord,
                            const std::function<void(std::size_t line, const std::string& message)>& onMalformed,
                            std::size_t maxLineBytes = kMaxLineBytes);

    // No training record comes near it (a sample is at most max_seq_len tokens), and a line of
    // gigabytes (a file without line breaks, a dump of binary data) would be held two and three times
    // over (the line, its parsed JSON, its text) until memory ran out.
    static constexpr std::size_t kMaxLineBytes = std::size_t(256) << 20;
};

} // namespace rslora::models
