// Plain values the Playground view exchanges with the application: the adapter versions a column can
// use, the sampling settings, one generation request for every column, and what a column produced.
#pragma once

#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>

namespace rslora::ui {

// A stored adapter version a column can pick (fused versions are versions too).
struct PlaygroundVersion {
    qint64 id = 0;
    QString label;      // "task@v3 · name"
    QString reference;  // "task@v3"
    QString baseModel;  // the base model folder it was trained on
    bool gate = false;  // a stored learned gate (stage "gate"), offered by "Use a gate", not as an adapter
    QString path;       // a gate's folder in the store
};

// One adapter of a column's set with its weight; an empty set is the base model alone.
struct PlaygroundAdapter {
    qint64 versionId = 0;
    QString reference;
    double weight = 1.0;
};

struct PlaygroundSettings {
    int maxNewTokens = 64;
    double temperature = 0.0; // 0: greedy
    int topK = 0;
    double topP = 1.0;
    double repetitionPenalty = 1.0;
    qint64 seed = 0;
    QStringList stopStrings;
};

struct PlaygroundTurn {
    QString role; // "system", "user", "assistant"
    QString content;
};

// What one column runs: its adapters and, in chat mode, its own conversation so far (the user's new
// message last).
struct PlaygroundColumnRequest {
    QList<PlaygroundAdapter> adapters;
    // A learned gate's folder (rslora gate train): its adapters, weighted per prompt by the gate,
    // replace `adapters`.
    QString gatePath;
    qint64 gateVersionId = 0; // the gate is this stored version (0: a folder chosen by hand)
    QList<PlaygroundTurn> conversation;
};

struct PlaygroundRequest {
    QString modelPath;
    bool chat = false;
    QString prompt; // prompt mode: the raw text continued by the model
    PlaygroundSettings settings;
    QList<PlaygroundColumnRequest> columns;
};

struct PlaygroundColumnResult {
    QString text;
    int tokens = 0;
    int promptTokens = 0;
    double seconds = 0;
    double firstTokenSeconds = 0;
    QString finishReason; // "stop", "length", "cancelled", "error"
    QString error;
    // A gate column: the weights the gate gave this prompt, per adapter label.
    QList<QPair<QString, double>> gateWeights;
};

} // namespace rslora::ui
