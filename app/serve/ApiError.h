// An error answered to an HTTP client in OpenAI's shape:
//   {"error": {"message": ..., "type": ..., "param": ..., "code": ...}} with a 4xx/5xx status.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace rslora::serve {

// Error types and codes, kept in one place.
namespace errtype {
inline constexpr const char* kInvalidRequest = "invalid_request_error";
inline constexpr const char* kAuthentication = "authentication_error";
inline constexpr const char* kNotFound = "not_found_error";
inline constexpr const char* kRateLimit = "rate_limit_error";
inline constexpr const char* kServer = "server_error";
} // namespace errtype

// The message is kept whole as a std::string: a client's value quoted in it may hold a NUL (JSON's
// \u0000), at which what() (a C string) would cut the answer short.
class ApiError : public std::runtime_error {
public:
    ApiError(int status, std::string message, std::string type = errtype::kInvalidRequest, std::string param = {},
             std::string code = {})
        : std::runtime_error(message), m_status(status), m_message(std::move(message)), m_type(std::move(type)),
          m_param(std::move(param)), m_code(std::move(code))
    {
    }
    int status() const { return m_status; }
    const std::string& message() const { return m_message; }
    nlohmann::json body() const
    {
        auto orNull = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
        return {{"error", {{"message", m_message}, {"type", m_type}, {"param", orNull(m_param)}, {"code", orNull(m_code)}}}};
    }

private:
    int m_status;
    std::string m_message, m_type, m_param, m_code;
};

} // namespace rslora::serve
