// Fuzz target for the chat-template interpreter: model folders bring their own Jinja templates, so
// any template text must parse and render or fail with rslora::Error, within the render limits.
#include "FuzzGuard.h"
#include "models/chat/JinjaTemplate.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const nlohmann::ordered_json context = nlohmann::ordered_json::parse(R"({
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <b>"},
                     {"role": "assistant", "content": "<think>x</think>Hello", "tool_calls": [{"type": "function",
                      "function": {"name": "f", "arguments": {"a": 1}}}]}, {"role": "user", "content": "Bye"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})");
    rslora::models::jinja::RenderLimits limits;
    limits.maxOutputBytes = 1 << 20;
    limits.maxLoopIterations = 100000;
    limits.maxSteps = 200000;
    limits.maxCallDepth = 50;
    return fuzz::guarded("the template engine", [&] {
        const rslora::models::jinja::Template t(std::string(reinterpret_cast<const char*>(data), size));
        (void)t.render(context, limits);
    });
}
