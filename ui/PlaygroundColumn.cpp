// See PlaygroundColumn.h.
#include "ui/PlaygroundColumn.h"
#include "ui/ErrorLabel.h"

#include "ui/FlowLayout.h"
#include "ui/MenuToolButton.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QMenu>
#include <QTextBrowser>
#include <QToolButton>
#include <QVBoxLayout>

namespace rslora::ui {

namespace {

QString escaped(const QString& text)
{
    return text.toHtmlEscaped().replace("\n", "<br>");
}

QString roleTitle(const QString& role)
{
    if (role == "user")
        return QObject::tr("You");
    if (role == "assistant")
        return QObject::tr("Model");
    return QObject::tr("System");
}

} // namespace

PlaygroundColumn::PlaygroundColumn(int index, QWidget* parent) : QWidget(parent), m_index(index)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* title = new QLabel(tr("<b>Column %1</b>").arg(index + 1));
    layout->addWidget(title);
    m_rowsLayout = new QVBoxLayout;
    m_rowsLayout->setSpacing(2);
    layout->addLayout(m_rowsLayout);
    m_weightError = makeErrorLabel("weightError"); // it quotes what was typed
    m_weightError->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    layout->addWidget(m_weightError);
    m_addRow = new QToolButton;
    m_addRow->setObjectName("addAdapter");
    m_addRow->setText(tr("+ Mix in another version"));
    m_addRow->setToolTip(tr("Run this column with a weighted set of adapters (up to %1)").arg(kMaxAdapters));
    m_addRow->setAutoRaise(true);
    connect(m_addRow, &QToolButton::clicked, this, [this] { addRow(); });
    m_gateButton = new MenuToolButton;
    m_gateButton->setObjectName("gateButton");
    m_gateButton->setText(tr("Use a gate…"));
    m_gateButton->setToolTip(tr("A learned gate (rslora gate train): its adapters, weighted for each prompt by the gate"));
    m_gateButton->setAutoRaise(true);
    m_gateButton->setMenu(new QMenu(m_gateButton));
    fillGateMenu();
    // One row when the column is wide enough, else one under the other: two columns beside the
    // history fit an 800-pixel window without scrolling sideways.
    auto* choices = new FlowLayout;
    choices->setContentsMargins(0, 0, 0, 0);
    choices->addWidget(m_addRow);
    choices->addWidget(m_gateButton);
    layout->addLayout(choices);
    auto* gateRow = new QHBoxLayout;
    m_gateLabel = new QLabel;
    m_gateLabel->setObjectName("gateLabel");
    m_gateLabel->setWordWrap(true);
    m_gateLabel->hide();
    m_clearGate = new QToolButton;
    m_clearGate->setText(QStringLiteral("×"));
    m_clearGate->setToolTip(tr("Stop using the gate; choose versions again"));
    m_clearGate->setAutoRaise(true);
    m_clearGate->hide();
    connect(m_clearGate, &QToolButton::clicked, this, [this] { setGate(QString()); });
    gateRow->addWidget(m_gateLabel, 1);
    gateRow->addWidget(m_clearGate);
    layout->addLayout(gateRow);
    m_output = new QTextBrowser;
    m_output->setOpenLinks(false);
    m_output->setPlaceholderText(tr("The answer streams here."));
    layout->addWidget(m_output, 1);
    auto* footer = new QHBoxLayout;
    m_status = new QLabel;
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_status->setWordWrap(true);
    m_status->setTextFormat(Qt::PlainText); // errors and gate labels as they are
    // A message quoting a long path or values list has no space to wrap at: it is cut at the edge (and
    // can be selected whole) rather than widening the window past the screen.
    m_status->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_gateLabel->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    footer->addWidget(m_status, 1);
    m_copy = new QToolButton;
    m_copy->setText(tr("Copy JSON"));
    m_copy->setToolTip(tr("Copy this column's adapters, settings, prompt and answer as JSON"));
    m_copy->setEnabled(false);
    connect(m_copy, &QToolButton::clicked, this, [this] { emit copyRequested(m_index); });
    footer->addWidget(m_copy);
    layout->addLayout(footer);
    addRow();
}

