// A model folder's tokenizer for the commands that can do without one (inspect, generate --ids).
#pragma once

#include "models/tokenizer/Tokenizer.h"

#include <filesystem>
#include <optional>
#include <string>

namespace rslora::cli {

// The folder's tokenizer by the loader's own rule (tokenizer.json, or vocab.json + merges.txt),
// checked against config.json's vocab_size; nullopt with the reason when there is none or it is unusable.
std::optional<models::Tokenizer> tryTokenizer(const std::filesystem::path& dir, std::string* problem = nullptr);

} // namespace rslora::cli
