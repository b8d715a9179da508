// The small byte-level tokenizer with ChatML special tokens that the fuzz targets reading chats
// (training data, server requests) encode with.
#pragma once

#include "tests/tokenizer/TestTokenizers.h"

namespace fuzz {

inline rslora::models::Tokenizer chatMlTokenizer()
{
    testtok::ByteLevelSpec spec;
    spec.words = {"Ġt", "he", "Ġthe", "in", "Ġa"};
    spec.merges = {{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"Ġ", "a"}};
    spec.addedTokens = {testtok::addedToken("<|im_start|>"), testtok::addedToken("<|im_end|>")};
    rslora::models::TokenizerConfig config;
    config.eosToken = "<|im_end|>";
    return testtok::make(testtok::byteLevelJson(spec), config);
}

} // namespace fuzz
