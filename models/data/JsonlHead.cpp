// Reading the first entries of a data file (see JsonlHead.h).
#include "models/data/JsonlHead.h"

namespace rslora::models {

namespace {

// Thrown from the reader's callbacks at the entry after the limit: the reader lets it through (it
// handles only rslora::Error and JSON errors), closing the file.
struct LimitReached {};

} // namespace

bool JsonlHead::read(const std::filesystem::path& file, std::size_t limit,
                     const std::function<void(const JsonRecord&)>& onRecord,
                     const std::function<void(std::size_t line, const std::string& message)>& onMalformed) {
    std::size_t entries = 0;
    std::size_t lastLine = 0; // a record that onRecord rejects comes back to onMalformed: one entry
    auto count = [&](std::size_t line) {
        if (line == lastLine)
            return;
        if (limit > 0 && entries == limit)
            throw LimitReached{};
        ++entries;
        lastLine = line;
    };
    try {
        JsonlReader::read(
            file, MalformedLinePolicy::Skip,
            [&](const JsonRecord& r) {
                count(r.line);
                onRecord(r);
            },
            [&](std::size_t line, const std::string& message) {
                count(line);
                onMalformed(line, message);
            });
    } catch (const LimitReached&) {
        return true;
    }
    return false;
}

} // namespace rslora::models
