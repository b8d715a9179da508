// See PlaygroundView.h.
#include "ui/PlaygroundView.h"
#include "ui/ErrorLabel.h"
#include "ui/FlowLayout.h"
#include "ui/GrowingTextEdit.h"
#include "ui/PlaygroundColumn.h"
#include "ui/StopStrings.h"
#include "ui/TextDivergence.h"

#include <QAction>
#include <QComboBox>
#include <QDateTime>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>

namespace rslora::ui {

PlaygroundView::PlaygroundView(QWidget* parent) : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);

    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Base model")));
    m_model = new QLineEdit;
    m_model->setPlaceholderText(tr("Model folder (config.json, *.safetensors, tokenizer.json)"));
    m_model->setToolTip(tr("Loaded once and shared by every column"));
    top->addWidget(m_model, 1);
    // An error about the folder (not found, no config.json) is stale once another folder is typed.
    connect(m_model, &QLineEdit::textEdited, this, [this] {
        if (!m_running)
            showProblem(QString());
    });
    auto* browse = new QToolButton;
    browse->setText(tr("…"));
    browse->setToolTip(tr("Choose the model folder"));
    connect(browse, &QToolButton::clicked, this, &PlaygroundView::browseModelRequested);
    top->addWidget(browse);
    top->addSpacing(12);
    top->addWidget(new QLabel(tr("Mode")));
    m_mode = new QComboBox;
    m_mode->addItem(tr("Prompt"));
    m_mode->addItem(tr("Chat"));
    m_mode->setToolTip(tr("Prompt: the model continues the text as typed. Chat: messages in the model's chat template, a "
                          "conversation per column."));
    connect(m_mode, &QComboBox::currentIndexChanged, this, [this](int) { setChatMode(chatMode()); });
    top->addWidget(m_mode);
    top->addWidget(new QLabel(tr("Columns")));
    m_columnsBox = new numbers::IntBox(kMinColumns, kMaxColumns);
    m_columnsBox->setEntryName(tr("Columns"));
    connect(m_columnsBox, &QSpinBox::valueChanged, this, [this](int n) { setColumnCount(n); });
    top->addWidget(m_columnsBox);
    layout->addLayout(top);

    // Each label stays beside its field; the pairs go on as many rows as the width needs (one row
    // squeezed the labels until they were cut in an 800-pixel window).
    m_sampling = new FlowLayout;
    m_sampling->setContentsMargins(0, 0, 0, 0);
    auto labelled = [&](const QString& label, QWidget* w, const QString& tip) {
        auto* pair = new QWidget;
        auto* row = new QHBoxLayout(pair);
        row->setContentsMargins(0, 0, 0, 0);
        auto* l = new QLabel(label);
        l->setToolTip(tip);
        l->setBuddy(w);
        w->setToolTip(tip);
        row->addWidget(l);
        row->addWidget(w);
        m_sampling->addWidget(pair);
    };
    // The boxes keep a number they cannot take as typed (5000 tokens, a temperature of 9) and the line
    // under the settings names it with the range; Qt's boxes cut it to the range without a word.
    m_maxTokens = new numbers::IntBox(1, 4096);
    m_maxTokens->setEntryName(tr("Max new tokens"));
    m_maxTokens->setValue(64);
    labelled(tr("Max new tokens"), m_maxTokens,
             tr("Each column stops after this many new tokens. The prompt's tokens and these must fit the model's "
                "context (max_position_embeddings): a generation that would not fit is refused before it starts, "
                "saying how many tokens the prompt has."));
    m_temperature = new numbers::RealBox(0.0, 5.0, 2, 0.1);
    m_temperature->setEntryName(tr("Temperature"));
    labelled(tr("Temperature"), m_temperature, tr("0 is greedy: the same answer every time"));
    m_topK = new numbers::IntBox(0, 100000);
    m_topK->setEntryName(tr("Top-k"));
    labelled(tr("Top-k"), m_topK, tr("0: off"));
    m_topP = new numbers::RealBox(0.01, 1.0, 2, 0.05);
    m_topP->setEntryName(tr("Top-p"));
    m_topP->setValue(1.0);
    labelled(tr("Top-p"), m_topP, tr("1: off"));
    m_repetition = new numbers::RealBox(1.0, 3.0, 2, 0.05);
    m_repetition->setEntryName(tr("Repetition penalty"));
    m_repetition->setValue(1.0);
    labelled(tr("Repetition penalty"), m_repetition, tr("1: off"));
    m_seed = new numbers::IntBox(0, 2147483647);
    m_seed->setEntryName(tr("Seed"));
    labelled(tr("Seed"), m_seed, tr("Every column samples with this seed, so sampled answers are comparable"));
    m_stops = new QLineEdit;
    m_stops->setPlaceholderText(tr("e.g. \\n\\n, ###"));
    labelled(tr("Stop"), m_stops, tr("Stop strings, separated by commas (\\n for a new line, \\, for a comma)"));
    layout->addLayout(m_sampling);
    m_entryError = makeErrorLabel("entryError"); // it quotes what was typed
    m_entryError->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    layout->addWidget(m_entryError);
    for (numbers::IntBox* box : {m_columnsBox, m_maxTokens, m_topK, m_seed})
        connect(box, &numbers::IntBox::entryChanged, this, &PlaygroundView::checkEntries);
    for (numbers::RealBox* box : {m_temperature, m_topP, m_repetition})
        connect(box, &numbers::RealBox::entryChanged, this, &PlaygroundView::checkEntries);

    auto* middle = new QSplitter(Qt::Horizontal);
    auto* left = new QWidget;
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    m_columnSplitter = new QSplitter(Qt::Horizontal);
    m_columnSplitter->setChildrenCollapsible(false);
    // Four columns of mixed versions need more width than a small screen has: they scroll sideways
    // rather than widening the window past the screen.
    auto* columnsScroll = new QScrollArea;
    columnsScroll->setObjectName("columnsScroll");
    columnsScroll->setFrameShape(QFrame::NoFrame);
    columnsScroll->setWidgetResizable(true);
    columnsScroll->setWidget(m_columnSplitter);
    // The answers are what the view is for: the stretch gives them the room the other rows leave (they
    // were squeezed to nothing while the prompt box kept its full height). No minimum height of its
    // own: one made the scroll area outgrow its place in a short window and cover the summary line
    // under it; the columns scroll inside it instead.
    leftLayout->addWidget(columnsScroll, 1);
    m_summary = new QLabel;
    m_summary->setWordWrap(true);
    m_summary->setTextFormat(Qt::RichText); // it quotes answers HTML-escaped
    leftLayout->addWidget(m_summary);

    auto* inputRow = new QHBoxLayout;
    // Three lines while short, growing to six with the text: an empty prompt box left the answers one
    // line in an 800x600 window.
    m_input = new GrowingTextEdit(3, 6);
    m_input->setPlaceholderText(tr("Type a prompt (Ctrl+Enter generates)"));
    inputRow->addWidget(m_input, 1);
    auto* buttons = new QGridLayout;
    m_generate = new QPushButton(tr("Generate"));
    m_generate->setDefault(true);
    m_generate->setToolTip(tr("Ctrl+Enter"));
    connect(m_generate, &QPushButton::clicked, this, [this] { generate(); });
    m_stop = new QPushButton(tr("Stop"));
    m_stop->setToolTip(tr("Esc"));
    m_stop->setEnabled(false);
    connect(m_stop, &QPushButton::clicked, this, &PlaygroundView::stop);
    m_newChat = new QPushButton(tr("New chat"));
    m_newChat->setToolTip(tr("Forget every column's conversation"));
    connect(m_newChat, &QPushButton::clicked, this, &PlaygroundView::newChat);
    // Two rows, as tall as the prompt box's three lines (three buttons one under another kept the row
    // that tall, whatever the box asked for).
    buttons->addWidget(m_generate, 0, 0);
    buttons->addWidget(m_stop, 0, 1);
    buttons->addWidget(m_newChat, 1, 0, 1, 2);
    buttons->setRowStretch(2, 1);
    inputRow->addLayout(buttons);
    leftLayout->addLayout(inputRow);

    auto* exampleRow = new QHBoxLayout;
    exampleRow->addWidget(new QLabel(tr("Example from")));
    m_runs = new QComboBox;
    m_runs->setMinimumContentsLength(24);
    m_runs->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_runs->setToolTip(tr("A run whose validation data gives the next example"));
    exampleRow->addWidget(m_runs, 1);
    m_example = new QPushButton(tr("Pull example"));
    m_example->setToolTip(tr("Take the next record of the run's validation data as a chat message (switching to Chat) and show its reference answer"));
    connect(m_example, &QPushButton::clicked, this, [this] {
        if (m_runs->currentIndex() >= 0)
            emit exampleRequested(m_runs->currentData().toLongLong());
    });
    exampleRow->addWidget(m_example);
    leftLayout->addLayout(exampleRow);
    m_reference = new QLabel;
    m_reference->setWordWrap(true);
    m_reference->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_reference->hide();
    leftLayout->addWidget(m_reference);
    connect(m_input, &QPlainTextEdit::textChanged, this, &PlaygroundView::hideStaleReference);
    m_error = new QLabel;
    m_error->setWordWrap(true);
    m_error->setTextFormat(Qt::PlainText); // messages quote paths, prompts and the engine's errors as they are
    m_error->setStyleSheet("color: #c62828;");
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    // A message quoting a long path or values list has no space to wrap at: it is cut at the edge (and
    // can be selected whole) rather than widening the window past the screen.
    for (QLabel* label : {m_error, m_summary, m_reference})
        label->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_error->hide();
    leftLayout->addWidget(m_error);
    middle->addWidget(left);

    auto* historyBox = new QGroupBox(tr("History"));
    auto* historyLayout = new QVBoxLayout(historyBox);
    m_history = new QListWidget;
    m_history->setToolTip(tr("This session's exchanges; click one to see it again"));
    connect(m_history, &QListWidget::itemActivated, this, [this] { restoreHistory(m_history->currentRow()); });
    connect(m_history, &QListWidget::itemClicked, this, [this] { restoreHistory(m_history->currentRow()); });
    historyLayout->addWidget(m_history);
    // Entries read "hh:mm:ss  prompt…": narrower than this, only the time shows.
    historyBox->setMinimumWidth(250);
    middle->addWidget(historyBox);
    middle->setStretchFactor(0, 4);
    middle->setStretchFactor(1, 1);
    layout->addWidget(middle, 1);

    auto* generateShortcut = new QAction(this);
    generateShortcut->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
    generateShortcut->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(generateShortcut, &QAction::triggered, this, [this] { generate(); });
    addAction(generateShortcut);
    auto* stopShortcut = new QAction(this);
    stopShortcut->setShortcut(QKeySequence(Qt::Key_Escape));
    stopShortcut->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    connect(stopShortcut, &QAction::triggered, this, &PlaygroundView::stop);
    addAction(stopShortcut);

    setColumnCount(kMinColumns);
    setChatMode(false);
}

