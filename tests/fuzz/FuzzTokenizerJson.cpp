// Fuzz target for the tokenizer.json loader (and, through it, the pre-tokenizer, BPE and decoder):
// any input must load or fail with rslora::Error; any other exception or a crash is a bug.
#include "FuzzGuard.h"
#include "models/tokenizer/Tokenizer.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    return fuzz::guarded("the tokenizer.json loader", [&] {
        const auto tok = rslora::models::Tokenizer::fromJsonString(text, {}, "fuzz");
        static const char* samples[] = {"Hello, world!", " it's 1234567  x\n\n", "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80",
                                        "<s>[INST] hi</s>", "\xFF\xFE bad bytes", ""};
        for (const char* s : samples) {
            const auto ids = tok.encode(s, true);
            (void)tok.decode(ids, false);
            (void)tok.decode(ids, true);
        }
        (void)tok.decode({0, 1, 2, -5, 1'000'000'000}, false);
        (void)tok.describe();
    });
}
