// The Playground view on its own: where answers part, the form as a request (columns, adapters and
// weights, stop strings, chat conversations), refusals of what cannot run, streaming into columns,
// the history, failures that leave a chat as it was, examples, and a column copied as JSON.
#include "ui/PlaygroundColumn.h"
#include "ui/PlaygroundView.h"
#include "ui/TextDivergence.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTextBrowser>
#include <QToolButton>
#include <QtTest>

using namespace rslora::ui;

namespace {

QList<PlaygroundVersion> versions()
{
    return {{11, "facts@v1 · sft · r8", "facts@v1", "/models/demo"}, {12, "facts@v2 · sft · r8", "facts@v2", "/models/demo"},
            {13, "chat@v1 · sft · r4", "chat@v1", "/models/demo"}};
}

PlaygroundColumnResult finished(const QString& text, int tokens, const QString& reason = "stop")
{
    PlaygroundColumnResult r;
    r.text = text;
    r.tokens = tokens;
    r.promptTokens = 7;
    r.seconds = 0.5;
    r.firstTokenSeconds = 0.1;
    r.finishReason = reason;
    return r;
}

// Whether a label renders its text as HTML.
bool showsAsHtml(const QLabel* label)
{
    return label->textFormat() == Qt::RichText || (label->textFormat() == Qt::AutoText && Qt::mightBeRichText(label->text()));
}

} // namespace

class PlaygroundViewTest : public QObject {
    Q_OBJECT

private slots:
    void firstDifferenceOfAnswers()
    {
        QCOMPARE(firstDifference({}), -1);
        QCOMPARE(firstDifference({"abc"}), -1);
        QCOMPARE(firstDifference({"abc", "abc", "abc"}), -1);
        QCOMPARE(firstDifference({"abcdef", "abcxef"}), 3);
        QCOMPARE(firstDifference({"abc", "abc", "abd"}), 2);
        QCOMPARE(firstDifference({"abc", "abcde"}), 3); // a prefix parts where it ends
        QCOMPARE(firstDifference({"", "x"}), 0);
        QCOMPARE(firstDifference({"xa", "ya", "xa"}), 0);
    }

    void columnsStayBetweenTwoAndFour()
    {
        PlaygroundView v;
        QCOMPARE(v.columnCount(), 2);
        v.setColumnCount(4);
        QCOMPARE(v.columnCount(), 4);
        v.setColumnCount(9);
        QCOMPARE(v.columnCount(), 4);
        v.setColumnCount(1);
        QCOMPARE(v.columnCount(), 2);
    }

    void requestFromTheForm()
    {
        PlaygroundView v;
        v.setVersions(versions());
        v.setColumnCount(3);
        v.setModelPath("/models/demo");
        v.input()->setPlainText("What is 2 plus 2?");
        v.maxTokensBox()->setValue(17);
        v.seedBox()->setValue(42);
        v.stopEdit()->setText(" ### , \\n\\n, a\\,b");
        // Column 1: the base; column 2: one version; column 3: a weighted mix of two.
        auto* c2 = v.column(1);
        c2->versionBox(0)->setCurrentIndex(c2->versionBox(0)->findData(qint64(12)));
        auto* c3 = v.column(2);
        c3->versionBox(0)->setCurrentIndex(c3->versionBox(0)->findData(qint64(11)));
        c3->weightBox(0)->setValue(0.5);
        c3->addRowButton()->click();
        QCOMPARE(c3->adapterRows(), 2);
        c3->versionBox(1)->setCurrentIndex(c3->versionBox(1)->findData(qint64(13)));
        c3->weightBox(1)->setValue(-0.25);
        const PlaygroundRequest r = v.request();
        QCOMPARE(r.modelPath, QString("/models/demo"));
        QVERIFY(!r.chat);
        QCOMPARE(r.prompt, QString("What is 2 plus 2?"));
        QCOMPARE(r.settings.maxNewTokens, 17);
        QCOMPARE(r.settings.seed, qint64(42));
        QCOMPARE(r.settings.stopStrings, (QStringList{"###", "\n\n", "a,b"}));
        QCOMPARE(r.columns.size(), 3);
        QVERIFY(r.columns[0].adapters.isEmpty());
        QCOMPARE(r.columns[1].adapters.size(), 1);
        QCOMPARE(r.columns[1].adapters[0].versionId, qint64(12));
        QCOMPARE(r.columns[1].adapters[0].reference, QString("facts@v2"));
        QCOMPARE(r.columns[2].adapters.size(), 2);
        QCOMPARE(r.columns[2].adapters[0].weight, 0.5);
        QCOMPARE(r.columns[2].adapters[1].versionId, qint64(13));
        QCOMPARE(r.columns[2].adapters[1].weight, -0.25);
        QCOMPARE(c3->adaptersLabel(), QString("0.5 × facts@v1 + -0.25 × chat@v1"));
        // At most three versions in a mix.
        c3->addRowButton()->click();
        QCOMPARE(c3->adapterRows(), 3);
        QVERIFY(!c3->addRowButton()->isEnabled());
    }