void PlaygroundView::setVersions(const QList<PlaygroundVersion>& versions)
{
    m_versions = versions;
    for (auto* c : m_columns)
        c->setVersions(versions);
}

void PlaygroundView::setRuns(const QList<QPair<qint64, QString>>& runs)
{
    const qint64 chosen = m_runs->currentData().toLongLong();
    m_runs->clear();
    for (const auto& [id, label] : runs)
        m_runs->addItem(label, id);
    // The run chosen before, else the first: a combo box with hint text set chooses none by itself,
    // and Pull example would do nothing.
    const int at = m_runs->findData(chosen);
    m_runs->setCurrentIndex(at >= 0 ? at : (runs.isEmpty() ? -1 : 0));
    m_example->setEnabled(!runs.isEmpty() && !m_running);
    if (runs.isEmpty())
        m_runs->setPlaceholderText(tr("No run with validation data yet"));
}

void PlaygroundView::setModelPath(const QString& path)
{
    m_model->setText(path);
}

QString PlaygroundView::modelPath() const
{
    return m_model->text().trimmed();
}

bool PlaygroundView::chatMode() const
{
    return m_mode->currentIndex() == 1;
}

void PlaygroundView::setChatMode(bool chat)
{
    if (m_mode->currentIndex() != (chat ? 1 : 0))
        m_mode->setCurrentIndex(chat ? 1 : 0); // comes back here through the signal
    m_input->setPlaceholderText(chat ? tr("Type your message (Ctrl+Enter sends it to every column)")
                                     : tr("Type a prompt (Ctrl+Enter generates)"));
    m_newChat->setVisible(chat);
    for (auto* c : m_columns)
        c->setChatMode(chat);
}