void PlaygroundColumn::fillVersions(QComboBox* box) const
{
    const qint64 chosen = box->currentData().toLongLong();
    box->blockSignals(true);
    box->clear();
    box->addItem(tr("Base model (no adapter)"), qint64(0));
    for (const auto& v : m_versions) {
        box->addItem(v.label, v.id);
        box->setItemData(box->count() - 1, tr("%1\nTrained on %2").arg(v.reference, v.baseModel), Qt::ToolTipRole);
    }
    const int at = box->findData(chosen);
    box->setCurrentIndex(at >= 0 ? at : 0);
    box->blockSignals(false);
}

void PlaygroundColumn::addRow()
{
    if (m_rows.size() >= kMaxAdapters)
        return;
    Row row;
    row.widget = new QWidget;
    auto* h = new QHBoxLayout(row.widget);
    h->setContentsMargins(0, 0, 0, 0);
    row.version = new QComboBox;
    row.version->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    row.version->setMinimumContentsLength(14);
    fillVersions(row.version);
    // A weight the box cannot take (9, 1e999) stays as typed and is named under the rows; Qt's box cut
    // it to the range without a word.
    row.weight = new numbers::RealBox(-4.0, 4.0, 2, 0.1);
    row.weight->setValue(1.0);
    row.weight->setToolTip(tr("Weight of this version in the column's mix (negative subtracts it)"));
    h->addWidget(row.version, 1);
    h->addWidget(row.weight);
    const int rowIndex = static_cast<int>(m_rows.size());
    if (rowIndex > 0) {
        auto* remove = new QToolButton;
        remove->setText(QStringLiteral("×"));
        remove->setToolTip(tr("Remove this version from the mix"));
        remove->setAutoRaise(true);
        connect(remove, &QToolButton::clicked, this, [this, w = row.widget] {
            for (int i = 0; i < m_rows.size(); ++i)
                if (m_rows[i].widget == w)
                    removeRow(i);
        });
        h->addWidget(remove);
    }
    connect(row.version, &QComboBox::currentIndexChanged, this, [this] { emit adaptersChanged(m_index); });
    connect(row.weight, &QDoubleSpinBox::valueChanged, this, [this] { emit adaptersChanged(m_index); });
    connect(row.weight, &numbers::RealBox::entryChanged, this, &PlaygroundColumn::showWeightProblems);
    m_rowsLayout->addWidget(row.widget);
    m_rows.append(row);
    m_addRow->setEnabled(m_rows.size() < kMaxAdapters);
    showWeightProblems(); // names the boxes by row
}

void PlaygroundColumn::removeRow(int row)
{
    if (row <= 0 || row >= m_rows.size())
        return;
    m_rows[row].widget->deleteLater();
    m_rows.removeAt(row);
    m_addRow->setEnabled(m_rows.size() < kMaxAdapters);
    showWeightProblems();
    emit adaptersChanged(m_index);
}

void PlaygroundColumn::setVersions(const QList<PlaygroundVersion>& versions)
{
    m_versions.clear();
    m_gates.clear();
    for (const auto& v : versions)
        (v.gate ? m_gates : m_versions).append(v);
    for (auto& row : m_rows)
        fillVersions(row.version);
    fillGateMenu();
}

void PlaygroundColumn::fillGateMenu()
{
    QMenu* menu = m_gateButton->menu();
    menu->clear();
    for (const auto& g : m_gates)
        menu->addAction(g.label, this, [this, g] {
            QString error;
            if (!setStoredGate(g, &error))
                m_status->setText(tr("Not a usable gate: %1").arg(error));
        });
    if (m_gates.isEmpty())
        menu->addAction(tr("No stored gate yet (rslora gate train stores one)"))->setEnabled(false);
    menu->addSeparator();
    menu->addAction(tr("Gate folder…"), this, [this] { chooseGate(); });
}

QStringList PlaygroundColumn::weightProblems() const
{
    QStringList out;
    if (!m_gatePath.isEmpty())
        return out;
    for (const auto& row : m_rows)
        if (const QString p = row.weight->problem(); !p.isEmpty())
            out << p;
    return out;
}

void PlaygroundColumn::showWeightProblems()
{
    for (int i = 0; i < m_rows.size(); ++i)
        m_rows[i].weight->setEntryName(m_rows.size() == 1 ? tr("Column %1, weight").arg(m_index + 1)
                                                          : tr("Column %1, weight %2").arg(m_index + 1).arg(i + 1));
    const QStringList problems = weightProblems();
    m_weightError->setText(problems.join('\n'));
    m_weightError->setVisible(!problems.isEmpty());
    emit entriesChanged(m_index);
}