    void refusesWhatCannotRun()
    {
        PlaygroundView v;
        v.setVersions(versions());
        QSignalSpy requested(&v, &PlaygroundView::generateRequested);
        v.input()->setPlainText("hello");
        QVERIFY(!v.generate());
        QVERIFY(v.errorLabel()->text().contains("base model folder"));
        v.setModelPath("/models/demo");
        v.input()->setPlainText("   \n");
        QVERIFY(!v.generate());
        QVERIFY(v.errorLabel()->text().contains("Type a prompt"));
        v.input()->setPlainText("hello");
        auto* c = v.column(0);
        c->versionBox(0)->setCurrentIndex(1);
        c->weightBox(0)->setValue(0.0);
        QVERIFY(!v.generate());
        QVERIFY2(v.errorLabel()->text().contains("Column 1: facts@v1 has weight 0"), qPrintable(v.errorLabel()->text()));
        QCOMPARE(requested.count(), 0);
        c->weightBox(0)->setValue(1.0);
        // One version twice in a column's mix is refused, naming it.
        c->addRowButton()->click();
        c->versionBox(1)->setCurrentIndex(1);
        QVERIFY(!v.generate());
        QVERIFY2(v.errorLabel()->text().contains("Column 1: facts@v1 is in the mix twice"), qPrintable(v.errorLabel()->text()));
        QCOMPARE(requested.count(), 0);
        c->versionBox(1)->setCurrentIndex(2);
        QCOMPARE(c->adapters().size(), 2);
        QVERIFY(v.generate());
        QCOMPARE(requested.count(), 1);
        QVERIFY(v.running());
        QVERIFY(!v.generateButton()->isEnabled());
        QVERIFY(v.stopButton()->isEnabled());
        QVERIFY(!v.generate()); // one generation at a time
        QCOMPARE(requested.count(), 1);
    }

    // A setting or weight its box cannot take (5000 new tokens, a temperature of 9, a weight of 7)
    // stays as typed and is named at its field with the range; Generate is off until it is fixed (the
    // boxes cut 5000 to 4096 without a word, and the columns generated with numbers nobody typed).
    void numbersTheBoxesCannotTakeAreRefused()
    {
        PlaygroundView v;
        v.setVersions(versions());
        v.setModelPath("/models/demo");
        v.input()->setPlainText("hello");
        v.resize(1024, 700);
        v.show();
        QVERIFY(QTest::qWaitForWindowExposed(&v));
        QSignalSpy requested(&v, &PlaygroundView::generateRequested);
        QVERIFY(v.generateButton()->isEnabled());
        QVERIFY(!v.entryErrorLabel()->isVisible());
        v.maxTokensBox()->selectAll();
        QTest::keyClicks(v.maxTokensBox(), "5000");
        QCOMPARE(v.maxTokensBox()->text(), QString("5000"));
        QVERIFY(!v.generateButton()->isEnabled());
        QVERIFY(v.entryErrorLabel()->isVisible());
        const QString tokens = "Max new tokens: '5000' is out of range: enter a whole number from 1 to 4096";
        QCOMPARE(v.entryErrorLabel()->text(), tokens);
        v.temperatureBox()->selectAll();
        QTest::keyClicks(v.temperatureBox(), "9");
        QCOMPARE(v.entryErrorLabel()->text(), tokens + "\nTemperature: '9' is out of range: enter a number from 0 to 5");
        QCOMPARE(v.entryProblems().size(), 2);
        // Ctrl+Enter starts nothing either; the field keeps what was typed when it is left.
        QVERIFY(!v.generate());
        QCOMPARE(requested.count(), 0);
        v.maxTokensBox()->setFocus();
        v.input()->setFocus();
        QCOMPARE(v.maxTokensBox()->text(), QString("5000"));
        v.maxTokensBox()->selectAll();
        QTest::keyClicks(v.maxTokensBox(), "300");
        v.temperatureBox()->selectAll();
        QTest::keyClicks(v.temperatureBox(), "0.7");
        QVERIFY(!v.entryErrorLabel()->isVisible());
        QVERIFY(v.generateButton()->isEnabled());

        // A column's weight is named under that column's versions.
        PlaygroundColumn* c = v.column(1);
        c->versionBox(0)->setCurrentIndex(1);
        c->weightBox(0)->selectAll();
        QTest::keyClicks(c->weightBox(0), "7");
        QVERIFY(c->weightErrorLabel()->isVisible());
        QCOMPARE(c->weightErrorLabel()->text(), QString("Column 2, weight: '7' is out of range: enter a number from -4 to 4"));
        QVERIFY(!v.column(0)->weightErrorLabel()->isVisible());
        QCOMPARE(v.entryProblems(), QStringList{c->weightErrorLabel()->text()});
        QVERIFY(!v.generateButton()->isEnabled());
        QVERIFY(!v.generate());
        QCOMPARE(requested.count(), 0);
        c->addRowButton()->click(); // with two rows each weight is named by its row
        QCOMPARE(c->weightErrorLabel()->text(), QString("Column 2, weight 1: '7' is out of range: enter a number from -4 to 4"));
        c->weightBox(0)->selectAll();
        QTest::keyClicks(c->weightBox(0), "0.5");
        QVERIFY(!c->weightErrorLabel()->isVisible());
        QVERIFY(v.generateButton()->isEnabled());
        const PlaygroundRequest r = v.request();
        QCOMPARE(r.settings.maxNewTokens, 300);
        QCOMPARE(r.settings.temperature, 0.7);
        QCOMPARE(r.columns[1].adapters.size(), 1);
        QCOMPARE(r.columns[1].adapters[0].weight, 0.5);
        QVERIFY(v.generate());
        QCOMPARE(requested.count(), 1);
    }

