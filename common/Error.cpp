#include "common/Error.h"

namespace rslora {

Error::Error(const std::string& message, std::string hint)
    : std::runtime_error(message), m_hint(std::move(hint)) {}

std::string Error::fullMessage() const {
    if (m_hint.empty())
        return what();
    return std::string(what()) + "\nhint: " + m_hint;
}

} // namespace rslora
