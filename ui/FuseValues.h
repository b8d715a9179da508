// Values the Fuse… and Export merged model… dialogs are fed with and hand out: the versions picked,
// the settings the user typed, and the results shown (error preview, grid-search scores). Plain
// copyable structs, so that they cross from the worker thread to the dialog by value.
#pragma once

#include <QList>
#include <QString>
#include <QVector>

#include <optional>

namespace rslora::ui {

// One adapter version picked in the Adapters view.
struct FuseSource {
    qint64 adapterId = 0;   // 0: a folder outside the store
    QString label;          // "medical v3"
    QString path;           // the PEFT folder
    QString baseModel;      // the base model folder recorded with it ("" when unknown)
    QString baseFingerprint;
    qint64 rank = 0;        // 0: unknown
};

// What the user chose on the fuse tab.
struct FuseSettings {
    QString method;                  // exact, svd, ties, dare_linear, dare_ties, magnitude_prune
    QVector<double> weights;         // one per source, in the sources' order
    std::optional<qint64> rank;      // target rank (methods that re-compress)
    std::optional<double> energy;    // or the fraction of energy kept (neither: the largest source rank)
    std::optional<double> density;   // ties, magnitude_prune
    std::optional<double> drop;      // dare_linear, dare_ties
    std::optional<quint64> seed;     // dare_*
    QString outputName;              // the new version's name ("": the store's default)
    QString task;                    // the task it joins ("": "fused")
};

// The error report of a fusion, per module and overall (relative Frobenius error against the exact sum).
struct FusePreview {
    struct Module {
        QString name;
        qint64 rank = 0;
        double relativeError = 0;
    };
    QVector<Module> modules;
    double overallError = 0;
    qint64 exactRank = 0;
    qint64 resultRank = 0;
};

// Grid search: a range per source (from == to keeps that weight fixed), scored on validation data.
struct GridAxis {
    double from = 0;
    double to = 1;
    double step = 0.25;
};
struct GridSettings {
    FuseSettings fuse;               // method and method settings of the fusion being searched
    QVector<GridAxis> axes;          // one per source
    QString dataFile;
    QString metric;                  // loss, exact_match, multiple_choice
};
struct GridOutcome {
    QVector<QVector<double>> weights; // per point, one weight per source
    QVector<double> scores;           // per point (NaN when it could not be scored)
    int best = -1;                    // index of the best point
    bool higherIsBetter = false;      // loss: lower is better
    QString metric;
    int recorded = 0;                 // stored versions the result was kept with as evaluations
};

// Export merged model…: base + Σ λᵢ ΔWᵢ written as a complete model folder.
struct MergeExportSettings {
    QString modelDir;
    QVector<double> weights;          // one per source
    QString dtype;                    // float32, bfloat16, float16; empty: the base model's own
    qint64 maxShardBytes = 0;         // 0: one file
    QString outDir;
};

} // namespace rslora::ui
