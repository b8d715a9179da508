// Training examples (see TrainData.h).
#include "engine/TrainData.h"

#include "common/AtomicFile.h"
#include "common/Error.h"
#include "common/JsonErrorText.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <random>

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

} // namespace

std::vector<TrainExample> loadTokenizedJsonl(const std::string& path, int64_t vocabSize)
{
    const std::string text = readFile(path);
    std::vector<TrainExample> out;
    size_t start = 0;
    int line = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        ++line;
        const std::string l = text.substr(start, end - start);
        start = end + 1;
        if (l.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        const std::string where = path + ":" + std::to_string(line);
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(l);
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
        out.push_back(std::move(e));
    }
    return out;
}

int64_t supervisedTokens(const TrainExample& e, int maxSeqLen)
{
    const size_t n = std::min(e.labels.size(), size_t(std::max(0, maxSeqLen)));
    int64_t count = 0;
    for (size_t i = 1; i < n; ++i)
        count += e.labels[i] != -100;
    return count;
}

DatasetFacts datasetFacts(const std::string& path, const std::vector<TrainExample>& examples, int maxSeqLen)
{
    DatasetFacts f;
    f.path = path;
    f.samples = int64_t(examples.size());
    for (const auto& e : examples)
        f.supervisedTokens += supervisedTokens(e, maxSeqLen);
    return f;
}

std::vector<size_t> epochOrder(size_t count, uint64_t seed, int epoch, bool shuffle)
{
    std::vector<size_t> order(count);
    for (size_t i = 0; i < count; ++i)
        order[i] = i;
    if (!shuffle || count < 2)
        return order;
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + uint64_t(epoch) + 1);
    for (size_t i = count - 1; i > 0; --i) {
        const size_t j = size_t(rng() % (i + 1));
        std::swap(order[i], order[j]);
    }
    return order;
}

size_t validationCount(size_t count, double fraction)
{
    if (fraction <= 0.0 || count < 2)
        return 0;
    return std::max<size_t>(1, size_t(double(count) * fraction));
}

std::vector<bool> validationMask(size_t count, double fraction, uint64_t seed)
{
    const size_t n = validationCount(count, fraction);
    if (n == 0)
        return {};
    const auto order = epochOrder(count, seed ^ 0x5151, -1, true);
    std::vector<bool> isVal(count, false);
    for (size_t i = 0; i < n; ++i)
        isVal[order[i]] = true;
    return isVal;
}

} // namespace rslora::engine
