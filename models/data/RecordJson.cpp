// A SAX pass over the DOM builder that notes integer literals nlohmann can only hold as floats.
#include "models/data/RecordJson.h"

namespace rslora::models {

namespace {

using ojson = nlohmann::ordered_json;

// An integer literal (no fraction, no exponent) that reached number_float: beyond int64/uint64.
bool isIntegerLiteral(const std::string& lexeme) {
    return lexeme.find_first_of(".eE") == std::string::npos;
}

class LargeIntegerSax : public nlohmann::detail::json_sax_dom_parser<ojson> {
public:
    using Base = nlohmann::detail::json_sax_dom_parser<ojson>;
    explicit LargeIntegerSax(RecordJson& out) : Base(out.value, true), m_out(out) {}

    bool null() { return value() && Base::null(); }
    bool boolean(bool b) { return value() && Base::boolean(b); }
    bool number_integer(ojson::number_integer_t v) { return value() && Base::number_integer(v); }
    bool number_unsigned(ojson::number_unsigned_t v) { return value() && Base::number_unsigned(v); }
    bool number_float(ojson::number_float_t v, const std::string& lexeme) {
        value();
        if (isIntegerLiteral(lexeme))
            m_out.largeIntegers.emplace(m_element, lexeme);
        return Base::number_float(v, lexeme);
    }
    bool string(std::string& s) { return value() && Base::string(s); }
    bool binary(ojson::binary_t& b) { return value() && Base::binary(b); }
    bool start_object(std::size_t n) {
        value();
        ++m_depth;
        return Base::start_object(n);
    }
    bool end_object() {
        --m_depth;
        return Base::end_object();
    }
    bool start_array(std::size_t n) {
        value();
        if (m_depth == 0)
            m_topArray = true;
        ++m_depth;
        return Base::start_array(n);
    }
    bool end_array() {
        --m_depth;
        return Base::end_array();
    }

private:
    // Counts the elements of a top-level array: a value that starts at depth 1 is the next one.
    bool value() {
        if (m_topArray && m_depth == 1)
            m_element = m_started++;
        return true;
    }

    RecordJson& m_out;
    int m_depth = 0;
    bool m_topArray = false;
    std::size_t m_started = 0;
    std::size_t m_element = 0;
};

} // namespace

RecordJson RecordJson::parse(const std::string& text) {
    RecordJson out;
    LargeIntegerSax sax(out);
    ojson::sax_parse(text, &sax, nlohmann::detail::input_format_t::json, /*strict=*/true);
    return out;
}

std::string RecordJson::largeIntegerMessage(const std::string& where, const std::string& literal) {
    return where + ": integer " + literal +
           " is beyond 64 bits: Python reads it exactly, here it could only be a rounded float (write it as a string)";
}

} // namespace rslora::models
