// Error type thrown inside the core libraries; converted to a message or status at the edges.
#pragma once

#include <stdexcept>
#include <string>

namespace rslora {

// A failure the user can act on. what() says what was expected, what was found, and where
// (file, line, tensor). hint() optionally says what to do about it.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, std::string hint = {});
    const std::string& hint() const noexcept { return m_hint; }
    // The message whole. what() is a C string: it ends at a NUL byte that a quoted value (a client's
    // text, a file's bytes) may hold.
    const std::string& message() const noexcept { return m_message; }
    // message() followed by "\nhint: ..." when a hint exists.
    std::string fullMessage() const;

private:
    std::string m_message;
    std::string m_hint;
};

} // namespace rslora
