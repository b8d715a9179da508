// The Playground (Ctrl+5): one prompt, or a chat, answered side by side by two to four columns, each
// with its own adapter set, the same sampling settings and seed. The columns stream together (the
// application runs them as one mixed-adapter batch on a shared base model), show their speed, and
// mark where their answers first differ. An example can be pulled from a run's validation data with
// its reference answer; every exchange is kept in the session's history; a column copies as JSON.
#pragma once

#include "ui/PlaygroundTypes.h"
#include "ui/numbers/IntBox.h"
#include "ui/numbers/RealBox.h"

#include <QList>
#include <QPair>
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QPushButton;
class QSplitter;

namespace rslora::ui {

class FlowLayout;
class PlaygroundColumn;

class PlaygroundView : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMinColumns = 2;
    static constexpr int kMaxColumns = 4;

    explicit PlaygroundView(QWidget* parent = nullptr);

    void setVersions(const QList<PlaygroundVersion>& versions);
    // Runs whose validation data can give examples: (run id, label).
    void setRuns(const QList<QPair<qint64, QString>>& runs);
    void setModelPath(const QString& path);
    QString modelPath() const;

    // The request the form describes, and what is wrong with it (empty when it can run).
    PlaygroundRequest request() const;
    QString problem() const;
    // The numbers typed that their fields cannot take (the settings' and every column's weights),
    // each naming its field and range: Generate is off while there are any.
    QStringList entryProblems() const;

    // Starts a generation when the form is valid (else shows why); false when nothing started.
    bool generate();
    void stop();
    void newChat();
    void setColumnCount(int count);
    int columnCount() const;
    bool chatMode() const;
    void setChatMode(bool chat);
    bool running() const { return m_running; }
    int historySize() const;
    // Shows history entry `row` again: its model, sampling settings, adapters or gate per column,
    // prompt or conversation, answers. Versions no longer offered are left out, and the error line
    // names them.
    void restoreHistory(int row);

    PlaygroundColumn* column(int index) const;
    QPlainTextEdit* input() const { return m_input; }
    QLineEdit* modelEdit() const { return m_model; }
    numbers::IntBox* columnsBox() const { return m_columnsBox; }
    numbers::IntBox* maxTokensBox() const { return m_maxTokens; }
    numbers::RealBox* temperatureBox() const { return m_temperature; }
    numbers::IntBox* seedBox() const { return m_seed; }
    numbers::IntBox* topKBox() const { return m_topK; }
    numbers::RealBox* topPBox() const { return m_topP; }
    numbers::RealBox* repetitionBox() const { return m_repetition; }
    QLineEdit* stopEdit() const { return m_stops; }
    QComboBox* runBox() const { return m_runs; }
    // The sampling settings' labelled fields, on as many rows as the view's width needs.
    FlowLayout* samplingLayout() const { return m_sampling; }
    QPushButton* generateButton() const { return m_generate; }
    QPushButton* stopButton() const { return m_stop; }
    QListWidget* history() const { return m_history; }
    QLabel* errorLabel() const { return m_error; }
    // Under the settings: what their fields cannot take (hidden when nothing).
    QLabel* entryErrorLabel() const { return m_entryError; }
    QLabel* referenceLabel() const { return m_reference; }
    QLabel* summaryLabel() const { return m_summary; }

public Q_SLOTS:
    void onToken(int column, const QString& text);
    void onColumnFinished(int column, const PlaygroundColumnResult& result);
    // Every column ended: marks where they differ and keeps the exchange in the history.
    void onFinished();
    void onFailed(const QString& message);
    // A problem that is not a generation's (an example that cannot be pulled, ...).
    void showProblem(const QString& message);
    // An example pulled from a run: its prompt (as text, and as turns for chat mode) and reference.
    void showExample(const QString& promptText, const QList<PlaygroundTurn>& turns, const QString& reference);

Q_SIGNALS:
    void generateRequested(const PlaygroundRequest& request);
    void stopRequested();
    void exampleRequested(qint64 runId);
    void browseModelRequested();

private:
    struct Exchange {
        PlaygroundRequest request;
        QString stopsText; // the stop strings as typed
        QString title;
        QList<QList<PlaygroundAdapter>> adapters;
        QList<QList<PlaygroundTurn>> conversations;
        QStringList answers;
        QList<PlaygroundColumnResult> results;
    };
    void setRunning(bool running);
    // Shows the settings' entry problems under them and turns Generate off while there are any.
    void checkEntries();
    // The problems of the numbers typed above the columns (the columns name their weights').
    QStringList settingsProblems() const;
    // Hides the reference answer once the input is no longer the pulled example's message.
    void hideStaleReference();

    QLineEdit* m_model = nullptr;
    QComboBox* m_mode = nullptr;
    numbers::IntBox* m_columnsBox = nullptr;
    numbers::IntBox* m_maxTokens = nullptr;
    numbers::RealBox* m_temperature = nullptr;
    numbers::IntBox* m_topK = nullptr;
    numbers::RealBox* m_topP = nullptr;
    numbers::RealBox* m_repetition = nullptr;
    numbers::IntBox* m_seed = nullptr;
    QLineEdit* m_stops = nullptr;
    FlowLayout* m_sampling = nullptr;
    QPlainTextEdit* m_input = nullptr;
    QPushButton* m_generate = nullptr;
    QPushButton* m_stop = nullptr;
    QPushButton* m_newChat = nullptr;
    QComboBox* m_runs = nullptr;
    QPushButton* m_example = nullptr;
    QLabel* m_reference = nullptr;
    QString m_exampleMessage; // the pulled example's message, which m_reference answers
    bool m_exampleSent = false; // it was generated from (chat mode then cleared the input)
    QLabel* m_error = nullptr;
    QLabel* m_entryError = nullptr;
    QLabel* m_summary = nullptr;
    QSplitter* m_columnSplitter = nullptr;
    QList<PlaygroundColumn*> m_columns;
    QListWidget* m_history = nullptr;
    QList<Exchange> m_exchanges;
    QList<PlaygroundVersion> m_versions;
    PlaygroundRequest m_current;
    QString m_currentStops; // m_current's stop strings as typed
    // What the columns answered before the running generation (shown again when it fails to start).
    PlaygroundRequest m_previous;
    QString m_previousStops;
    QString m_previousSummary;
    int m_pending = 0;
    bool m_running = false;
};

} // namespace rslora::ui
