#include "storage/Csv.h"

#include "common/Error.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace rslora::storage {

std::string csvField(std::string_view text) {
    bool quote = text.find_first_of(",\"\r\n") != std::string_view::npos ||
                 (!text.empty() && (text.front() == ' ' || text.back() == ' '));
    if (!quote)
        return std::string(text);
    std::string out = "\"";
    for (char c : text) {
        if (c == '"')
            out += '"';
        out += c;
    }
    out += '"';
    return out;
}

std::string formatDouble(double v) {
    if (std::isnan(v))
        return "nan";
    if (std::isinf(v))
        return v > 0 ? "inf" : "-inf";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

double parseDouble(std::string_view t) {
    if (t == "nan" || t == "NaN" || t == "-nan")
        return std::numeric_limits<double>::quiet_NaN();
    if (t == "inf" || t == "+inf" || t == "Infinity" || t == "+Infinity")
        return std::numeric_limits<double>::infinity();
    if (t == "-inf" || t == "-Infinity")
        return -std::numeric_limits<double>::infinity();
    double v = 0;
    const char* begin = t.data();
    if (!t.empty() && t.front() == '+')
        ++begin;
    auto r = std::from_chars(begin, t.data() + t.size(), v);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size() || t.empty())
        throw rslora::Error("expected a number, found \"" + std::string(t) + "\"");
    return v;
}

int64_t parseInt(std::string_view t) {
    int64_t v = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc() || r.ptr != t.data() + t.size() || t.empty())
        throw rslora::Error("expected an integer, found \"" + std::string(t) + "\"");
    return v;
}

CsvReader::CsvReader(const std::filesystem::path& path) : m_path(path), m_in(path, std::ios::binary) {
    if (!m_in)
        throw rslora::Error("cannot open " + path.string());
}

bool CsvReader::fill() {
    if (m_eof)
        return false;
    m_buf.erase(0, m_pos);
    m_pos = 0;
    size_t old = m_buf.size();
    m_buf.resize(old + (1 << 20));
    m_in.read(&m_buf[old], 1 << 20);
    m_buf.resize(old + static_cast<size_t>(m_in.gcount()));
    if (m_in.gcount() == 0)
        m_eof = true;
    return !m_eof;
}

bool CsvReader::next(std::vector<std::string>& fields) {
    for (;;) {
        // Try to parse one complete record from m_buf[m_pos..].
        fields.clear();
        size_t p = m_pos;
        size_t lines = 0;
        std::string field;
        bool inQuotes = false, complete = false, wasQuoted = false;
        while (p < m_buf.size()) {
            char c = m_buf[p];
            if (inQuotes) {
                if (c == '"') {
                    if (p + 1 >= m_buf.size() && !m_eof)
                        break; // need the next byte to tell "" from a closing quote
                    if (p + 1 < m_buf.size() && m_buf[p + 1] == '"') {
                        field += '"';
                        p += 2;
                        continue;
                    }
                    inQuotes = false;
                    ++p;
                    continue;
                }
                if (c == '\n')
                    ++lines;
                field += c;
                ++p;
                continue;
            }
            if (c == '"' && field.empty() && !wasQuoted) {
                inQuotes = wasQuoted = true;
                ++p;
            } else if (c == ',') {
                fields.push_back(std::move(field));
                field.clear();
                wasQuoted = false;
                ++p;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && p + 1 >= m_buf.size() && !m_eof)
                    break;
                p += (c == '\r' && p + 1 < m_buf.size() && m_buf[p + 1] == '\n') ? 2 : 1;
                ++lines;
                complete = true;
                break;
            } else {
                field += c;
                ++p;
            }
        }
        if (complete) {
            fields.push_back(std::move(field));
            m_recordLine = m_line;
            m_line += lines;
            m_pos = p;
            return true;
        }
        if (!fill()) {
            if (m_pos < m_buf.size())
                m_truncated = true; // an unterminated last record: written by a killed process
            m_pos = m_buf.size();
            return false;
        }
    }
}

} // namespace rslora::storage
