#include "app/gui/DatasetPreviewer.h"

#include "engine/TrainData.h"
#include "models/data/JsonlReader.h"
#include "models/data/SampleBuilder.h"
#include "models/tokenizer/Tokenizer.h"

#include <QFileInfo>

namespace rslora::app {

bool DatasetPreviewer::isPreTokenized(const QString& dataPath) {
    bool tokenized = false;
    bool first = true;
    models::JsonlReader::read(
        dataPath.toStdString(), models::MalformedLinePolicy::Skip,
        [&](const models::JsonRecord& r) {
            if (first)
                tokenized = r.value.is_object() && r.value.contains("input_ids");
            first = false;
        },
        [](std::size_t, const std::string&) {});
    return tokenized;
}

ui::DatasetPreview DatasetPreviewer::previewTokenized(const QString& modelPath, const QString& dataPath, int maxSeqLen, int shown) {
    ui::DatasetPreview out;
    out.format = "tokenized";
    std::vector<engine::TrainExample> examples = engine::loadTokenizedJsonl(dataPath.toStdString());
    out.samples = static_cast<qint64>(examples.size());
    for (const auto& e : examples)
        if (maxSeqLen > 0 && static_cast<int>(e.ids.size()) > maxSeqLen)
            ++out.truncated;
    // The model's tokenizer, when it has one, shows the tokens as text.
    std::optional<models::Tokenizer> tokenizer;
    try {
        tokenizer = models::Tokenizer::load(modelPath.toStdString());
    } catch (const std::exception&) {
    }
    QString html = QObject::tr("<p style='color:gray'>Pre-tokenized samples. Shaded ids are masked (label −100); "
                               "<span style='background:#c8e6c9'>highlighted</span> ids are trained.</p>");
    for (int i = 0; i < shown && i < static_cast<int>(examples.size()); ++i) {
        const auto& e = examples[static_cast<size_t>(i)];
        html += QObject::tr("<p><b>sample %1</b> · %2 tokens<br><span style='font-family:monospace'>").arg(i + 1).arg(e.ids.size());
        for (size_t t = 0; t < e.ids.size(); ++t) {
            const bool trained = t < e.labels.size() && e.labels[t] != models::kIgnoreIndex;
            QString piece = tokenizer ? QString::fromStdString(tokenizer->decode({e.ids[t]})) : QString::number(e.ids[t]) + " ";
            html += QString("<span style='background:%1; color:%2'>%3</span>")
                        .arg(trained ? "#c8e6c9" : "#eeeeee", trained ? "#1b5e20" : "#757575", piece.toHtmlEscaped());
        }
        html += "</span></p>";
    }
    out.html = html;
    return out;
}

ui::DatasetPreview DatasetPreviewer::preview(const QString& modelPath, const QString& dataPath, int maxSeqLen, int shown) {
    ui::DatasetPreview out;
    if (!QFileInfo::exists(dataPath)) {
        out.error = QObject::tr("%1 does not exist").arg(dataPath);
        return out;
    }
    try {
        if (isPreTokenized(dataPath))
            return previewTokenized(modelPath, dataPath, maxSeqLen, shown);
        models::Tokenizer tokenizer = models::Tokenizer::load(modelPath.toStdString());
        models::SampleBuilderOptions options;
        options.maxLength = static_cast<std::size_t>(std::max(0, maxSeqLen));
        options.malformed = models::MalformedLinePolicy::Skip;
        models::SampleBuilder builder(tokenizer, options);
        models::SftDataset all = builder.loadSft(dataPath.toStdString());
        out.format = QString::fromLatin1(models::sampleFormatName(all.stats.format));
        out.samples = static_cast<qint64>(all.stats.samples);
        out.truncated = static_cast<qint64>(all.stats.truncatedSamples);
        out.skipped = static_cast<qint64>(all.stats.skipped);
        if (all.stats.samples == 0) {
            out.error = QObject::tr("%1 has no usable samples%2").arg(dataPath,
                all.stats.problems.empty() ? QString() : ": " + QString::fromStdString(all.stats.problems.front()));
            return out;
        }
        QString html = QObject::tr("<p style='color:gray'>Shaded tokens are prompt (masked, label −100); "
                                   "<span style='background:#c8e6c9'>highlighted</span> tokens are trained.</p>");
        int count = 0;
        models::JsonlReader::read(
            dataPath.toStdString(), models::MalformedLinePolicy::Skip,
            [&](const models::JsonRecord& record) {
                if (count >= shown)
                    return;
                models::SamplePreview p = builder.preview(record.value, record.where);
                html += QString("<p><b>%1</b> · %2 tokens%3<br><span style='font-family:monospace; white-space:pre-wrap'>")
                            .arg(QString::fromStdString(record.where).toHtmlEscaped())
                            .arg(p.tokens.size())
                            .arg(p.truncatedTokens ? QObject::tr(" (%1 cut)").arg(p.truncatedTokens) : QString());
                for (const auto& t : p.tokens) {
                    QString piece = t.end > t.begin ? QString::fromUtf8(p.text.data() + t.begin, static_cast<int>(t.end - t.begin))
                                                    : QString::fromStdString(t.piece);
                    const bool trained = t.label != models::kIgnoreIndex;
                    html += QString("<span style='background:%1; color:%2' title='id %3'>%4</span>")
                                .arg(trained ? "#c8e6c9" : "#eeeeee", trained ? "#1b5e20" : "#757575")
                                .arg(t.id)
                                .arg(piece.toHtmlEscaped().replace("\n", "↵<br>"));
                }
                html += "</span></p>";
                ++count;
            },
            [](std::size_t, const std::string&) {});
        out.html = html;
    } catch (const std::exception& e) {
        out.error = QString::fromStdString(e.what());
    }
    return out;
}

} // namespace rslora::app
