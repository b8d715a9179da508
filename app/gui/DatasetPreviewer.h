// Builds the data section's preview with the chosen model's tokenizer and chat template: the first
// samples as decoded text cut into tokens (alternating shades mark token boundaries; prompt tokens
// grey as masked, trained tokens green), and counts of samples, truncated samples and unusable lines
// over the file's first kRecords records (the window waits for the preview; a run reads the whole
// file before it starts). Unusable lines are an error naming them: a run stops at the first one.
#pragma once

#include "ui/DataSection.h"

namespace rslora::app {

class DatasetPreviewer {
public:
    // Records read at most: about 0.2 s for 5,000 short demo records on a loaded 2-core machine.
    static constexpr int kRecords = 5000;

    static ui::DatasetPreview preview(const QString& modelPath, const QString& dataPath, int maxSeqLen, int shown = 3);

    // A reader's message in words: the JSON library's "[json.exception.parse_error.101] parse error
    // at line 1, column 5: ..." becomes "at column 5: ...".
    static QString plainMessage(const std::string& message);

private:
    // JSONL of {"input_ids": [...], "labels": [...]} that the engine trains on as is.
    static bool isPreTokenized(const QString& dataPath);
    static ui::DatasetPreview previewTokenized(const QString& modelPath, const QString& dataPath, int maxSeqLen, int shown);
};

} // namespace rslora::app
