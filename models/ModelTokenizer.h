// A model folder's tokenizer checked against the model it belongs to: every id the tokenizer can
// produce must be a row of the embedding (config.json's vocab_size), and generation stops on the
// model's eos ids as well as the tokenizer's.
#pragma once

#include "models/ModelConfig.h"
#include "models/tokenizer/Tokenizer.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace rslora::models {

// Throws naming `where` when the tokenizer's own vocabulary (added tokens aside) has more tokens than
// config.json's vocab_size: such a tokenizer is another model's. Added tokens past the rows are
// tolerated, as transformers does; their ids are refused where they are used. A tokenizer with fewer
// ids than rows is fine (Qwen: 151669 tokens, vocab_size 151936).
void checkTokenizerFitsModel(const Tokenizer& tokenizer, const ModelConfig& config, const std::string& where);

// Tokenizer::load(dir), checked against dir/config.json when the folder has one. Every place that
// loads a model and its tokenizer together goes through this (or calls the check itself).
Tokenizer loadModelTokenizer(const std::filesystem::path& dir);

// Where generation stops: the model's eos ids (config.json, then generation_config.json), then the
// tokenizer's eos when it is not among them.
std::vector<int64_t> stopTokenIds(const ModelConfig& config, const Tokenizer& tokenizer);

} // namespace rslora::models