void PlaygroundView::setColumnCount(int count)
{
    count = std::clamp(count, kMinColumns, kMaxColumns);
    if (m_running)
        return;
    if (m_columnsBox->value() != count || m_columnsBox->holdsEntry())
        m_columnsBox->setValue(count); // comes back here through the signal
    while (m_columns.size() < count) {
        auto* c = new PlaygroundColumn(static_cast<int>(m_columns.size()));
        c->setVersions(m_versions);
        c->setChatMode(chatMode());
        connect(c, &PlaygroundColumn::entriesChanged, this, &PlaygroundView::checkEntries);
        connect(c, &PlaygroundColumn::copyRequested, this, [this](int i) {
            m_columns[i]->copyJsonToClipboard(m_current);
            m_summary->setText(tr("Column %1 copied as JSON.").arg(i + 1));
        });
        m_columnSplitter->addWidget(c);
        m_columns.append(c);
    }
    while (m_columns.size() > count) {
        m_columns.back()->deleteLater();
        m_columns.back()->hide();
        m_columns.removeLast();
    }
    checkEntries(); // a weight the removed column could not take no longer holds Generate back
}

int PlaygroundView::columnCount() const
{
    return static_cast<int>(m_columns.size());
}

PlaygroundColumn* PlaygroundView::column(int index) const
{
    return index >= 0 && index < m_columns.size() ? m_columns[index] : nullptr;
}

