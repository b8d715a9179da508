// libFuzzer target for the safetensors header parser (RSLORA_FUZZ): any byte string must either
// parse into spans that lie inside the input, or raise rslora::Error. Crashes, hangs, sanitizer
// reports and escaped exceptions are failures.
#include "models/SafeTensorsHeader.h"

#include "common/Error.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto header = rslora::models::SafeTensorsHeader::parse(data, size, size, "fuzz.safetensors");
        uint64_t expected = 0;
        for (const auto& t : header.tensors()) {
            // Validated spans are contiguous and inside the input.
            if (t.begin != expected || t.end < t.begin || header.dataStart() + t.end > size)
                std::abort();
            expected = t.end;
            if (header.find(t.name) != &t)
                std::abort();
        }
        if (header.dataStart() + expected != size)
            std::abort();
    } catch (const rslora::Error&) {
    }
    return 0;
}
