// RFC 4180 CSV for metric files: quoting of any text (commas, quotes, newlines, unicode) and exact
// round-trip formatting of doubles, including nan, inf and -inf.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace rslora::storage {

// The field as written: quoted (with doubled quotes) when it holds , " CR or LF, or starts/ends with
// a space.
std::string csvField(std::string_view text);
// Shortest text that parses back to the same double; "nan", "inf", "-inf" for the special values.
std::string formatDouble(double value);
// Parses what formatDouble writes (and any decimal or exponent form); throws rslora::Error.
double parseDouble(std::string_view text);
int64_t parseInt(std::string_view text);

// Streams records from a file without loading it whole.
class CsvReader {
public:
    explicit CsvReader(const std::filesystem::path& path);
    // Reads the next record into `fields`. Returns false at the end of the file. A last record
    // without its line end (a writer killed mid-line) sets truncated() and is not returned.
    bool next(std::vector<std::string>& fields);
    bool truncated() const { return m_truncated; }
    // 1-based line where the record last returned started (for error messages).
    size_t line() const { return m_recordLine; }
    const std::filesystem::path& path() const { return m_path; }

private:
    bool fill();
    std::filesystem::path m_path;
    std::ifstream m_in;
    std::string m_buf;
    size_t m_pos = 0;
    size_t m_line = 1;
    size_t m_recordLine = 0;
    bool m_eof = false;
    bool m_truncated = false;
};

} // namespace rslora::storage