PlaygroundRequest PlaygroundView::request() const
{
    PlaygroundRequest r;
    r.modelPath = modelPath();
    r.chat = chatMode();
    r.prompt = m_input->toPlainText();
    r.settings.maxNewTokens = m_maxTokens->value();
    r.settings.temperature = m_temperature->value();
    r.settings.topK = m_topK->value();
    r.settings.topP = m_topP->value();
    r.settings.repetitionPenalty = m_repetition->value();
    r.settings.seed = m_seed->value();
    r.settings.stopStrings = parseStopStrings(m_stops->text());
    for (auto* c : m_columns) {
        PlaygroundColumnRequest col;
        col.adapters = c->adapters();
        col.gatePath = c->gatePath();
        col.gateVersionId = c->gateVersionId();
        if (r.chat) {
            col.conversation = c->conversation();
            col.conversation.append({"user", r.prompt});
        }
        r.columns.append(col);
    }
    return r;
}

QStringList PlaygroundView::settingsProblems() const
{
    QStringList out = {m_columnsBox->problem(), m_maxTokens->problem(), m_temperature->problem(), m_topK->problem(),
                       m_topP->problem(), m_repetition->problem(), m_seed->problem()};
    out.removeAll(QString());
    return out;
}

QStringList PlaygroundView::entryProblems() const
{
    QStringList out = settingsProblems();
    for (const PlaygroundColumn* c : m_columns)
        out << c->weightProblems();
    return out;
}

void PlaygroundView::checkEntries()
{
    const QStringList settings = settingsProblems();
    m_entryError->setText(settings.join('\n'));
    m_entryError->setVisible(!settings.isEmpty());
    const bool refused = !entryProblems().isEmpty();
    m_generate->setEnabled(!m_running && !refused);
    m_generate->setToolTip(refused ? tr("Fix the numbers shown in red first") : tr("Ctrl+Enter"));
}

