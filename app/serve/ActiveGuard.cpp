#include "app/serve/ActiveGuard.h"

#include "app/serve/ApiError.h"

#include <string>

namespace rslora::serve {

ActiveGuard::ActiveGuard(std::atomic<int>& count, int limit, int generations) : m_count(count), m_generations(generations)
{
    if (generations > limit)
        throw ApiError(400, "'prompt': " + std::to_string(generations) + " prompts in one request, more than the " +
                                std::to_string(limit) + " generations the server runs at once (--max-concurrent)",
                       errtype::kInvalidRequest, "prompt");
    if ((m_count += generations) > limit) {
        m_count -= generations;
        throw ApiError(429, "the server is already running " + std::to_string(limit) +
                                " requests (--max-concurrent); retry later",
                       errtype::kRateLimit, {}, "too_many_requests");
    }
}

} // namespace rslora::serve
