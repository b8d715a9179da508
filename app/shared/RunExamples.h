// Examples for trying adapters by hand: the records of a run's validation data (or, when the run
// split its validation set off the training data, of the training data) as a prompt, its turns and
// the reference answer the data gives. No Qt.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace rslora::app {

struct RunExample {
    std::string promptText;                                  // the last user turn (or the prompt)
    std::vector<std::pair<std::string, std::string>> turns;  // (role, content) before the reference
    std::string reference;                                   // the answer the data gives
    std::size_t index = 0;                                   // the record's index in the file
    std::size_t line = 0;                                    // its line
    std::string where;                                       // "chat_val.jsonl line 3"
};

class RunExamples {
public:
    // The examples' file of a run from its stored config JSON; throws rslora::Error when the config
    // names no data.
    static std::filesystem::path sourceOf(const std::string& configJson, bool* isValidation = nullptr);

    // Record `index` (wrapping around) of `file`: SFT records in any supported format (alpaca,
    // messages, prompt/completion) or preference pairs (the chosen answer is the reference). Throws
    // rslora::Error naming the file and line for a file without usable records.
    static RunExample at(const std::filesystem::path& file, std::size_t index);
};

} // namespace rslora::app