QString PlaygroundView::problem() const
{
    if (const QStringList typed = entryProblems(); !typed.isEmpty())
        return typed.join('\n');
    if (modelPath().isEmpty())
        return tr("Choose the base model folder first.");
    if (m_input->toPlainText().trimmed().isEmpty())
        return chatMode() ? tr("Type a message first.") : tr("Type a prompt first.");
    for (int i = 0; i < m_columns.size(); ++i) {
        QList<qint64> seen;
        for (const auto& a : m_columns[i]->adapters()) {
            if (a.weight == 0.0)
                return tr("Column %1: %2 has weight 0; remove it from the mix instead.").arg(i + 1).arg(a.reference);
            if (seen.contains(a.versionId))
                return tr("Column %1: %2 is in the mix twice; keep one row and give it the weight you want.")
                    .arg(i + 1)
                    .arg(a.reference);
            seen.append(a.versionId);
        }
    }
    return {};
}

bool PlaygroundView::generate()
{
    if (m_running)
        return false;
    // A number its field cannot take is named at the field (Ctrl+Enter comes here with Generate off).
    if (!entryProblems().isEmpty()) {
        checkEntries();
        return false;
    }
    const QString why = problem();
    m_error->setVisible(!why.isEmpty());
    m_error->setText(why);
    if (!why.isEmpty())
        return false;
    m_previous = m_current;
    m_previousStops = m_currentStops;
    m_previousSummary = m_summary->text();
    m_current = request();
    m_currentStops = m_stops->text();
    if (!m_reference->isHidden() && m_input->toPlainText() == m_exampleMessage)
        m_exampleSent = true; // chat mode clears the input next: the reference stays beside these answers
    m_pending = static_cast<int>(m_columns.size());
    m_summary->clear();
    for (auto* c : m_columns)
        c->beginAnswer(m_current.chat ? m_current.prompt : QString());
    setRunning(true);
    emit generateRequested(m_current);
    return true;
}

void PlaygroundView::stop()
{
    if (m_running) {
        m_stop->setEnabled(false);
        m_summary->setText(tr("Stopping…"));
        emit stopRequested();
    }
}

void PlaygroundView::newChat()
{
    if (m_running)
        return;
    for (auto* c : m_columns) {
        c->setConversation({});
        c->showAnswer({}, {});
        c->status()->clear();
    }
    m_summary->clear();
    // The reference answered the example's conversation, which is gone.
    m_reference->hide();
    m_exampleMessage.clear();
    m_exampleSent = false;
}

void PlaygroundView::setRunning(bool running)
{
    m_running = running;
    checkEntries();
    m_stop->setEnabled(running);
    m_columnsBox->setEnabled(!running);
    m_mode->setEnabled(!running);
    m_newChat->setEnabled(!running);
    m_example->setEnabled(!running && m_runs->count() > 0);
}

void PlaygroundView::onToken(int column, const QString& text)
{
    if (auto* c = this->column(column))
        c->appendText(text);
}

void PlaygroundView::onColumnFinished(int column, const PlaygroundColumnResult& result)
{
    if (auto* c = this->column(column))
        c->finishAnswer(result);
    m_pending = std::max(0, m_pending - 1);
}