QList<PlaygroundAdapter> PlaygroundColumn::adapters() const
{
    QList<PlaygroundAdapter> out;
    for (const auto& row : m_rows) {
        const qint64 id = row.version->currentData().toLongLong();
        if (id == 0)
            continue;
        PlaygroundAdapter a;
        a.versionId = id;
        for (const auto& v : m_versions)
            if (v.id == id)
                a.reference = v.reference;
        a.weight = row.weight->value();
        out.append(a);
    }
    return out;
}

void PlaygroundColumn::setAdapters(const QList<PlaygroundAdapter>& adapters)
{
    while (m_rows.size() > 1)
        removeRow(static_cast<int>(m_rows.size()) - 1);
    for (int i = 0; i < adapters.size() && i < kMaxAdapters; ++i) {
        if (i >= m_rows.size())
            addRow();
        const int at = m_rows[i].version->findData(adapters[i].versionId);
        m_rows[i].version->setCurrentIndex(at >= 0 ? at : 0);
        m_rows[i].weight->setValue(adapters[i].weight);
    }
    if (adapters.isEmpty()) {
        m_rows[0].version->setCurrentIndex(0);
        m_rows[0].weight->setValue(1.0);
    }
}

bool PlaygroundColumn::setGate(const QString& path, QString* error)
{
    // The adapters' labels from gate.json; the engine checks the whole gate when it generates.
    QStringList labels;
    if (!path.isEmpty()) {
        QFile file(QDir(path).filePath("gate.json"));
        auto fail = [&](const QString& why) {
            if (error)
                *error = why;
            return false;
        };
        if (!file.open(QIODevice::ReadOnly))
            return fail(tr("%1: cannot read (%2)").arg(file.fileName(), file.errorString()));
        QJsonParseError parse;
        const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &parse);
        if (parse.error != QJsonParseError::NoError)
            return fail(tr("%1: %2 at offset %3").arg(file.fileName(), parse.errorString()).arg(parse.offset));
        const QJsonArray list = doc.object().value("adapters").toArray();
        if (list.size() < 2)
            return fail(tr("%1: \"adapters\" must list the two or more adapters the gate weighs").arg(file.fileName()));
        for (const auto& a : list) {
            const QJsonObject o = a.toObject();
            const QString label = o.value("label").toString();
            labels << (label.isEmpty() ? o.value("name").toString() : label);
        }
    }
    m_gatePath = path;
    m_gateVersionId = 0;
    m_gateReference.clear();
    m_gateAdapters = labels;
    const bool gated = !path.isEmpty();
    for (const auto& row : m_rows)
        row.widget->setVisible(!gated);
    m_addRow->setVisible(!gated);
    m_gateButton->setVisible(!gated);
    m_gateLabel->setVisible(gated);
    m_clearGate->setVisible(gated);
    showGateLabel();
    showWeightProblems(); // a gate replaces the rows: their weights are not read
    emit adaptersChanged(m_index);
    return true;
}

bool PlaygroundColumn::setStoredGate(const PlaygroundVersion& gate, QString* error)
{
    if (!setGate(gate.path, error))
        return false;
    m_gateVersionId = gate.id;
    m_gateReference = gate.reference;
    showGateLabel();
    return true;
}

void PlaygroundColumn::showGateLabel()
{
    const QString name = m_gateReference.isEmpty() ? QFileInfo(m_gatePath).fileName() : m_gateReference;
    m_gateLabel->setText(m_gatePath.isEmpty() ? QString()
                                              : tr("Gate <b>%1</b> weighs %2 for each prompt")
                                                    .arg(name.toHtmlEscaped(), m_gateAdapters.join(", ").toHtmlEscaped()));
    m_gateLabel->setToolTip(m_gatePath);
}

void PlaygroundColumn::chooseGate()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Choose a gate folder (gate.json, gate.safetensors)"));
    if (dir.isEmpty())
        return;
    QString error;
    if (!setGate(dir, &error))
        m_status->setText(tr("Not a usable gate: %1").arg(error));
}

QString PlaygroundColumn::adaptersLabel() const
{
    if (!m_gatePath.isEmpty())
        return tr("gate %1").arg(m_gateReference.isEmpty() ? QFileInfo(m_gatePath).fileName() : m_gateReference);
    const auto set = adapters();
    if (set.isEmpty())
        return tr("base model");
    QStringList parts;
    for (const auto& a : set)
        parts << (a.weight == 1.0 ? a.reference : QString("%1 × %2").arg(a.weight, 0, 'g', 3).arg(a.reference));
    return parts.join(" + ");
}

