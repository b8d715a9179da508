// Pre-tokenized JSONL lines (see TokenizedJsonl.h).
#include "engine/TokenizedJsonl.h"

#include "common/Error.h"
#include "common/JsonErrorText.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <limits>

namespace rslora::engine {

namespace {

// A list of token ids, each an integer: a fraction (2.5) was cut to 2, and an integer beyond 64 bits
// (read as a float) turned into another number, both silently.
std::vector<int64_t> tokenIds(const nlohmann::json& list, const char* key, const std::string& where)
{
    if (!list.is_array())
        throw Error(where + ": \"" + key + "\" must be a list of integers, found " + jsonValueText(list, 60));
    std::vector<int64_t> ids;
    ids.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
        const nlohmann::json& v = list[i];
        const bool fits = v.is_number_integer() &&
                          (!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()));
        if (!fits)
            throw Error(where + ": " + key + "[" + std::to_string(i) + "] = " + jsonValueText(v, 60) + " is not a token id (an integer)");
        ids.push_back(v.get<int64_t>());
    }
    return ids;
}

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

} // namespace

TrainExample tokenizedExample(const std::string& line, const std::string& where, int64_t vocabSize)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
        throw Error(where + ": not valid JSON (" + jsonErrorText(e) + ")");
    }
    if (!j.is_object() || !j.contains("input_ids") || !j["input_ids"].is_array())
        throw Error(where + ": expected an object with an \"input_ids\" list (pre-tokenized data); "
                    "text datasets go through the model's tokenizer and chat template");
    TrainExample e;
    e.ids = tokenIds(j["input_ids"], "input_ids", where);
    e.labels = j.contains("labels") ? tokenIds(j["labels"], "labels", where) : e.ids;
    if (e.labels.size() != e.ids.size())
        throw Error(where + ": \"labels\" has " + std::to_string(e.labels.size()) + " entries but \"input_ids\" has "
                    + std::to_string(e.ids.size()));
    if (e.ids.empty())
        throw Error(where + ": \"input_ids\" is empty");
    if (vocabSize > 0) {
        // Caught here, naming the line: past the embedding rows an id is a device-side assert on
        // CUDA once training has started.
        const std::string range = " is outside the model's vocabulary [0, " + std::to_string(vocabSize) +
                                  ") (config.json vocab_size)";
        for (size_t i = 0; i < e.ids.size(); ++i) {
            if (e.ids[i] < 0 || e.ids[i] >= vocabSize)
                throw Error(where + ": input_ids[" + std::to_string(i) + "] = " + std::to_string(e.ids[i]) + range);
            if (e.labels[i] != -100 && (e.labels[i] < 0 || e.labels[i] >= vocabSize))
                throw Error(where + ": labels[" + std::to_string(i) + "] = " + std::to_string(e.labels[i]) + range +
                            " and is not -100");
        }
    }
    return e;
}

TokenizedHead readTokenizedHead(const std::string& path, std::size_t limit)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot open " + path);
    TokenizedHead head;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (blank(line))
            continue;
        if (limit > 0 && head.examples.size() == limit) {
            head.more = true;
            break;
        }
        head.examples.push_back(tokenizedExample(line, path + ":" + std::to_string(number)));
    }
    return head;
}

} // namespace rslora::engine
