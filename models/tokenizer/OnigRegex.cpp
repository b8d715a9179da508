// Oniguruma-backed regex: compile once, search many times (thread-safe: each search has its region).
#include "models/tokenizer/OnigRegex.h"

#include "common/Error.h"
#include "common/Log.h"
#include "models/tokenizer/OnigUnicodeClasses.h"
#include "models/tokenizer/Utf8.h"

#include <nlohmann/json.hpp>
#include <oniguruma.h>

#include <mutex>

namespace rslora::models {

namespace {

void initOnce() {
    static std::once_flag flag;
    std::call_once(flag, [] {
        OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
        onig_initialize(encodings, 1);
    });
}

struct RegionDeleter {
    void operator()(OnigRegion* r) const { onig_region_free(r, 1); }
};
using RegionPtr = std::unique_ptr<OnigRegion, RegionDeleter>;

// The first \N{...} escape whose braces are not a repeat count ({2}, {1,3}): Python's Unicode
// name escape, which Oniguruma reads as \N (any character but a newline) and literal braces.
std::string pythonNameEscape(const std::string& pattern) {
    for (std::size_t i = 0; i + 2 < pattern.size(); ++i) {
        if (pattern[i] != '\\')
            continue;
        if (pattern[i + 1] == 'N' && pattern[i + 2] == '{') {
            const std::size_t close = pattern.find('}', i + 3);
            const std::string inside = pattern.substr(i + 3, close == std::string::npos ? std::string::npos : close - i - 3);
            if (inside.empty() || inside.find_first_not_of("0123456789,") != std::string::npos)
                return pattern.substr(i, close == std::string::npos ? std::string::npos : close - i + 1);
        }
        ++i; // the escaped character
    }
    return {};
}

} // namespace

struct OnigRegex::Impl {
    regex_t* regex = nullptr;
};

OnigRegex::OnigRegex(std::string pattern, const std::string& where)
    : m_pattern(std::move(pattern)), m_impl(std::make_unique<Impl>()) {
    initOnce();
    OnigErrorInfo info;
    // Compiled with the reference's Unicode classes (its Oniguruma may know more characters).
    const std::string compiled = withReferenceUnicodeClasses(m_pattern);
    const auto* begin = reinterpret_cast<const OnigUChar*>(compiled.data());
    // The syntax and options the Rust `onig` crate's Regex::new uses (Oniguruma's default syntax, no
    // options), so escapes such as \N (a non-newline), \O (any character) and \N{...} (a non-newline
    // then literal braces, not a Unicode name) and groups such as (?W) mean what they mean there.
    const int rc = onig_new(&m_impl->regex, begin, begin + compiled.size(), ONIG_OPTION_NONE,
                            ONIG_ENCODING_UTF8, ONIG_SYNTAX_ONIGURUMA, &info);
    if (rc != ONIG_NORMAL) {
        OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(message, rc, &info);
        m_impl->regex = nullptr;
        throw Error("invalid regular expression" + (where.empty() ? std::string() : " in " + where) + ": " +
                    reinterpret_cast<const char*>(message) + " (pattern: " + m_pattern + ")");
    }
    if (const std::string escape = pythonNameEscape(m_pattern); !escape.empty())
        logWarning("regular expression" + (where.empty() ? std::string() : " in " + where) + ": " + escape +
                   " is not a Unicode name escape in Oniguruma (the engine of Hugging Face tokenizers): it "
                   "matches one character other than a newline followed by the literal text after \\N, as "
                   "the reference does (pattern: " + m_pattern + "); write the character itself or \\x{HHHH}");
}

OnigRegex::~OnigRegex() {
    if (m_impl && m_impl->regex)
        onig_free(m_impl->regex);
}

bool OnigRegex::find(std::string_view text, std::size_t from, std::size_t& begin, std::size_t& end) const {
    if (from > text.size())
        return false;
    RegionPtr region(onig_region_new());
    const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
    const auto* strEnd = str + text.size();
    const int r = onig_search(m_impl->regex, str, strEnd, str + from, strEnd, region.get(), ONIG_OPTION_NONE);
    if (r < 0) {
        if (r == ONIG_MISMATCH)
            return false;
        OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(message, r);
        throw Error(std::string("regular expression search failed: ") + reinterpret_cast<const char*>(message) +
                    " (pattern: " + m_pattern + ")");
    }
    begin = static_cast<std::size_t>(region->beg[0]);
    end = static_cast<std::size_t>(region->end[0]);
    return true;
}

std::vector<std::pair<std::size_t, std::size_t>> OnigRegex::findAll(std::string_view text) const {
    std::vector<std::pair<std::size_t, std::size_t>> matches;
    RegionPtr region(onig_region_new());
    const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
    const auto* strEnd = str + text.size();
    std::size_t pos = 0;
    std::size_t lastEnd = std::string_view::npos;
    while (pos <= text.size()) {
        onig_region_clear(region.get());
        const int r = onig_search(m_impl->regex, str, strEnd, str + pos, strEnd, region.get(), ONIG_OPTION_NONE);
        if (r == ONIG_MISMATCH)
            break;
        if (r < 0) {
            OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
            onig_error_code_to_str(message, r);
            throw Error(std::string("regular expression search failed: ") + reinterpret_cast<const char*>(message) +
                        " (pattern: " + m_pattern + ")");
        }
        const auto b = static_cast<std::size_t>(region->beg[0]);
        const auto e = static_cast<std::size_t>(region->end[0]);
        if (e == b) {
            // Empty match: skipped right after a previous match (the onig crate's iterator rule),
            // and the scan steps over one code point.
            if (b != lastEnd)
                matches.emplace_back(b, e);
            lastEnd = e;
            if (b >= text.size())
                break;
            char32_t cp;
            pos = b + utf8::decode(text, b, cp);
        } else {
            matches.emplace_back(b, e);
            lastEnd = e;
            pos = e;
        }
    }
    return matches;
}

std::string OnigRegex::replaceAll(std::string_view text, std::string_view replacement) const {
    std::string out;
    std::size_t last = 0;
    for (const auto& [b, e] : findAll(text)) {
        out.append(text.substr(last, b - last));
        out.append(replacement);
        last = e;
    }
    out.append(text.substr(last));
    return out;
}

std::string OnigRegex::escape(std::string_view literal) {
    static const std::string meta = "\\.+*?()|[]{}^$\t\n\r\v\f";
    std::string out;
    for (char c : literal) {
        if (meta.find(c) != std::string::npos) {
            switch (c) {
            case '\t': out += "\\t"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\v': out += "\\v"; continue;
            case '\f': out += "\\f"; continue;
            default: out += '\\'; break;
            }
        }
        out += c;
    }
    return out;
}

std::unique_ptr<OnigRegex> OnigRegex::fromPatternJson(const nlohmann::json& p, const std::string& where) {
    if (p.is_object()) {
        if (auto it = p.find("String"); it != p.end() && it->is_string())
            return std::make_unique<OnigRegex>(escape(it->get<std::string>()), where);
        if (auto it = p.find("Regex"); it != p.end() && it->is_string())
            return std::make_unique<OnigRegex>(it->get<std::string>(), where);
    }
    throw Error(where + ": expected {\"String\": ...} or {\"Regex\": ...}, found " + p.dump());
}

} // namespace rslora::models