void PlaygroundColumn::setConversation(const QList<PlaygroundTurn>& turns)
{
    m_conversation = turns;
    render();
}

void PlaygroundColumn::setChatMode(bool chat)
{
    m_chat = chat;
    render();
}

void PlaygroundColumn::beginAnswer(const QString& userMessage)
{
    m_before = {m_answer, m_result, m_conversation, m_divergence, m_answeredBy};
    if (m_chat && !userMessage.isEmpty())
        m_conversation.append({"user", userMessage});
    m_answer.clear();
    m_answering = true;
    noteAnswerer();
    m_result = {};
    m_divergence = -1;
    m_copy->setEnabled(false);
    m_status->setText(tr("Waiting for the first token…"));
    render();
}

void PlaygroundColumn::restoreBeforeAnswer()
{
    m_answering = false;
    m_answer = m_before.answer;
    m_result = m_before.result;
    m_conversation = m_before.conversation;
    m_divergence = m_before.divergence;
    m_answeredBy = m_before.answeredBy;
    showStatus();
    render();
}

void PlaygroundColumn::appendText(const QString& text)
{
    // Tokens that arrive after the answer ended (queued before the end was delivered) are in it already.
    if (!m_answering)
        return;
    m_answer += text;
    ++m_result.tokens;
    m_status->setText(tr("Streaming… %n token(s)", nullptr, m_result.tokens));
    render();
}

void PlaygroundColumn::finishAnswer(const PlaygroundColumnResult& result)
{
    m_answering = false;
    m_result = result;
    if (result.error.isEmpty())
        m_answer = result.text;
    if (result.error.isEmpty() && !stoppedBeforeAnswering()) {
        if (m_chat)
            m_conversation.append({"assistant", m_answer});
    } else if (m_chat && !m_conversation.isEmpty() && m_conversation.back().role == "user") {
        // A failed turn, or one stopped before its first token, leaves the conversation as it was
        // before the message (no empty answer for the model to read as its turn).
        m_conversation.removeLast();
    }
    showStatus();
    render();
}

void PlaygroundColumn::showAnswer(const QString& text, const PlaygroundColumnResult& result)
{
    m_answering = false;
    m_answer = text;
    m_result = result;
    m_divergence = -1;
    noteAnswerer();
    showStatus();
    render();
}

void PlaygroundColumn::showStatus()
{
    const auto& r = m_result;
    // Copy JSON copies an answer: there is one once a generation finished with a token and no error.
    m_copy->setEnabled(hasAnswer());
    if (!r.error.isEmpty()) {
        m_status->setText(tr("Failed: %1").arg(r.error));
    } else if (r.finishReason.isEmpty()) {
        m_status->clear(); // nothing generated (a new chat)
    } else {
        // Decoding speed: the tokens after the first over the time after the first (the first one
        // carries the prompt's forward).
        const double decode = r.seconds - r.firstTokenSeconds;
        const double rate = r.tokens > 1 && decode > 0 ? (r.tokens - 1) / decode : (r.seconds > 0 ? r.tokens / r.seconds : 0.0);
        // No token: no speed and no first token to time.
        QString text = r.tokens == 0 ? tr("no tokens · %1").arg(r.finishReason)
                                     : tr("%1 tokens · %2 tok/s · first token %3 ms · %4")
                                           .arg(r.tokens)
                                           .arg(rate, 0, 'f', 1)
                                           .arg(r.firstTokenSeconds * 1000.0, 0, 'f', 0)
                                           .arg(r.finishReason);
        if (!r.gateWeights.isEmpty()) {
            QStringList parts;
            for (const auto& [label, weight] : r.gateWeights)
                parts << QString("%1 %2").arg(label).arg(weight, 0, 'f', 3);
            text += tr(" · gate weights: %1").arg(parts.join(", "));
        }
        m_status->setText(text);
    }
}

bool PlaygroundColumn::stoppedBeforeAnswering() const
{
    return !m_answering && m_result.error.isEmpty() && m_result.finishReason == "cancelled" && m_result.tokens == 0;
}

bool PlaygroundColumn::hasAnswer() const
{
    return !m_answering && m_result.error.isEmpty() && !m_result.finishReason.isEmpty() && m_result.tokens > 0;
}

