// What the tests of a whole workbench share: a set-up of its own (no dialogs, a private data folder
// and settings) and a tiny random Llama saved as a model folder.
#pragma once

#include "models/ModelConfig.h"
#include "models/ModelLoader.h"

#include <QSettings>
#include <QString>
#include <QTemporaryDir>

namespace workbenchtest {

// No modal dialog, the data folder and the remembered form kept to `dir`.
inline void isolate(const QTemporaryDir& dir)
{
    qputenv("RSLORA_NO_DIALOGS", "1");
    qputenv("RSLORA_HOME", dir.filePath("home").toUtf8());
    QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, dir.filePath("settings"));
}

// A two-layer Llama of hidden size 32 and a vocabulary of 64, saved in `folder`; returns `folder`.
inline QString saveTinyLlama(const QString& folder)
{
    const rslora::models::ModelConfig c = rslora::models::ModelConfig::fromJson(
        {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 32}, {"intermediate_size", 64},
         {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"vocab_size", 64},
         {"rms_norm_eps", 1e-5}, {"max_position_embeddings", 64}},
        "test config");
    rslora::models::createCausalLM(c, 7)->saveModelFolder(folder.toStdString());
    return folder;
}

} // namespace workbenchtest
