// What the tests of real `rslora` processes share: the executable (RSLORA_CLI), running it, and a
// tiny saved model with a small dataset of facts to train on in a few seconds.
#pragma once

#include "models/ModelLoader.h"

#include <QProcess>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <filesystem>
#include <fstream>

namespace clitest {

struct Outcome {
    int code = -1; // -1: killed or timed out
    QString out, err;
};

inline QString cli() { return QString::fromLocal8Bit(qgetenv("RSLORA_CLI")); }

inline Outcome run(const QStringList& args, int timeoutMs = 180000)
{
    QProcess p;
    p.start(cli(), args);
    p.waitForFinished(timeoutMs);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

// A two-layer Llama-shaped model with random weights from `seed`, saved as a Hugging Face folder.
inline void saveTinyModel(const std::filesystem::path& dir, uint64_t seed)
{
    rslora::models::ModelConfig c;
    c.vocabSize = 40;
    c.hiddenSize = 48;
    c.intermediateSize = 96;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKvHeads = 2;
    c.headDim = 12;
    c.maxPositionEmbeddings = 64;
    c.eosTokenIds = {2};
    c.bosTokenId = 1;
    rslora::models::createCausalLM(c, seed)->saveModelFolder(dir);
}

// `records` pre-tokenized examples (input_ids, labels) for that model: learn to repeat a token.
inline void writeFacts(const std::filesystem::path& file, int records)
{
    std::ofstream data(file);
    for (int i = 0; i < records; ++i)
        data << "{\"input_ids\": [1, " << 4 + i % 30 << ", " << 5 + i % 29 << ", 3, " << 5 + i % 29 << ", 2], "
             << "\"labels\": [-100, -100, -100, -100, " << 5 + i % 29 << ", 2]}\n";
}

} // namespace clitest
