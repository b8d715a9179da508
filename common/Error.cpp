#include "common/Error.h"

namespace rslora {

Error::Error(const std::string& message, std::string hint)
    : std::runtime_error(message), m_message(message), m_hint(std::move(hint)) {}

std::string Error::fullMessage() const {
    if (m_hint.empty())
        return m_message;
    return m_message + "\nhint: " + m_hint;
}

} // namespace rslora
