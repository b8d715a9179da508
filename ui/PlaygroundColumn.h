// One column of the Playground: its adapter set (none = the base model; up to three stored versions
// mixed with weights), the text it streams, in chat mode its own conversation, and its speed.
#pragma once

#include "ui/PlaygroundTypes.h"
#include "ui/numbers/RealBox.h"

#include <QJsonObject>
#include <QList>
#include <QWidget>

class QComboBox;
class QLabel;
class QPushButton;
class QTextBrowser;
class QToolButton;
class QVBoxLayout;

namespace rslora::ui {

class PlaygroundColumn : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxAdapters = 3;

    explicit PlaygroundColumn(int index, QWidget* parent = nullptr);

    // The versions offered (keeps the current choices when they are still offered); stored gates among
    // them are offered by "Use a gate" instead.
    void setVersions(const QList<PlaygroundVersion>& versions);
    // The set as chosen: versions with their weights; empty for the base model alone.
    QList<PlaygroundAdapter> adapters() const;
    // Chooses a set (unknown versions are left out); empty: the base model.
    void setAdapters(const QList<PlaygroundAdapter>& adapters);
    QString adaptersLabel() const;
    // The weights typed that their boxes cannot take ("Column 1, weight 2: '9' is out of range: ..."),
    // also shown under the rows; none while a gate replaces the rows.
    QStringList weightProblems() const;

    // A learned gate instead of the version rows: its folder and the labels of its adapters (read
    // from gate.json). Returns false with `error` set when the folder is no gate; empty path clears.
    bool setGate(const QString& path, QString* error = nullptr);
    // A stored gate (a version of stage "gate"): its folder, and its reference as the label.
    bool setStoredGate(const PlaygroundVersion& gate, QString* error = nullptr);
    const QString& gatePath() const { return m_gatePath; }
    qint64 gateVersionId() const { return m_gateVersionId; }

    // Chat mode: the conversation before the message being answered.
    const QList<PlaygroundTurn>& conversation() const { return m_conversation; }
    void setConversation(const QList<PlaygroundTurn>& turns);
    void setChatMode(bool chat);

    // A new answer begins (in chat mode after `userMessage`, which joins the conversation).
    void beginAnswer(const QString& userMessage);
    void appendText(const QString& text);
    // A generation that ended before this column's first token without running (refused, the model
    // could not be read): the column shows again what it showed before beginAnswer.
    void restoreBeforeAnswer();
    // The answer ended; in chat mode it joins the conversation.
    void finishAnswer(const PlaygroundColumnResult& result);
    // Shows a stored exchange again (history).
    void showAnswer(const QString& text, const PlaygroundColumnResult& result);
    const QString& answer() const { return m_answer; }
    const PlaygroundColumnResult& result() const { return m_result; }
    // A finished generation gave this column at least one token and no error (what Copy JSON copies).
    bool hasAnswer() const;
    // The generation ended by Stop before this column's first token.
    bool stoppedBeforeAnswering() const;
    // Highlights the answer from character `index` on (-1: no highlight).
    void markDivergence(int index);
    int divergence() const { return m_divergence; }

    // What the column did, as JSON (adapters, settings, prompt or conversation, text, speed): the
    // adapters and gate that gave the answer, whatever the column has chosen since.
    QJsonObject toJson(const PlaygroundRequest& request) const;
    void copyJsonToClipboard(const PlaygroundRequest& request) const;

    QTextBrowser* output() const { return m_output; }
    QLabel* status() const { return m_status; }
    QComboBox* versionBox(int row) const;
    numbers::RealBox* weightBox(int row) const;
    QLabel* weightErrorLabel() const { return m_weightError; }
    int adapterRows() const { return static_cast<int>(m_rows.size()); }
    QToolButton* addRowButton() const { return m_addRow; }
    QToolButton* copyButton() const { return m_copy; }
    QToolButton* gateButton() const { return m_gateButton; }

Q_SIGNALS:
    void copyRequested(int column);
    void adaptersChanged(int column);
    // The text of a weight box changed, also to text it cannot take (see weightProblems()).
    void entriesChanged(int column);

private:
    struct Row {
        QWidget* widget = nullptr;
        QComboBox* version = nullptr;
        numbers::RealBox* weight = nullptr;
    };
    void addRow();
    void removeRow(int row);
    void fillVersions(QComboBox* box) const;
    void render();
    void showStatus();
    void chooseGate();
    void fillGateMenu();
    void showGateLabel();
    void showWeightProblems();
    // Notes the adapters and gate now chosen as what gives the answer shown.
    void noteAnswerer();

    int m_index = 0;
    bool m_chat = false;
    QList<PlaygroundVersion> m_versions;
    QList<Row> m_rows;
    QList<PlaygroundTurn> m_conversation;
    QString m_answer;
    bool m_answering = false;
    PlaygroundColumnResult m_result;
    int m_divergence = -1;
    QVBoxLayout* m_rowsLayout = nullptr;
    QLabel* m_weightError = nullptr;
    QToolButton* m_addRow = nullptr;
    QToolButton* m_gateButton = nullptr;
    QToolButton* m_clearGate = nullptr;
    QLabel* m_gateLabel = nullptr;
    QString m_gatePath;
    qint64 m_gateVersionId = 0;
    QString m_gateReference;
    QList<PlaygroundVersion> m_gates;
    QStringList m_gateAdapters;
    // What gave the answer shown: the choices when it began (they may have changed since).
    struct Answerer {
        QList<PlaygroundAdapter> adapters;
        QString gatePath;
        qint64 gateVersionId = 0;
        QString gateReference;
        bool chat = false; // answered in Chat mode: shown and copied as a conversation even after a switch to Prompt
    };
    Answerer m_answeredBy;
    // What the column showed when the answer being written began.
    struct Shown {
        QString answer;
        PlaygroundColumnResult result;
        QList<PlaygroundTurn> conversation;
        int divergence = -1;
        Answerer answeredBy;
    };
    Shown m_before;
    QToolButton* m_copy = nullptr;
    QTextBrowser* m_output = nullptr;
    QLabel* m_status = nullptr;
};

} // namespace rslora::ui
