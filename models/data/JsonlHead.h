// The first records of a JSONL or JSON array file, read as JsonlReader reads them with
// MalformedLinePolicy::Skip, stopping there: what a preview of a large file needs without reading it
// all.
#pragma once

#include "models/data/JsonlReader.h"

namespace rslora::models {

class JsonlHead {
public:
    // Calls `onRecord` and `onMalformed` (as JsonlReader::read with MalformedLinePolicy::Skip) for at
    // most `limit` entries, an entry being a record or a malformed line; blank lines are not counted.
    // `limit` 0 reads every entry. Returns whether the file holds an entry beyond those read. A file
    // read to its end is checked for changes during the read as JsonlReader checks it; one left
    // unread after `limit` entries is not.
    static bool read(const std::filesystem::path& file, std::size_t limit,
                     const std::function<void(const JsonRecord&)>& onRecord,
                     const std::function<void(std::size_t line, const std::string& message)>& onMalformed);
};

} // namespace rslora::models