void PlaygroundView::onFinished()
{
    setRunning(false);
    // Stopped before any column's first token: no exchange to keep. A chat message stays in the box to
    // send again, and the columns show their conversations as they were before it.
    if (!m_columns.isEmpty() && std::all_of(m_columns.cbegin(), m_columns.cend(),
                                            [](const PlaygroundColumn* c) { return c->stoppedBeforeAnswering(); })) {
        m_error->hide();
        if (!m_current.chat) {
            m_summary->setText(tr("No column wrote any text."));
            return;
        }
        for (auto* c : m_columns)
            c->restoreBeforeAnswer();
        m_current = m_previous;
        m_currentStops = m_previousStops;
        m_summary->setText(tr("Stopped before any column wrote a token; your message is still in the box."));
        return;
    }
    QStringList answers;
    for (auto* c : m_columns)
        answers << c->answer();
    const int at = firstDifference(answers);
    for (auto* c : m_columns)
        c->markDivergence(at);
    QStringList failures;
    for (int i = 0; i < m_columns.size(); ++i)
        if (!m_columns[i]->result().error.isEmpty())
            failures << tr("Column %1 failed: %2").arg(i + 1).arg(m_columns[i]->result().error);
    m_error->setText(failures.join("\n"));
    m_error->setVisible(!failures.isEmpty());
    const bool none = std::all_of(answers.cbegin(), answers.cend(), [](const QString& a) { return a.isEmpty(); });
    if (none)
        m_summary->setText(tr("No column wrote any text."));
    else if (at < 0)
        m_summary->setText(tr("All %1 columns gave the same answer.").arg(m_columns.size()));
    else if (at == 0)
        m_summary->setText(tr("The answers differ from their first character (highlighted)."));
    else
        m_summary->setText(tr("The answers part at character %1 (highlighted): \"%2\"")
                               .arg(at)
                               .arg(answers.front().left(at).right(40).toHtmlEscaped()));
    Exchange e;
    e.request = m_current;
    e.stopsText = m_currentStops;
    for (int i = 0; i < m_columns.size(); ++i) {
        const PlaygroundColumn* c = m_columns[i];
        // What the column ran with, not what it shows now (its choice may have changed meanwhile).
        e.adapters.append(i < m_current.columns.size() ? m_current.columns[i].adapters : c->adapters());
        e.conversations.append(c->conversation());
        e.answers.append(c->answer());
        e.results.append(c->result());
    }
    QString first = m_current.prompt.simplified();
    if (first.size() > 48)
        first = first.left(47) + "…";
    e.title = QString("%1  %2").arg(QDateTime::currentDateTime().toString("HH:mm:ss"), first);
    m_exchanges.append(e);
    m_history->addItem(e.title);
    if (m_current.chat)
        m_input->clear();
}

void PlaygroundView::onFailed(const QString& message)
{
    const bool wasRunning = m_running;
    setRunning(false);
    m_error->setText(message);
    m_error->show();
    // Nothing ran (refused, or the model could not be read, before any token): the columns show their
    // earlier answers again, which the error line does not replace.
    const bool nothingStreamed = std::all_of(m_columns.cbegin(), m_columns.cend(),
                                             [](const PlaygroundColumn* c) { return c->result().tokens == 0; });
    if (wasRunning && nothingStreamed) {
        for (auto* c : m_columns)
            c->restoreBeforeAnswer();
        m_current = m_previous;
        m_currentStops = m_previousStops;
        m_summary->setText(m_previousSummary);
        return;
    }
    PlaygroundColumnResult failed;
    failed.error = message;
    failed.finishReason = "error";
    for (auto* c : m_columns) {
        // A failed chat turn leaves the conversation as it was before the message.
        QList<PlaygroundTurn> turns = c->conversation();
        if (m_current.chat && !turns.isEmpty() && turns.back().role == "user")
            turns.removeLast();
        c->setConversation(turns);
        c->showAnswer(c->answer(), failed);
    }
}

void PlaygroundView::showProblem(const QString& message)
{
    m_error->setText(message);
    m_error->setVisible(!message.isEmpty());
}

void PlaygroundView::showExample(const QString& promptText, const QList<PlaygroundTurn>& turns, const QString& reference)
{
    // Examples are conversations, and the run trained on them through the chat template: in Prompt
    // mode the model would continue the bare question as raw text, which is not what the adapter learnt.
    const bool switched = !chatMode();
    if (switched)
        setChatMode(true);
    {
        // The example's earlier turns become every column's conversation; its last user turn the message.
        QList<PlaygroundTurn> before = turns;
        QString message = promptText;
        if (!before.isEmpty() && before.back().role == "user") {
            message = before.back().content;
            before.removeLast();
        }
        for (auto* c : m_columns)
            c->setConversation(before);
        m_exampleMessage = message;
        m_exampleSent = false;
        m_input->setPlainText(message);
    }
    QString text = tr("<b>Reference answer:</b> %1").arg(reference.toHtmlEscaped().replace("\n", "<br>"));
    if (switched)
        text += tr("<br><i>Switched to Chat: the run trained on its examples through the chat template.</i>");
    m_reference->setText(text);
    m_reference->setVisible(!reference.isEmpty());
    m_error->hide();
}

