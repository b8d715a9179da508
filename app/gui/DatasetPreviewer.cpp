#include "app/gui/DatasetPreviewer.h"

#include "engine/TokenizedJsonl.h"
#include "models/data/JsonlHead.h"
#include "models/data/SampleBuilder.h"
#include "models/tokenizer/Tokenizer.h"

#include <QFileInfo>
#include <QRegularExpression>

#include <algorithm>
#include <optional>

namespace rslora::app {

bool DatasetPreviewer::isPreTokenized(const QString& dataPath) {
    bool tokenized = false;
    bool first = true;
    models::JsonlHead::read(
        dataPath.toStdString(), kRecords,
        [&](const models::JsonRecord& r) {
            if (first)
                tokenized = r.value.is_object() && r.value.contains("input_ids");
            first = false;
        },
        [](std::size_t, const std::string&) {});
    return tokenized;
}

namespace {

// Token boundaries: neighbouring tokens alternate between two shades of their kind.
QString tokenSpan(const QString& text, bool trained, size_t index, const QString& title) {
    static const char* masked[] = {"#eeeeee", "#dcdcdc"};
    static const char* learned[] = {"#c8e6c9", "#a5d6a7"};
    QString html = text.toHtmlEscaped();
    html.replace("\n", "<br>");
    return QString("<span style='background:%1; color:%2' title='%3'>%4</span>")
        .arg(trained ? learned[index % 2] : masked[index % 2], trained ? "#1b5e20" : "#616161", title.toHtmlEscaped(), html);
}

QString legend(const QString& what) {
    return QObject::tr("<p style='color:gray'>%1 <span style='background:#eeeeee'>Grey</span> tokens are prompt (masked, label −100); "
                       "<span style='background:#c8e6c9'>green</span> tokens are trained. Shades alternate at each token boundary.</p>")
        .arg(what);
}

// Counts of a file without one usable sample among its first records: its lines that cannot be read
// or built, with messages.
models::BuildStats unusableLines(const models::SampleBuilder& builder, const QString& dataPath) {
    models::BuildStats stats;
    auto problem = [&stats](const std::string& message) {
        ++stats.skipped;
        if (stats.problems.size() < 20)
            stats.problems.push_back(message);
    };
    stats.moreRecords = models::JsonlHead::read(
        dataPath.toStdString(), DatasetPreviewer::kRecords,
        [&](const models::JsonRecord& record) {
            ++stats.records;
            try {
                const models::TokenizedSample s = builder.buildSft(record.value, record.where);
                if (std::none_of(s.labels.begin(), s.labels.end(), [](int64_t l) { return l != models::kIgnoreIndex; }))
                    ++stats.droppedWithoutTargets;
            } catch (const std::exception& e) {
                problem(e.what());
            }
        },
        [&](std::size_t, const std::string& message) {
            ++stats.records;
            problem(message);
        });
    return stats;
}

// The error for unusable lines (a run stops at the first) or for a file without samples.
void describeProblems(const models::BuildStats& stats, const QString& file, ui::DatasetPreview& out) {
    if (stats.skipped > 0) {
        // Training reads every line and stops at the first unusable one, so any is an error.
        static const QRegularExpression lineNumber(R"( (line|element) (\d+))");
        QStringList lines;
        for (const auto& p : stats.problems) {
            const auto m = lineNumber.match(QString::fromStdString(p));
            if (m.hasMatch())
                lines << m.captured(2);
        }
        QString list = (lines.size() == 1 ? QObject::tr("line ") : QObject::tr("lines ")) + lines.join(", ");
        if (stats.skipped > static_cast<std::size_t>(lines.size()))
            list += QObject::tr(" and %1 more").arg(stats.skipped - static_cast<std::size_t>(lines.size()));
        const QString first = stats.problems.empty() ? QString() : DatasetPreviewer::plainMessage(stats.problems.front());
        if (stats.samples == 0 && stats.moreRecords)
            out.error = QObject::tr("none of the first %1 records of %2 is a usable sample (%3 cannot be used). %4")
                            .arg(stats.records)
                            .arg(file, list, first);
        else if (stats.samples == 0)
            out.error = QObject::tr("no line of %1 is a usable sample (%2 cannot be used). %3").arg(file, list, first);
        else
            out.error = QObject::tr("%1 of %2 cannot be used, and a run stops at the first; fix or remove %3. %4")
                            .arg(list, file, stats.skipped == 1 ? QObject::tr("it") : QObject::tr("them"), first);
    } else if (stats.samples == 0) {
        const QString where = stats.moreRecords ? QObject::tr("the first %1 records of %2 hold").arg(stats.records).arg(file)
                                                : QObject::tr("%1 holds").arg(file);
        out.error = QObject::tr("%1 no usable samples%2")
                        .arg(where, stats.droppedWithoutTargets ? QObject::tr(": every sample's labels are masked") : QString());
    }
    out.samples = static_cast<qint64>(stats.samples);
    out.recordsRead = static_cast<qint64>(stats.records);
    out.moreRecords = stats.moreRecords;
    out.truncated = static_cast<qint64>(stats.truncatedSamples);
    out.skipped = static_cast<qint64>(stats.skipped);
}

// Whether the file's first readable record is a preference pair.
bool holdsPreferences(const QString& dataPath) {
    bool preference = false, first = true;
    models::JsonlHead::read(
        dataPath.toStdString(), DatasetPreviewer::kRecords,
        [&](const models::JsonRecord& r) {
            if (first)
                preference = models::SampleBuilder::detectFormat(r.value) == models::SampleFormat::Preference;
            first = false;
        },
        [](std::size_t, const std::string&) {});
    return preference;
}

// One response's (or the prompt's) tokens, decoded one by one.
QString tokenRun(const models::Tokenizer& tokenizer, const std::vector<int64_t>& ids, bool trained) {
    models::DecodeStream stream(tokenizer, false);
    QString html;
    for (size_t i = 0; i < ids.size(); ++i) {
        const std::string piece = stream.step(ids[i]);
        html += tokenSpan(QString::fromStdString(piece), trained, i,
                          QString("id %1 %2").arg(ids[i]).arg(QString::fromStdString(tokenizer.idToToken(ids[i]).value_or(""))));
    }
    return html;
}

// Preference pairs: the prompt (masked) above the chosen and the rejected response side by side.
ui::DatasetPreview previewPreferences(const models::SampleBuilder& builder, const models::Tokenizer& tokenizer,
                                      const QString& dataPath, int shown) {
    ui::DatasetPreview out;
    const models::PreferenceDataset all = builder.loadPreferences(dataPath.toStdString());
    describeProblems(all.stats, QFileInfo(dataPath).fileName(), out);
    if (all.stats.samples == 0)
        return out;
    out.format = QString::fromLatin1(models::sampleFormatName(models::SampleFormat::Preference));
    QString html = legend(QObject::tr("Each pair: the prompt, then the chosen and the rejected response side by side."));
    const QString cell = "<td style='vertical-align:top; padding:4px; font-family:monospace; white-space:pre-wrap'>";
    for (size_t k = 0; k < all.samples.size() && int(k) < shown; ++k) {
        const models::PreferenceSample& p = all.samples[k];
        html += QObject::tr("<p><b>pair %1</b> · prompt %2 tokens, chosen %3, rejected %4<br>")
                    .arg(k + 1).arg(p.prompt.size()).arg(p.chosen.size()).arg(p.rejected.size());
        html += "<span style='font-family:monospace; white-space:pre-wrap'>" + tokenRun(tokenizer, p.prompt, false) + "</span></p>";
        html += "<table width='100%' cellspacing='0'><tr><th align='left'>" + QObject::tr("chosen") + "</th><th align='left'>" +
                QObject::tr("rejected") + "</th></tr><tr>" + cell + tokenRun(tokenizer, p.chosen, true) + "</td>" + cell +
                tokenRun(tokenizer, p.rejected, true) + "</td></tr></table>";
    }
    out.html = html;
    return out;
}

} // namespace

QString DatasetPreviewer::plainMessage(const std::string& message) {
    QString m = QString::fromStdString(message);
    static const QRegularExpression library(R"(\[json\.exception\.[a-z_]+\.\d+\]\s*)");
    static const QRegularExpression position(R"(parse error at line \d+, column (\d+):\s*)");
    m.remove(library);
    m.replace(position, "at column \\1: ");
    m.replace("invalid JSON: at column", "invalid JSON at column");
    return m;
}

ui::DatasetPreview DatasetPreviewer::previewTokenized(const QString& modelPath, const QString& dataPath, int maxSeqLen, int shown) {
    ui::DatasetPreview out;
    out.format = "tokenized";
    const engine::TokenizedHead head = engine::readTokenizedHead(dataPath.toStdString(), kRecords);
    const std::vector<engine::TrainExample>& examples = head.examples;
    out.samples = static_cast<qint64>(examples.size());
    out.recordsRead = out.samples;
    out.moreRecords = head.more;
    for (const auto& e : examples)
        if (maxSeqLen > 0 && static_cast<int>(e.ids.size()) > maxSeqLen)
            ++out.truncated;
    // The model's tokenizer, when it has one, shows the tokens as text.
    std::optional<models::Tokenizer> tokenizer;
    try {
        tokenizer = models::Tokenizer::load(modelPath.toStdString());
    } catch (const std::exception&) {
    }
    QString html = legend(QObject::tr("Pre-tokenized samples%1.").arg(tokenizer ? QString() : QObject::tr(" (ids: the model folder has no tokenizer)")));
    for (int i = 0; i < shown && i < static_cast<int>(examples.size()); ++i) {
        const auto& e = examples[static_cast<size_t>(i)];
        html += QObject::tr("<p><b>sample %1</b> · %2 tokens<br><span style='font-family:monospace; white-space:pre-wrap'>").arg(i + 1).arg(e.ids.size());
        std::optional<models::DecodeStream> stream;
        if (tokenizer)
            stream.emplace(*tokenizer, false);
        for (size_t t = 0; t < e.ids.size(); ++t) {
            const bool trained = t < e.labels.size() && e.labels[t] != models::kIgnoreIndex;
            const QString piece = stream ? QString::fromStdString(stream->step(e.ids[t])) : QString::number(e.ids[t]) + " ";
            html += tokenSpan(piece, trained, t, QString("id %1").arg(e.ids[t]));
        }
        html += "</span></p>";
    }
    out.html = html;
    return out;
}

ui::DatasetPreview DatasetPreviewer::preview(const QString& modelPath, const QString& dataPath, int maxSeqLen, int shown) {
    ui::DatasetPreview out;
    if (!QFileInfo(dataPath).isFile()) {
        out.error = QObject::tr("file '%1' does not exist").arg(dataPath);
        return out;
    }
    try {
        if (isPreTokenized(dataPath))
            return previewTokenized(modelPath, dataPath, maxSeqLen, shown);
    } catch (const std::exception& e) {
        out.format.clear();
        out.error = plainMessage(e.what());
        return out;
    }
    std::optional<models::Tokenizer> tokenizer;
    try {
        tokenizer = models::Tokenizer::load(modelPath.toStdString());
    } catch (const std::exception& e) {
        out.error = QObject::tr("%1: a text dataset (%2) is tokenized with the model's tokenizer.json; use a folder "
                                "that has one, or pre-tokenized JSONL (input_ids, labels)")
                        .arg(plainMessage(e.what()), QFileInfo(dataPath).fileName());
        out.modelError = true;
        return out;
    }
    try {
        models::SampleBuilderOptions options;
        options.maxLength = static_cast<std::size_t>(std::max(0, maxSeqLen));
        options.malformed = models::MalformedLinePolicy::Skip;
        options.maxRecords = kRecords;
        models::SampleBuilder builder(*tokenizer, options);
        if (holdsPreferences(dataPath))
            return previewPreferences(builder, *tokenizer, dataPath, shown);
        models::SftDataset all;
        try {
            all = builder.loadSft(dataPath.toStdString());
        } catch (const std::exception&) {
            all.stats = unusableLines(builder, dataPath); // no usable sample: find out line by line why
        }
        describeProblems(all.stats, QFileInfo(dataPath).fileName(), out);
        if (all.stats.samples == 0)
            return out;
        out.format = QString::fromLatin1(models::sampleFormatName(all.stats.format));
        QString html = legend(QString());
        int count = 0;
        models::JsonlHead::read(
            dataPath.toStdString(), kRecords,
            [&](const models::JsonRecord& record) {
                if (count >= shown)
                    return;
                models::SamplePreview p;
                try {
                    p = builder.preview(record.value, record.where);
                } catch (const std::exception&) {
                    return; // an unusable line is named in the error; the preview shows usable ones
                }
                html += QString("<p><b>%1</b> · %2 tokens%3<br><span style='font-family:monospace; white-space:pre-wrap'>")
                            .arg(QString::fromStdString(record.where).toHtmlEscaped())
                            .arg(p.tokens.size())
                            .arg(p.truncatedTokens ? QObject::tr(" (%1 cut)").arg(p.truncatedTokens) : QString());
                // Text from the rendered sample where a token maps onto it, else decoded from the
                // ids (never the vocabulary's byte-level spelling such as "Ġday" or "Ċ").
                models::DecodeStream stream(*tokenizer, false);
                for (size_t i = 0; i < p.tokens.size(); ++i) {
                    const auto& t = p.tokens[i];
                    const std::string decoded = stream.step(t.id);
                    const QString piece = t.end > t.begin ? QString::fromUtf8(p.text.data() + t.begin, static_cast<int>(t.end - t.begin))
                                                          : QString::fromStdString(decoded);
                    html += tokenSpan(piece, t.label != models::kIgnoreIndex, i, QString("id %1 %2").arg(t.id).arg(QString::fromStdString(t.piece)));
                }
                html += "</span></p>";
                ++count;
            },
            [](std::size_t, const std::string&) {});
        out.html = html;
    } catch (const std::exception& e) {
        out.format.clear();
        out.error = plainMessage(e.what());
    }
    return out;
}

} // namespace rslora::app
