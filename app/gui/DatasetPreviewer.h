// Builds the data section's preview with the chosen model's tokenizer and chat template: the first
// samples as token runs (prompt tokens shaded as masked, trained tokens highlighted), and counts of
// samples, truncated samples and malformed lines over the whole file.
#pragma once

#include "ui/DataSection.h"

namespace rslora::app {

class DatasetPreviewer {
public:
    static ui::DatasetPreview preview(const QString& modelPath, const QString& dataPath, int maxSeqLen, int shown = 3);

private:
    // JSONL of {"input_ids": [...], "labels": [...]} that the engine trains on as is.
    static bool isPreTokenized(const QString& dataPath);
    static ui::DatasetPreview previewTokenized(const QString& modelPath, const QString& dataPath, int maxSeqLen, int shown);
};

} // namespace rslora::app
