// Pre-tokenized JSONL lines {"input_ids": [...], "labels": [...]}: one line checked and read as
// training reads it (loadTokenizedJsonl in TrainData.h reads a whole file with it), and the first
// examples of a file for a preview that need not read it all.
#pragma once

#include "engine/TrainData.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rslora::engine {

// One line (not blank); `where` ("data.jsonl:7") names it in errors. Throws rslora::Error for a line
// that is not such an object, for ids that are not integers, labels of another length, no ids, and
// with `vocabSize` > 0 for an id outside [0, vocabSize) or a label neither -100 nor such an id.
TrainExample tokenizedExample(const std::string& line, const std::string& where, int64_t vocabSize = 0);

struct TokenizedHead {
    std::vector<TrainExample> examples;
    bool more = false; // the file holds further lines that are not blank
};

// The first `limit` examples of a pre-tokenized JSONL file (0: all), read line by line; an unusable
// line among them throws as loadTokenizedJsonl throws for it.
TokenizedHead readTokenizedHead(const std::string& path, std::size_t limit);

} // namespace rslora::engine
