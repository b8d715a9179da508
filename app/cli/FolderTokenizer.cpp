// A model folder's tokenizer, or why there is none (see FolderTokenizer.h).
#include "app/cli/FolderTokenizer.h"

#include "common/Error.h"
#include "models/ModelTokenizer.h"

namespace rslora::cli {

std::optional<models::Tokenizer> tryTokenizer(const std::filesystem::path& dir, std::string* problem) {
    if (!models::Tokenizer::existsIn(dir)) {
        if (problem)
            *problem = "none (no tokenizer.json, nor vocab.json + merges.txt)";
        return std::nullopt;
    }
    try {
        return models::loadModelTokenizer(dir);
    } catch (const Error& e) {
        if (problem)
            *problem = std::string("unreadable: ") + e.what();
        return std::nullopt;
    }
}

} // namespace rslora::cli