    void streamsMarksDifferencesAndKeepsHistory()
    {
        PlaygroundView v;
        v.setVersions(versions());
        v.setModelPath("/models/demo");
        v.input()->setPlainText("The sky is");
        QVERIFY(v.generate());
        v.onToken(0, " blue");
        v.onToken(1, " blue");
        v.onToken(1, " green");
        QCOMPARE(v.column(1)->answer(), QString(" blue green"));
        QVERIFY(v.column(1)->status()->text().contains("2 token"));
        v.onColumnFinished(0, finished(" blue.", 2));
        v.onColumnFinished(1, finished(" blue green.", 3, "length"));
        v.onFinished();
        QVERIFY(!v.running());
        QCOMPARE(v.column(0)->divergence(), 5);
        QCOMPARE(v.column(1)->divergence(), 5);
        QVERIFY(v.column(1)->output()->toHtml().contains("background-color:#ffe3b3"));
        QVERIFY(v.summaryLabel()->text().contains("part at character 5"));
        // Speed: (tokens - 1) / (seconds - first token seconds) = 2 / 0.4 = 5.0 tok/s.
        QVERIFY2(v.column(1)->status()->text().contains("3 tokens · 5.0 tok/s · first token 100 ms · length"),
                 qPrintable(v.column(1)->status()->text()));
        QCOMPARE(v.historySize(), 1);
        QCOMPARE(v.history()->count(), 1);
        QVERIFY(v.history()->item(0)->text().contains("The sky is"));

        // A second exchange with equal answers, then the first one shown again.
        v.input()->setPlainText("Grass is");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished(" green.", 2));
        v.onColumnFinished(1, finished(" green.", 2));
        v.onFinished();
        QCOMPARE(v.column(0)->divergence(), -1);
        QVERIFY(v.summaryLabel()->text().contains("same answer"));
        // Answers that differ at once: no empty shared part quoted ("at character 0: \"\"").
        v.input()->setPlainText("Snow is");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("White.", 2));
        v.onColumnFinished(1, finished("Cold.", 2));
        v.onFinished();
        QCOMPARE(v.column(0)->divergence(), 0);
        QCOMPARE(v.summaryLabel()->text(), QString("The answers differ from their first character (highlighted)."));
        // Stopped before any token: nothing to compare, no speed to show.
        v.input()->setPlainText("Fire is");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished(QString(), 0, "cancelled"));
        v.onColumnFinished(1, finished(QString(), 0, "cancelled"));
        v.onFinished();
        QCOMPARE(v.summaryLabel()->text(), QString("No column wrote any text."));
        QCOMPARE(v.column(0)->status()->text(), QString("no tokens · cancelled"));
        // The shared part is quoted HTML-escaped, and shown as HTML (an '&' is no "&amp;").
        v.input()->setPlainText("Dinner:");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished(" fish & chips", 3));
        v.onColumnFinished(1, finished(" fish & peas", 3));
        v.onFinished();
        QVERIFY(v.summaryLabel()->text().contains("fish &amp; "));
        QVERIFY(showsAsHtml(v.summaryLabel()));
        // Failures show as written, markup included.
        v.input()->setPlainText("Again");
        QVERIFY(v.generate());
        v.onToken(0, " it");
        v.onFailed("cannot read /models/<b>demo</b>");
        QCOMPARE(v.errorLabel()->text(), QString("cannot read /models/<b>demo</b>"));
        QVERIFY(!showsAsHtml(v.errorLabel()));
        QVERIFY(v.column(0)->status()->text().contains("<b>demo</b>"));
        QVERIFY(!showsAsHtml(v.column(0)->status()));
        v.restoreHistory(0);
        QCOMPARE(v.input()->toPlainText(), QString("The sky is"));
        QCOMPARE(v.column(1)->answer(), QString(" blue green."));
        QCOMPARE(v.column(0)->divergence(), 5);
    }

    void chatKeepsAConversationPerColumn()
    {
        PlaygroundView v;
        v.setModelPath("/models/demo");
        v.setChatMode(true);
        v.input()->setPlainText("Hi");
        const PlaygroundRequest first = v.request();
        QCOMPARE(first.columns[0].conversation.size(), 1);
        QCOMPARE(first.columns[0].conversation[0].role, QString("user"));
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("Hello!", 2));
        v.onColumnFinished(1, finished("Hey.", 2));
        v.onFinished();
        QVERIFY(v.input()->toPlainText().isEmpty()); // the message was sent
        QCOMPARE(v.column(0)->conversation().size(), 2);
        QCOMPARE(v.column(1)->conversation().back().content, QString("Hey."));
        v.input()->setPlainText("Bye");
        const PlaygroundRequest second = v.request();
        QCOMPARE(second.columns[1].conversation.size(), 3);
        QCOMPARE(second.columns[1].conversation[1].content, QString("Hey."));
        QCOMPARE(second.columns[0].conversation[1].content, QString("Hello!"));
        // A failed turn leaves every conversation as it was, with the message still in the box; the
        // columns show their last answers, the error line why the turn failed.
        QVERIFY(v.generate());
        v.onFailed("model folder gone");
        QVERIFY(!v.running());
        QCOMPARE(v.column(0)->conversation().size(), 2);
        QCOMPARE(v.input()->toPlainText(), QString("Bye"));
        QVERIFY(v.errorLabel()->text().contains("model folder gone"));
        QCOMPARE(v.column(0)->answer(), QString("Hello!"));
        QVERIFY2(v.column(0)->status()->text().startsWith("2 tokens"), qPrintable(v.column(0)->status()->text()));
        v.newChat();
        QVERIFY(v.column(0)->conversation().isEmpty());
    }

    void examplesFillThePromptAndShowTheReference()
    {
        PlaygroundView v;
        v.setRuns({{3, "#3 facts"}, {5, "#5 chat"}});
        QSignalSpy asked(&v, &PlaygroundView::exampleRequested);
        v.runBox()->setCurrentIndex(1);
        const auto buttons = v.findChildren<QPushButton*>();
        for (auto* b : buttons)
            if (b->text() == "Pull example")
                b->click();
        QCOMPARE(asked.count(), 1);
        QCOMPARE(asked.at(0).at(0).toLongLong(), qint64(5));
        // Prompt mode (the default) switches to Chat: the run trained on the record through the template.
        QVERIFY(!v.chatMode());
        v.showExample("What is 6 plus 1?", {{"system", "Be brief."}, {"user", "What is 6 plus 1?"}}, "6 plus 1 is 7.");
        QVERIFY(v.chatMode());
        QCOMPARE(v.input()->toPlainText(), QString("What is 6 plus 1?"));
        QCOMPARE(v.column(0)->conversation().size(), 1);
        QVERIFY(v.referenceLabel()->text().contains("6 plus 1 is 7."));
        QVERIFY(v.referenceLabel()->text().contains("Switched to Chat"));
        // Already in Chat: no note.
        v.showExample("What is 6 plus 1?", {{"system", "Be brief."}, {"user", "What is 6 plus 1?"}}, "6 plus 1 is 7.");
        QCOMPARE(v.column(0)->conversation().size(), 1);
        QCOMPARE(v.column(0)->conversation()[0].role, QString("system"));
        QCOMPARE(v.input()->toPlainText(), QString("What is 6 plus 1?"));
        QVERIFY(!v.referenceLabel()->text().contains("Switched to Chat"));
    }

    // The reference answer goes with the pulled example's message: it stays while the input holds
    // that message and beside the answers to it, and goes once another message is typed or set.
    void referenceGoesWithItsExample()
    {
        PlaygroundView v;
        v.setVersions(versions());
        v.setModelPath("/models/demo");
        v.showExample("What is 6 plus 1?", {{"user", "What is 6 plus 1?"}}, "6 plus 1 is 7.");
        QVERIFY(!v.referenceLabel()->isHidden());
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("7.", 1));
        v.onColumnFinished(1, finished("Seven.", 2));
        v.onFinished();
        QCOMPARE(v.input()->toPlainText(), QString()); // chat mode empties the input after a turn
        QVERIFY(!v.referenceLabel()->isHidden());
        QTest::keyClicks(v.input(), "And 7 plus 1?");
        QVERIFY(v.referenceLabel()->isHidden());
        // Pulled again and edited before generating: gone at the first change.
        v.showExample("What is 6 plus 1?", {{"user", "What is 6 plus 1?"}}, "6 plus 1 is 7.");
        QVERIFY(!v.referenceLabel()->isHidden());
        QTest::keyClick(v.input(), Qt::Key_End, Qt::ControlModifier);
        QTest::keyClick(v.input(), Qt::Key_Backspace);
        QCOMPARE(v.input()->toPlainText(), QString("What is 6 plus 1"));
        QVERIFY(v.referenceLabel()->isHidden());
        // A message put in its place (a history entry, say) and generated: no reference either.
        v.showExample("What is 6 plus 1?", {{"user", "What is 6 plus 1?"}}, "6 plus 1 is 7.");
        v.input()->setPlainText("Name a colour.");
        QVERIFY(v.generate());
        v.onFinished();
        QVERIFY(v.referenceLabel()->isHidden());
    }

    void historyIsReadableAtTheSmallestWindow()
    {
        // At 1366 pixels wide the history keeps room for its "hh:mm:ss  prompt" entries.
        PlaygroundView view;
        view.resize(1366, 640);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QVERIFY2(view.history()->width() >= 220, qPrintable(QString::number(view.history()->width())));
    }

    void fourColumnsFitASmallWindow()
    {
        // Four columns of mixed versions side by side made the view (and so the window) wider than a
        // 1366-pixel screen, a width the window then remembered; the columns scroll instead.
        PlaygroundView view;
        view.setVersions(versions());
        view.setColumnCount(4);
        for (int i = 0; i < 4; ++i)
            view.column(i)->findChild<QToolButton*>("addAdapter")->click();
        view.resize(1024, 640);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QVERIFY2(view.minimumSizeHint().width() <= 1024, qPrintable(QString::number(view.minimumSizeHint().width())));
        QCOMPARE(view.width(), 1024);
        QVERIFY2(view.history()->width() >= 150, qPrintable(QString::number(view.history()->width())));
        QVERIFY(view.column(3)->isVisible());
    }

    // In a small window the answer boxes were squeezed to nothing (the prompt box kept its 110
    // pixels): they keep a few lines, the prompt box two.
    void answersKeepRoomInASmallWindow()
    {
        PlaygroundView view;
        view.setVersions(versions());
        view.resize(800, 400);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        const int line = view.fontMetrics().lineSpacing();
        QVERIFY2(view.column(0)->output()->height() >= 3 * line,
                 qPrintable(QString("%1 < %2").arg(view.column(0)->output()->height()).arg(3 * line)));
        QVERIFY2(view.input()->height() >= 2 * line, qPrintable(QString::number(view.input()->height())));
        QVERIFY2(view.height() <= 480, qPrintable(QString::number(view.height())));
    }

    void copiesAColumnAsJson()
    {
        PlaygroundView v;
        v.setVersions(versions());
        v.setModelPath("/models/demo");
        v.input()->setPlainText("The sky is");
        v.column(1)->versionBox(0)->setCurrentIndex(v.column(1)->versionBox(0)->findData(qint64(13)));
        QVERIFY(!v.column(1)->copyButton()->isEnabled());
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished(" blue.", 2));
        v.onColumnFinished(1, finished(" grey.", 2));
        v.onFinished();
        QVERIFY(v.column(1)->copyButton()->isEnabled());
        v.column(1)->copyButton()->click();
        const QJsonObject o = QJsonDocument::fromJson(QApplication::clipboard()->text().toUtf8()).object();
        QCOMPARE(o["column"].toInt(), 2);
        QCOMPARE(o["prompt"].toString(), QString("The sky is"));
        QCOMPARE(o["text"].toString(), QString(" grey."));
        QCOMPARE(o["adapters"].toArray().size(), 1);
        QCOMPARE(o["adapters"].toArray()[0].toObject()["version"].toString(), QString("chat@v1"));
        QCOMPARE(o["settings"].toObject()["max_new_tokens"].toInt(), 64);
        QCOMPARE(o["finish_reason"].toString(), QString("stop"));
        QCOMPARE(o["model"].toString(), QString("/models/demo"));

        // Choosing other versions afterwards does not change what gave the answer.
        v.column(1)->versionBox(0)->setCurrentIndex(v.column(1)->versionBox(0)->findData(qint64(11)));
        v.column(0)->versionBox(0)->setCurrentIndex(v.column(0)->versionBox(0)->findData(qint64(12)));
        v.column(1)->copyButton()->click();
        QJsonObject again = QJsonDocument::fromJson(QApplication::clipboard()->text().toUtf8()).object();
        QCOMPARE(again["adapters"].toArray().size(), 1);
        QCOMPARE(again["adapters"].toArray()[0].toObject()["version"].toString(), QString("chat@v1"));
        v.column(0)->copyButton()->click();
        again = QJsonDocument::fromJson(QApplication::clipboard()->text().toUtf8()).object();
        QCOMPARE(again["text"].toString(), QString(" blue."));
        QVERIFY2(again["adapters"].toArray().isEmpty(), qPrintable(QJsonDocument(again).toJson())); // the base model answered
    }

    // Copy JSON is enabled exactly while a column shows an answer: not while streaming, not after a
    // failure or a stop before any token, not after New chat (it stayed enabled with nothing to copy).
    void copyIsEnabledExactlyWithAnAnswer()
    {
        PlaygroundView v;
        v.setModelPath("/models/demo");
        v.setChatMode(true);
        v.input()->setPlainText("Hi");
        QVERIFY(v.generate());
        v.onToken(0, "Hel");
        QVERIFY(!v.column(0)->copyButton()->isEnabled());
        v.onColumnFinished(0, finished("Hello.", 2));
        v.onColumnFinished(1, finished(QString(), 0, "cancelled"));
        v.onFinished();
        QVERIFY(v.column(0)->copyButton()->isEnabled());
        QVERIFY(!v.column(1)->copyButton()->isEnabled()); // stopped before its first token
        v.newChat();
        for (int c = 0; c < 2; ++c) {
            QVERIFY2(!v.column(c)->copyButton()->isEnabled(), qPrintable(QString("column %1").arg(c + 1)));
            QVERIFY(v.column(c)->status()->text().isEmpty());
            QVERIFY(v.column(c)->conversation().isEmpty());
        }
        v.restoreHistory(0);
        QVERIFY(v.column(0)->copyButton()->isEnabled());
        QVERIFY(!v.column(1)->copyButton()->isEnabled());
        v.input()->setPlainText("Again");
        QVERIFY(v.generate());
        v.onToken(0, "Hel");
        v.onFailed("the model folder is gone");
        QVERIFY(!v.column(0)->copyButton()->isEnabled());
    }

    // A generation refused or failing before any token (a prompt beyond the context, a model that
    // cannot be read) leaves every column as it was: its answer, status, conversation and what Copy
    // JSON copies; the error line says why (the columns were emptied and each repeated the error).
    void aRefusalKeepsTheEarlierAnswers()
    {
        PlaygroundView v;
        v.setModelPath("/models/demo");
        v.setChatMode(true);
        v.input()->setPlainText("Hi");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("Hello.", 2));
        v.onColumnFinished(1, finished("Hey.", 2));
        v.onFinished();
        const QString status = v.column(0)->status()->text();
        const QString summary = v.summaryLabel()->text();
        v.input()->setPlainText("A message far too long for the context");
        v.maxTokensBox()->setValue(300);
        QVERIFY(v.generate());
        v.onFailed("column 1: the conversation is 250 tokens and max new tokens is 300");
        QVERIFY(!v.running());
        QVERIFY(v.generateButton()->isEnabled());
        QCOMPARE(v.errorLabel()->text(), QString("column 1: the conversation is 250 tokens and max new tokens is 300"));
        QCOMPARE(v.column(0)->answer(), QString("Hello."));
        QCOMPARE(v.column(1)->answer(), QString("Hey."));
        QCOMPARE(v.column(0)->status()->text(), status);
        QCOMPARE(v.summaryLabel()->text(), summary);
        QCOMPARE(v.column(0)->conversation().size(), 2);
        QVERIFY(v.column(0)->output()->toPlainText().contains("Hello."));
        QVERIFY(v.column(0)->copyButton()->isEnabled());
        v.column(0)->copyButton()->click();
        const QJsonObject o = QJsonDocument::fromJson(QApplication::clipboard()->text().toUtf8()).object();
        QCOMPARE(o["text"].toString(), QString("Hello."));
        QCOMPARE(o["settings"].toObject()["max_new_tokens"].toInt(), 64);
        QCOMPARE(o["messages"].toArray().size(), 2);
        QCOMPARE(v.input()->toPlainText(), QString("A message far too long for the context")); // kept to edit
    }

    // Runs that appear after the view started empty: the first is chosen, so Pull example asks for it
    // (the box showed "No run with validation data yet" and the button did nothing).
    void runsThatAppearLaterCanGiveExamples()
    {
        PlaygroundView v;
        v.setRuns({});
        QCOMPARE(v.runBox()->currentIndex(), -1);
        v.setRuns({{4, "#4 facts"}, {5, "#5 chat"}});
        QCOMPARE(v.runBox()->currentIndex(), 0);
        QSignalSpy asked(&v, &PlaygroundView::exampleRequested);
        QPushButton* pull = nullptr;
        for (auto* b : v.findChildren<QPushButton*>())
            if (b->text() == "Pull example")
                pull = b;
        QVERIFY(pull && pull->text() == "Pull example" && pull->isEnabled());
        pull->click();
        QCOMPARE(asked.size(), 1);
        QCOMPARE(asked.front().front().toLongLong(), qint64(4));
        v.runBox()->setCurrentIndex(1);
        v.setRuns({{4, "#4 facts"}, {5, "#5 chat"}, {6, "#6 more"}});
        QCOMPARE(v.runBox()->currentData().toLongLong(), qint64(5)); // the choice stays
    }

    // New chat forgets the conversation and with it the pulled example's reference answer; an empty
    // chat column shows its placeholder, not a "Model:" with nothing after it.
    void newChatForgetsTheReference()
    {
        PlaygroundView v;
        v.setModelPath("/models/demo");
        v.setChatMode(true);
        QVERIFY(v.column(0)->output()->toPlainText().isEmpty());
        v.showExample("What is 6 plus 1?", {{"user", "What is 6 plus 1?"}}, "6 plus 1 is 7.");
        QVERIFY(!v.referenceLabel()->isHidden());
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("7.", 2));
        v.onColumnFinished(1, finished("8.", 2));
        v.onFinished();
        QVERIFY(!v.referenceLabel()->isHidden()); // beside the answers to its message
        v.newChat();
        QVERIFY(v.referenceLabel()->isHidden());
        QVERIFY2(v.column(0)->output()->toPlainText().isEmpty(), qPrintable(v.column(0)->output()->toPlainText()));
        v.input()->setPlainText("Hi");
        QVERIFY(v.generate());
        QVERIFY(v.column(0)->output()->toPlainText().contains("Model:")); // the answer is coming
    }

    // A column that fails on its own (its adapter overflows) shows its error, its conversation stays as
    // it was, and the other columns keep their answers; the error line names the column.
    void oneColumnsFailureShowsInThatColumn()
    {
        PlaygroundView v;
        v.setModelPath("/models/demo");
        v.setChatMode(true);
        v.input()->setPlainText("Hi");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("Hello.", 2));
        PlaygroundColumnResult failed;
        failed.error = "new token 3 (token position 9): the model's logits hold +inf (token id 5 of 512)";
        failed.finishReason = "error";
        v.onColumnFinished(1, failed);
        v.onFinished();
        QVERIFY(!v.running());
        QCOMPARE(v.column(0)->conversation().size(), 2);
        QVERIFY(v.column(1)->conversation().isEmpty());
        QVERIFY2(v.column(1)->status()->text().contains("Failed: new token 3 (token position 9)"),
                 qPrintable(v.column(1)->status()->text()));
        QVERIFY(!v.column(1)->copyButton()->isEnabled());
        QVERIFY(!v.errorLabel()->isHidden());
        QVERIFY2(v.errorLabel()->text().startsWith("Column 2 failed: new token 3"), qPrintable(v.errorLabel()->text()));
        // The next exchange that succeeds clears it.
        v.input()->setPlainText("Bye");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("Goodbye.", 2));
        v.onColumnFinished(1, finished("See you.", 2));
        v.onFinished();
        QVERIFY(v.errorLabel()->isHidden());
    }

    // A history entry brings back the settings it ran with (model, max new tokens, temperature, top-k,
    // top-p, repetition penalty, seed, stop strings) and each column's versions as they were when it
    // ran (also when changed during the generation); versions no longer offered are named.
    void historyRestoresSettingsAndVersions()
    {
        PlaygroundView v;
        v.setVersions(versions());
        v.setModelPath("/models/demo");
        v.setColumnCount(3);
        v.column(1)->setAdapters({{11, "facts@v1", 1.0}});
        v.column(2)->setAdapters({{12, "facts@v2", 0.5}, {13, "chat@v1", -0.25}});
        v.maxTokensBox()->setValue(17);
        v.temperatureBox()->setValue(0.7);
        v.topKBox()->setValue(40);
        v.topPBox()->setValue(0.9);
        v.repetitionBox()->setValue(1.2);
        v.seedBox()->setValue(1234);
        v.stopEdit()->setText("\\n\\n, ###");
        v.input()->setPlainText("The sky is");
        QVERIFY(v.generate());
        // Changed while it runs: the history keeps what ran.
        v.column(1)->setAdapters({{13, "chat@v1", 1.0}});
        for (int c = 0; c < 3; ++c)
            v.onColumnFinished(c, finished(" blue.", 2));
        v.onFinished();

        v.setModelPath("/models/other");
        v.maxTokensBox()->setValue(64);
        v.temperatureBox()->setValue(0.0);
        v.topKBox()->setValue(0);
        v.topPBox()->setValue(1.0);
        v.repetitionBox()->setValue(1.0);
        v.seedBox()->setValue(0);
        v.stopEdit()->clear();
        v.column(2)->setAdapters({});
        v.input()->setPlainText("Grass is");
        QVERIFY(v.generate());
        for (int c = 0; c < 3; ++c)
            v.onColumnFinished(c, finished(" green.", 2));
        v.onFinished();

        v.restoreHistory(0);
        QCOMPARE(v.modelPath(), QString("/models/demo"));
        QCOMPARE(v.maxTokensBox()->value(), 17);
        QCOMPARE(v.temperatureBox()->value(), 0.7);
        QCOMPARE(v.topKBox()->value(), 40);
        QCOMPARE(v.topPBox()->value(), 0.9);
        QCOMPARE(v.repetitionBox()->value(), 1.2);
        QCOMPARE(v.seedBox()->value(), 1234);
        QCOMPARE(v.stopEdit()->text(), QString("\\n\\n, ###"));
        QCOMPARE(v.request().settings.stopStrings, QStringList({"\n\n", "###"}));
        QCOMPARE(v.column(1)->adapters().size(), 1);
        QCOMPARE(v.column(1)->adapters()[0].versionId, qint64(11));
        QCOMPARE(v.column(2)->adapters().size(), 2);
        QCOMPARE(v.column(2)->adapters()[1].versionId, qint64(13));
        QCOMPARE(v.column(2)->adapters()[1].weight, -0.25);
        QVERIFY(v.errorLabel()->isHidden());

        // facts@v2 was deleted since: left out, and named.
        QList<PlaygroundVersion> fewer = versions();
        fewer.removeAt(1);
        v.setVersions(fewer);
        v.restoreHistory(1);
        v.restoreHistory(0);
        QCOMPARE(v.column(2)->adapters().size(), 1);
        QCOMPARE(v.column(2)->adapters()[0].versionId, qint64(13));
        QVERIFY(!v.errorLabel()->isHidden());
        QVERIFY2(v.errorLabel()->text().contains("column 3: facts@v2 no longer exists"), qPrintable(v.errorLabel()->text()));
    }

    // An error quoting a long path (a model folder in a Hugging Face cache, a folder name over the
    // file system's limit) has no space to wrap at: it made the window as wide as the path, 2400
    // pixels, with the columns and buttons past the screen's edge. The column's own status too.
    void aLongMessageDoesNotWidenTheWindow()
    {
        PlaygroundView v;
        v.resize(1024, 640);
        v.show();
        QVERIFY(QTest::qWaitForWindowExposed(&v));
        const QString path = "/home/user/.cache/huggingface/hub/models--org--model/snapshots/" + QString(300, 'f');
        v.showProblem("expected a model folder at " + path + ", found nothing");
        QCoreApplication::processEvents();
        QVERIFY2(v.minimumSizeHint().width() <= 1024, qPrintable(QString::number(v.minimumSizeHint().width())));
        QCOMPARE(v.width(), 1024);
        QVERIFY(v.errorLabel()->text().contains(path)); // the whole message is there to select and copy

        v.setModelPath("/models/demo");
        v.input()->setPlainText("Hi");
        QVERIFY(v.generate());
        v.onToken(0, "He");
        v.onFailed("cannot read " + path);
        QCoreApplication::processEvents();
        QVERIFY(v.column(0)->status()->text().contains(path));
        QVERIFY2(v.minimumSizeHint().width() <= 1024, qPrintable(QString::number(v.minimumSizeHint().width())));
        QCOMPARE(v.width(), 1024);
    }

    // An error about the model folder went on showing after another folder was typed.
    void aModelErrorGoesWhenAnotherFolderIsTyped()
    {
        PlaygroundView v;
        v.setModelPath("/models/missing");
        v.showProblem("expected a model folder at /models/missing, found nothing");
        QVERIFY(!v.errorLabel()->isHidden());
        QTest::keyClicks(v.modelEdit(), "2");
        QVERIFY(v.errorLabel()->isHidden());
        QCOMPARE(v.modelPath(), QString("/models/missing2"));
    }

    // A prompt's continuation is not the model's turn of a chat: switched to Chat, the column showed
    // it as "Model: …", and Copy JSON copied it with no prompt and an empty conversation. The answer
    // keeps the mode it was made in until the next one; a chat switched to Prompt stays a chat.
    void anAnswerKeepsTheModeItWasMadeIn()
    {
        PlaygroundView v;
        v.setModelPath("/models/demo");
        v.input()->setPlainText("The capital of France is");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished(" Paris.", 2));
        v.onColumnFinished(1, finished(" Lyon.", 2));
        v.onFinished();
        v.setChatMode(true);
        QCOMPARE(v.column(0)->output()->toPlainText().trimmed(), QString("Paris."));
        v.column(0)->copyButton()->click();
        QJsonObject o = QJsonDocument::fromJson(QApplication::clipboard()->text().toUtf8()).object();
        QCOMPARE(o["prompt"].toString(), QString("The capital of France is"));
        QVERIFY2(!o.contains("messages"), qPrintable(QJsonDocument(o).toJson()));
        QCOMPARE(o["text"].toString(), QString(" Paris."));

        // In Chat the next answer is a conversation, and stays one when switched back to Prompt.
        v.input()->setPlainText("And of Italy?");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("Rome.", 2));
        v.onColumnFinished(1, finished("Rome.", 2));
        v.onFinished();
        QVERIFY(v.column(0)->output()->toPlainText().contains("And of Italy?"));
        v.setChatMode(false);
        const QString shown = v.column(0)->output()->toPlainText();
        QVERIFY2(shown.contains("And of Italy?") && shown.contains("Rome."), qPrintable(shown));
        v.column(0)->copyButton()->click();
        o = QJsonDocument::fromJson(QApplication::clipboard()->text().toUtf8()).object();
        QCOMPARE(o["messages"].toArray().size(), 2);
        QVERIFY(!o.contains("prompt"));
    }

    // Stop before any column's first token: the chat message stays in the box and out of every
    // conversation (they got the message and an empty "answer" the model then read as its turn; the
    // box was cleared), the columns show their conversations as before, and nothing joins the history.
    void aStopBeforeTheFirstTokenKeepsTheMessage()
    {
        PlaygroundView v;
        v.setModelPath("/models/demo");
        v.setChatMode(true);
        v.input()->setPlainText("Hi");
        QVERIFY(v.generate());
        v.onColumnFinished(0, finished("Hello!", 2));
        v.onColumnFinished(1, finished("Hey.", 2));
        v.onFinished();
        QCOMPARE(v.historySize(), 1);
        v.input()->setPlainText("Tell me more");
        QVERIFY(v.generate());
        v.stop();
        QCOMPARE(v.summaryLabel()->text(), QString("Stopping…"));
        v.stop(); // a second Stop (Esc) while stopping changes nothing
        QVERIFY(!v.stopButton()->isEnabled());
        for (int c = 0; c < 2; ++c)
            v.onColumnFinished(c, finished("", 0, "cancelled"));
        v.onFinished();
        QVERIFY(!v.running());
        QVERIFY(v.generateButton()->isEnabled());
        QCOMPARE(v.input()->toPlainText(), QString("Tell me more"));
        QCOMPARE(v.historySize(), 1);
        const QStringList before = {"Hello!", "Hey."};
        for (int c = 0; c < 2; ++c) {
            QCOMPARE(v.column(c)->conversation().size(), 2);
            QCOMPARE(v.column(c)->conversation().back().content, before[c]);
            QCOMPARE(v.column(c)->answer(), before[c]);
            QVERIFY2(v.column(c)->output()->toPlainText().contains(before[c]), qPrintable(v.column(c)->output()->toPlainText()));
            QVERIFY2(v.column(c)->status()->text().startsWith("2 tokens"), qPrintable(v.column(c)->status()->text()));
            QVERIFY(v.column(c)->copyButton()->isEnabled());
        }
        QVERIFY2(v.summaryLabel()->text().contains("your message is still in the box"), qPrintable(v.summaryLabel()->text()));
        QCOMPARE(v.request().columns[1].conversation.size(), 3); // sent again: after the first exchange
        QCOMPARE(v.request().columns[1].conversation[1].content, QString("Hey."));

        // Stopped after a token: the partial answer is the model's turn and joins the history.
        QVERIFY(v.generate());
        v.stop();
        for (int c = 0; c < 2; ++c) {
            v.onToken(c, "Well");
            v.onColumnFinished(c, finished("Well", 1, "cancelled"));
        }
        v.onFinished();
        QCOMPARE(v.historySize(), 2);
        QVERIFY(v.input()->toPlainText().isEmpty());
        QCOMPARE(v.column(0)->conversation().size(), 4);
        QCOMPARE(v.column(0)->conversation().back().content, QString("Well"));

        // In Prompt mode the prompt stays as typed either way; a stop before any token is no exchange.
        v.setChatMode(false);
        v.input()->setPlainText("Once upon");
        QVERIFY(v.generate());
        for (int c = 0; c < 2; ++c)
            v.onColumnFinished(c, finished("", 0, "cancelled"));
        v.onFinished();
        QCOMPARE(v.historySize(), 2);
        QCOMPARE(v.input()->toPlainText(), QString("Once upon"));
        QCOMPARE(v.summaryLabel()->text(), QString("No column wrote any text."));
        QCOMPARE(v.column(0)->status()->text(), QString("no tokens · cancelled"));
        QVERIFY(v.generateButton()->isEnabled());
    }
};

QTEST_MAIN(PlaygroundViewTest)
#include "PlaygroundViewTest.moc"
