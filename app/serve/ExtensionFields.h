// vLLM's and OpenAI's request fields beyond those OpenAiRequest reads, which would change the answer
// (beam search, min_p, stop token ids, guided decoding, a chat template or its arguments per request,
// a prompt that is not closed with the generation prompt, ...). Each is refused with a 400 naming it
// unless it holds the value that asks for what this server does anyway (false, 0, [], null or the
// route's default), so that a client relying on one is not answered as if it had been applied: they
// were ignored like any unknown field. Fields that change nothing in the answer (user, store, metadata,
// priority, request_id, ...) stay ignored, as vLLM ignores the fields it does not know.
#pragma once

#include <nlohmann/json.hpp>

namespace rslora::serve {

// Throws ApiError 400 naming the first such field of `body` (chat: /v1/chat/completions).
void refuseUnhonouredExtensions(const nlohmann::json& body, bool chat);

} // namespace rslora::serve
