// JSONL / JSON-array reading with per-line errors.
#include "models/data/JsonlReader.h"
#include "models/data/RecordJson.h"

#include "common/ByteSize.h"
#include "common/Error.h"
#include "common/FileChangeCheck.h"
#include "common/JsonErrorText.h"
#include "models/tokenizer/Utf8.h"

#include <fstream>
#include <sstream>

namespace rslora::models {

namespace {

// Reads one line, its '\n' consumed but not kept, into `text` when it has at most `limit` bytes. A
// longer line is read to its end and dropped: `text` is left empty and `tooLong` set. `consumed` is
// the line's length in bytes, its '\n' included. Returns false at the end of the file (no line).
bool readLine(std::istream& in, std::string& text, std::size_t limit, bool& tooLong, uint64_t& consumed)
{
    text.clear();
    tooLong = false;
    consumed = 0;
    std::streambuf* buf = in.rdbuf();
    char chunk[1 << 16];
    for (;;) {
        std::size_t n = 0;
        int c = 0;
        while (n < sizeof chunk && (c = buf->sbumpc()) != std::char_traits<char>::eof() && c != '\n')
            chunk[n++] = static_cast<char>(c);
        consumed += n;
        if (!tooLong) {
            if (text.size() + n > limit) {
                tooLong = true;
                std::string().swap(text);
            } else {
                text.append(chunk, n);
            }
        }
        if (n == sizeof chunk)
            continue;
        if (c == '\n') {
            ++consumed;
            return true;
        }
        in.setstate(std::ios::eofbit);
        return consumed > 0;
    }
}

} // namespace

std::size_t JsonlReader::read(const std::filesystem::path& file, MalformedLinePolicy policy,
                              const std::function<void(const JsonRecord&)>& onRecord,
                              const std::function<void(std::size_t, const std::string&)>& onMalformed,
                              std::size_t maxLineBytes) {
    // A folder opens as an empty stream on Linux: it would read as a dataset without records.
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec))
        throw Error(file.string() + " is a folder, expected a data file (JSONL or a JSON array)");
    // A file another program is still writing (or truncates) while it is read is refused after the
    // read, naming it, rather than giving part of its records.
    const FileChangeCheck check(file);
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw Error("cannot open dataset " + file.string());
    const std::string name = file.filename().string();
    std::size_t count = 0;
    // Compressed and columnar files (what dataset hubs hand out) would fail as line 1 "invalid JSON"
    // quoting a control byte: named for what they are instead, with what to do.
    {
        char head[8] = {};
        in.read(head, sizeof head);
        const std::string magic(head, static_cast<std::size_t>(in.gcount()));
        in.clear();
        in.seekg(0);
        const std::pair<const char*, const char*> kinds[] = {
            {"\x1F\x8B", "gzip-compressed: decompress it (gunzip -k)"},
            {"PK\x03\x04", "a zip archive: extract the JSONL file from it"},
            {"\x28\xB5\x2F\xFD", "zstd-compressed: decompress it (zstd -d)"},
            {"\xFD" "7zXZ", "xz-compressed: decompress it (unxz -k)"},
            {"BZh", "bzip2-compressed: decompress it (bunzip2 -k)"},
            {"PAR1", "a Parquet file: convert it to JSONL (one JSON object per line)"},
            {"ARROW1", "an Arrow file: convert it to JSONL (one JSON object per line)"},
        };
        for (const auto& [bytes, what] : kinds)
            if (magic.rfind(bytes, 0) == 0)
                throw Error(file.string() + " is " + what + "; training data is JSONL or a JSON array");
    }

    std::string unit = " line ";
    auto handle = [&](std::size_t line, const std::function<nlohmann::ordered_json()>& parse) {
        try {
            JsonRecord r;
            r.line = line;
            r.where = name + unit + std::to_string(line);
            r.value = parse();
            if (!r.value.is_object())
                throw Error(name + unit + std::to_string(line) + ": expected a JSON object, found " +
                            r.value.type_name());
            onRecord(r);
            ++count;
        } catch (const nlohmann::json::exception& e) {
            // The parser quotes the bytes it last read: invalid UTF-8 there would make the message itself
            // invalid (unprintable, and refused by whatever records it as JSON), so it is shown as U+FFFD.
            std::string why = jsonErrorText(e);
            if (!utf8::isValid(why))
                why = utf8::sanitize(why);
            const std::string message = name + unit + std::to_string(line) + ": invalid JSON: " + why;
            if (policy == MalformedLinePolicy::Fail)
                throw Error(message, "fix the line or choose to skip malformed lines");
            onMalformed(line, message);
        } catch (const Error& e) {
            if (policy == MalformedLinePolicy::Fail)
                throw;
            onMalformed(line, e.what());
        }
    };

    // A file whose first non-blank character is '[' is one JSON array (alpaca_data.json style). A
    // UTF-8 byte order mark (Windows editors write one) comes before that character.
    char first = 0;
    uint64_t bytes = 0;
    char bom[3] = {};
    if (in.read(bom, 3) && bom[0] == '\xEF' && bom[1] == '\xBB' && bom[2] == '\xBF') {
        bytes = 3;
    } else {
        in.clear();
        in.seekg(0);
    }
    while (in.get(first) && std::isspace(static_cast<unsigned char>(first)))
        ++bytes;
    if (!in) {
        check.verify(bytes);
        return 0;
    }
    if (first == '[') {
        std::ostringstream ss;
        ss << first << in.rdbuf();
        check.verify(bytes + ss.str().size());
        RecordJson parsed;
        try {
            parsed = RecordJson::parse(ss.str());
        } catch (const nlohmann::json::exception& e) {
            throw Error(name + ": invalid JSON array: " + utf8::sanitize(jsonErrorText(e)));
        }
        nlohmann::ordered_json& all = parsed.value;
        unit = " element ";
        for (std::size_t i = 0; i < all.size(); ++i) {
            handle(i + 1, [&] {
                if (const auto big = parsed.largeIntegers.find(i); big != parsed.largeIntegers.end())
                    throw Error(RecordJson::largeIntegerMessage(name + unit + std::to_string(i + 1), big->second));
                return std::move(all[i]);
            });
        }
        return count;
    }
    in.clear();
    in.seekg(0);
    std::string text;
    std::size_t line = 0;
    bytes = 0;
    bool tooLong = false;
    uint64_t consumed = 0;
    while (readLine(in, text, maxLineBytes, tooLong, consumed)) {
        ++line;
        bytes += consumed;
        if (tooLong) {
            const std::string message = name + unit + std::to_string(line) + " is " + formatBytes(static_cast<int64_t>(consumed)) +
                                        " long; a record is a line of at most " + formatBytes(static_cast<int64_t>(maxLineBytes)) +
                                        " (is this a JSONL file, one JSON object per line?)";
            if (policy == MalformedLinePolicy::Fail)
                throw Error(message, "split the data into one record per line, or choose to skip malformed lines");
            onMalformed(line, message);
            continue;
        }
        if (!text.empty() && text.back() == '\r')
            text.pop_back();
        if (line == 1 && text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0)
            text.erase(0, 3); // UTF-8 byte order mark
        if (text.find_first_not_of(" \t") == std::string::npos)
            continue;
        handle(line, [&] {
            RecordJson parsed = RecordJson::parse(text);
            if (!parsed.largeIntegers.empty())
                throw Error(RecordJson::largeIntegerMessage(name + unit + std::to_string(line), parsed.largeIntegers.begin()->second));
            return std::move(parsed.value);
        });
    }
    check.verify(bytes);
    return count;
}

} // namespace rslora::models