void PlaygroundColumn::noteAnswerer()
{
    m_answeredBy = {adapters(), m_gatePath, m_gateVersionId, m_gateReference, m_chat};
}

void PlaygroundColumn::markDivergence(int index)
{
    m_divergence = index;
    render();
}

void PlaygroundColumn::render()
{
    if (!m_answering && m_answer.isEmpty() && (!m_chat || m_conversation.isEmpty())) {
        m_output->clear(); // nothing yet: the box's hint text ("The answer streams here.") shows
        return;
    }
    // An answer is shown in the mode it was made in: a prompt's continuation switched to Chat is not the
    // model's turn of a conversation, and a conversation switched to Prompt is still one.
    const bool chat = m_answering || !m_answer.isEmpty() ? m_answeredBy.chat : m_chat;
    QString html;
    if (chat) {
        // In chat mode the conversation so far, then the answer being written (when not yet in it).
        const int shown = static_cast<int>(m_conversation.size()) -
                          (!m_answering && !m_conversation.isEmpty() && m_conversation.back().role == "assistant" ? 1 : 0);
        for (int i = 0; i < shown; ++i)
            html += QString("<p><b>%1:</b> %2</p>").arg(roleTitle(m_conversation[i].role), escaped(m_conversation[i].content));
        html += QString("<p><b>%1:</b> ").arg(roleTitle("assistant"));
    } else {
        html += "<p>";
    }
    if (m_divergence >= 0 && m_divergence <= m_answer.size()) {
        // The shared part plain, the part after the first difference highlighted.
        html += escaped(m_answer.left(m_divergence)) + "<span style=\"background-color:#ffe3b3\">" +
                escaped(m_answer.mid(m_divergence)) + "</span>";
    } else {
        html += escaped(m_answer);
    }
    html += "</p>";
    m_output->setHtml(html);
    m_output->moveCursor(QTextCursor::End);
}

QJsonObject PlaygroundColumn::toJson(const PlaygroundRequest& request) const
{
    QJsonObject o;
    o["column"] = m_index + 1;
    QJsonArray adaptersJson;
    for (const auto& a : m_answeredBy.adapters)
        adaptersJson.append(QJsonObject{{"version", a.reference}, {"version_id", a.versionId}, {"weight", a.weight}});
    o["adapters"] = adaptersJson;
    if (!m_answeredBy.gatePath.isEmpty()) {
        QJsonObject weights;
        for (const auto& [label, weight] : m_result.gateWeights)
            weights[label] = weight;
        QJsonObject gate{{"path", m_answeredBy.gatePath}, {"weights", weights}};
        if (m_answeredBy.gateVersionId != 0)
            gate["version"] = m_answeredBy.gateReference;
        o["gate"] = gate;
    }
    o["model"] = request.modelPath;
    const auto& s = request.settings;
    QJsonArray stops;
    for (const auto& stop : s.stopStrings)
        stops.append(stop);
    o["settings"] = QJsonObject{{"max_new_tokens", s.maxNewTokens}, {"temperature", s.temperature}, {"top_k", s.topK},
                                {"top_p", s.topP}, {"repetition_penalty", s.repetitionPenalty}, {"seed", s.seed},
                                {"stop", stops}};
    if (m_answeredBy.chat) {
        QJsonArray messages;
        for (const auto& t : m_conversation)
            messages.append(QJsonObject{{"role", t.role}, {"content", t.content}});
        o["messages"] = messages;
    } else {
        o["prompt"] = request.prompt;
    }
    o["text"] = m_answer;
    o["tokens"] = m_result.tokens;
    o["prompt_tokens"] = m_result.promptTokens;
    o["seconds"] = m_result.seconds;
    o["first_token_seconds"] = m_result.firstTokenSeconds;
    o["finish_reason"] = m_result.finishReason;
    return o;
}

void PlaygroundColumn::copyJsonToClipboard(const PlaygroundRequest& request) const
{
    QApplication::clipboard()->setText(QString::fromUtf8(QJsonDocument(toJson(request)).toJson(QJsonDocument::Indented)));
}

QComboBox* PlaygroundColumn::versionBox(int row) const
{
    return row >= 0 && row < m_rows.size() ? m_rows[row].version : nullptr;
}

numbers::RealBox* PlaygroundColumn::weightBox(int row) const
{
    return row >= 0 && row < m_rows.size() ? m_rows[row].weight : nullptr;
}

} // namespace rslora::ui
