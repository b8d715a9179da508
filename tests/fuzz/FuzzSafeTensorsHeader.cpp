// Fuzz target for the safetensors header parser: any byte string must either
// parse into spans that lie inside the input, or raise rslora::Error. Crashes, hangs, sanitizer
// reports and escaped exceptions are failures.
#include "FuzzGuard.h"
#include "models/SafeTensorsHeader.h"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return fuzz::guarded("the safetensors header parser", [&] {
        auto header = rslora::models::SafeTensorsHeader::parse(data, size, size, "fuzz.safetensors");
        uint64_t expected = 0;
        for (const auto& t : header.tensors()) {
            // Validated spans are contiguous and inside the input.
            fuzz::require(t.begin == expected && t.end >= t.begin && header.dataStart() + t.end <= size,
                          "tensor spans are contiguous and inside the input");
            expected = t.end;
            fuzz::require(header.find(t.name) == &t, "every tensor is found by its name");
        }
        fuzz::require(header.dataStart() + expected == size, "the spans cover the data exactly");
    });
}
