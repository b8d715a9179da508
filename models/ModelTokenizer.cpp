// The tokenizer of a model folder against its config.json (see ModelTokenizer.h).
#include "models/ModelTokenizer.h"

#include "common/Error.h"

#include <algorithm>

namespace rslora::models {

void checkTokenizerFitsModel(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& where) {
    // The tokenizer's own vocabulary must fit the embedding rows; more tokens than rows means the
    // tokenizer belongs to another model. Added tokens past the rows are tolerated, as transformers
    // does (a <pad> added without resizing the embeddings): text that encodes to one is refused where
    // it is used (training data when it is read, a prompt at its forward pass).
    const auto own = static_cast<int64_t>(tokenizer.vocabSize(false));
    if (own <= config.vocabSize)
        return;
    throw Error(where + ": the tokenizer has " + std::to_string(own) + " tokens but config.json vocab_size is " +
                    std::to_string(config.vocabSize),
                "every token id must be below vocab_size; is the tokenizer from another model?");
}

Tokenizer loadModelTokenizer(const std::filesystem::path& dir) {
    Tokenizer tokenizer = Tokenizer::load(dir);
    const std::filesystem::path configPath = dir / "config.json";
    if (std::filesystem::is_directory(dir) && std::filesystem::is_regular_file(configPath))
        checkTokenizerFitsModel(tokenizer, ModelConfig::fromFile(configPath), dir.string());
    return tokenizer;
}

std::vector<int64_t> stopTokenIds(const ModelConfig& config, const Tokenizer& tokenizer) {
    std::vector<int64_t> ids = config.eosTokenIds;
    if (const auto eos = tokenizer.eosId(); eos && std::find(ids.begin(), ids.end(), *eos) == ids.end())
        ids.push_back(*eos);
    return ids;
}

} // namespace rslora::models