void PlaygroundView::hideStaleReference()
{
    // The reference answers the pulled example's message only: it stays while the input holds that
    // message, and while the input is empty because the message was just sent.
    const QString text = m_input->toPlainText();
    if (m_reference->isHidden() || text == m_exampleMessage || (text.isEmpty() && m_exampleSent))
        return;
    m_reference->hide();
    m_exampleMessage.clear();
    m_exampleSent = false;
}

int PlaygroundView::historySize() const
{
    return static_cast<int>(m_exchanges.size());
}

void PlaygroundView::restoreHistory(int row)
{
    if (m_running || row < 0 || row >= m_exchanges.size())
        return;
    const Exchange& e = m_exchanges[row];
    setChatMode(e.request.chat);
    setColumnCount(static_cast<int>(e.answers.size()));
    m_input->setPlainText(e.request.chat ? QString() : e.request.prompt);
    m_current = e.request;
    m_currentStops = e.stopsText;
    // The settings it ran with, so that Generate runs it again as it was.
    m_model->setText(e.request.modelPath);
    const PlaygroundSettings& st = e.request.settings;
    m_maxTokens->setValue(st.maxNewTokens);
    m_temperature->setValue(st.temperature);
    m_topK->setValue(st.topK);
    m_topP->setValue(st.topP);
    m_repetition->setValue(st.repetitionPenalty);
    m_seed->setValue(static_cast<int>(st.seed));
    m_stops->setText(e.stopsText);
    QStringList missing;
    for (int i = 0; i < m_columns.size(); ++i) {
        PlaygroundColumn* c = m_columns[i];
        const PlaygroundColumnRequest column = i < e.request.columns.size() ? e.request.columns[i] : PlaygroundColumnRequest{};
        QList<PlaygroundAdapter> kept;
        for (const auto& a : e.adapters[i]) {
            const bool offered = std::any_of(m_versions.cbegin(), m_versions.cend(),
                                             [&](const PlaygroundVersion& v) { return v.id == a.versionId && !v.gate; });
            if (offered)
                kept.append(a);
            else
                missing << tr("column %1: %2 no longer exists").arg(i + 1).arg(a.reference);
        }
        c->setGate(QString());
        c->setAdapters(kept);
        if (column.gateVersionId != 0) {
            const auto gate = std::find_if(m_versions.cbegin(), m_versions.cend(),
                                           [&](const PlaygroundVersion& v) { return v.id == column.gateVersionId && v.gate; });
            QString why;
            if (gate == m_versions.cend())
                missing << tr("column %1: its stored gate (version id %2) no longer exists").arg(i + 1).arg(column.gateVersionId);
            else if (!c->setStoredGate(*gate, &why))
                missing << tr("column %1: %2").arg(i + 1).arg(why);
        } else if (!column.gatePath.isEmpty()) {
            QString why;
            if (!c->setGate(column.gatePath, &why))
                missing << tr("column %1: %2").arg(i + 1).arg(why);
        }
        c->setConversation(e.conversations[i]);
        c->showAnswer(e.answers[i], e.results[i]);
    }
    const int at = firstDifference(e.answers);
    for (auto* c : m_columns)
        c->markDivergence(at);
    if (missing.isEmpty()) {
        m_error->clear();
        m_error->hide();
    } else {
        m_error->setText(tr("This exchange's versions are not all there any more (%1); those columns run without them.")
                             .arg(missing.join("; ")));
        m_error->show();
    }
}

} // namespace rslora::ui
