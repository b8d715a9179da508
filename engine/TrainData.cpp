// Training examples (see TrainData.h).
#include "engine/TrainData.h"
#include "engine/TokenizedJsonl.h"

#include "common/AtomicFile.h"

#include <algorithm>
#include <random>

namespace rslora::engine {

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
        out.push_back(tokenizedExample(l, path + ":" + std::to_string(line), vocabSize));
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
