// Where a tokenizer's added tokens and their ids come from: tokenizer.json's added_tokens as the
// tokenizers library loads them, then the tokens transformers' PreTrainedTokenizerFast adds from
// tokenizer_config.json (added_tokens_decoder entries, and special tokens the vocabulary lacks).
#pragma once

#include "models/tokenizer/AddedVocabulary.h"
#include "models/tokenizer/TokenizerConfig.h"

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace rslora::models {

class BpeModel;

// tokenizer.json's "added_tokens" (`where` names that array in messages). The stored ids are not
// used, as in the reference: content in the model vocabulary keeps the model's id and other tokens
// get the next free id in list order; a stored id that differs is reported as a warning.
void addTokenizerJsonTokens(const nlohmann::json& addedTokens, const BpeModel& model, AddedVocabulary& vocab,
                            const std::string& where);

// What PreTrainedTokenizerFast.__init__ adds: each added_tokens_decoder entry in id order (special
// when it names a special token), then every special token (bos, eos, unk, sep, pad, cls, mask,
// additional_special_tokens) that is not an added token yet, as a special token.
void addConfigTokens(const TokenizerConfig& config, const BpeModel& model, AddedVocabulary& vocab);

} // namespace rslora::models
