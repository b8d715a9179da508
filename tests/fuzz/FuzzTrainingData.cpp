// Fuzz target for training data files: SFT JSONL (alpaca, messages, text, prompt/completion) and
// preference JSONL (string, conversational and implicit-prompt forms), or a JSON array of records,
// through the line reader, the format detection, the chat template and truncation. The first byte
// chooses SFT or preference data, the malformed-line policy and the length limit; the rest is the file.
// Every file loads or is refused with rslora::Error; what loads must be consistent.
#include "FuzzGuard.h"
#include "models/data/SampleBuilder.h"
#include "FuzzChatTokenizer.h"

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

const char* const kChatMl =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0)
        return 0;
    static const rslora::models::Tokenizer tokenizer = fuzz::chatMlTokenizer();
    static const std::filesystem::path file =
        std::filesystem::temp_directory_path() / ("rslora-fuzz-data-" + std::to_string(::getpid()) + ".jsonl");
    const uint8_t mode = data[0];
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
    }
    rslora::models::SampleBuilderOptions options;
    options.threads = 1;
    options.templateOverride = std::string(kChatMl);
    options.malformed = (mode & 2) ? rslora::models::MalformedLinePolicy::Skip : rslora::models::MalformedLinePolicy::Fail;
    options.maxLength = (mode & 4) ? 24 : 0;
    options.trainOnPrompt = (mode & 8) != 0;
    options.maskHistory = (mode & 16) != 0;
    const rslora::models::SampleBuilder builder(tokenizer, options);
    if (mode & 1) {
        return fuzz::guarded("the preference data reader", [&] {
            const auto set = builder.loadPreferences(file);
            for (const auto& s : set.samples)
                fuzz::require(!s.chosen.empty() || !s.rejected.empty(), "a loaded pair has a response to score");
        });
    }
    return fuzz::guarded("the SFT data reader", [&] {
        const auto set = builder.loadSft(file);
        for (const auto& s : set.samples) {
            fuzz::require(s.ids.size() == s.labels.size(), "ids and labels have the same length");
            fuzz::require(options.maxLength == 0 || s.ids.size() <= options.maxLength, "truncation holds the limit");
        }
        fuzz::require(set.stats.samples == set.samples.size(), "the stats count the samples");
    });
}
