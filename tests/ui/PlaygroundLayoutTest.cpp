// The Playground at the window sizes a user has (800x600, 1366x768): the sampling settings' labels
// and fields whole and apart, on as many rows as the width needs, two columns without a sideways
// scroll, the summary line clear of the columns, a prompt box as tall as its text, and the "Use a
// gate…" button with its menu arrow beside its text rather than over it.
#include "ui/FlowLayout.h"
#include "ui/GrowingTextEdit.h"
#include "ui/MenuToolButton.h"
#include "ui/PlaygroundColumn.h"
#include "ui/PlaygroundView.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QStyle>
#include <QTextBrowser>
#include <QToolButton>
#include <QtTest>

using namespace rslora::ui;

namespace {

QRect inView(const QWidget* w, const QWidget* view)
{
    return QRect(w->mapTo(view, QPoint(0, 0)), w->size());
}

} // namespace

class PlaygroundLayoutTest : public QObject {
    Q_OBJECT

private slots:
    void samplingLabelsAreWhole_data()
    {
        QTest::addColumn<QSize>("size");
        QTest::addColumn<int>("rows");
        QTest::newRow("800x600") << QSize(800, 600) << 2;
        QTest::newRow("1366x768") << QSize(1366, 768) << 1;
    }

    // At 800 pixels the one row of seven labelled fields squeezed the labels ("Repetition penalty",
    // "Max new tokens") until they were cut; the fields go on a second row instead.
    void samplingLabelsAreWhole()
    {
        QFETCH(QSize, size);
        QFETCH(int, rows);
        PlaygroundView view;
        view.resize(size);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QCOMPARE(view.size(), size);
        const QList<QWidget*> fields = {view.maxTokensBox(), view.temperatureBox(), view.topKBox(), view.topPBox(),
                                        view.repetitionBox(), view.seedBox(), view.stopEdit()};
        QList<QRect> taken;
        int labels = 0;
        for (QLabel* label : view.findChildren<QLabel*>()) {
            if (!fields.contains(label->buddy()))
                continue;
            ++labels;
            QWidget* field = label->buddy();
            for (QWidget* w : {static_cast<QWidget*>(label), field}) {
                const QRect r = inView(w, &view);
                QVERIFY2(w->isVisible(), qPrintable(label->text()));
                QVERIFY2(w->width() >= w->sizeHint().width(),
                         qPrintable(QString("%1: %2 < %3").arg(label->text()).arg(w->width()).arg(w->sizeHint().width())));
                QVERIFY2(r.left() >= 0 && r.right() < view.width(),
                         qPrintable(QString("%1 at %2..%3 of %4").arg(label->text()).arg(r.left()).arg(r.right()).arg(view.width())));
                for (const QRect& other : taken)
                    QVERIFY2(!r.intersects(other), qPrintable(label->text()));
                taken << r;
            }
            QVERIFY2(inView(label, &view).right() < inView(field, &view).left(), qPrintable(label->text())); // the label before its field
        }
        QCOMPARE(labels, 7);
        QCOMPARE(view.samplingLayout()->rows(), rows);
        // Two columns beside the history fit without scrolling sideways.
        QTRY_VERIFY(!view.findChild<QScrollArea*>("columnsScroll")->horizontalScrollBar()->isVisible());
        // The answers keep their room below the settings.
        QVERIFY2(view.column(0)->output()->height() >= 3 * view.fontMetrics().lineSpacing(),
                 qPrintable(QString::number(view.column(0)->output()->height())));
    }

    void summaryStaysClearOfTheColumns_data()
    {
        QTest::addColumn<QSize>("size");
        QTest::newRow("800x600") << QSize(800, 600);
        QTest::newRow("800x420") << QSize(800, 420);
        QTest::newRow("1366x768") << QSize(1366, 768);
    }

    // "All 2 columns gave the same answer." was drawn over the columns' two-line status (an 800x600
    // window, a chat with an example's reference answer shown): the answers' area kept a minimum
    // height its place did not have and grew over the line under it. The parts of the view stay apart.
    void summaryStaysClearOfTheColumns()
    {
        QFETCH(QSize, size);
        PlaygroundView view;
        view.setModelPath("/models/demo");
        view.resize(size);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.showExample("What is the capital of France?", {{"user", "What is the capital of France?"}},
                         "The capital of France is Paris, on the Seine, which has been the seat of its government for centuries.");
        QVERIFY(view.generate());
        PlaygroundColumnResult r;
        r.text = " The capital of France is Paris.";
        r.tokens = 40;
        r.promptTokens = 21;
        r.seconds = 2.5;
        r.firstTokenSeconds = 0.25;
        r.finishReason = "length";
        for (int c = 0; c < 2; ++c) {
            view.onToken(c, r.text);
            view.onColumnFinished(c, r);
        }
        view.onFinished();
        QCOMPARE(view.summaryLabel()->text(), QString("All 2 columns gave the same answer."));
        QTest::qWait(50); // the layouts settle
        QVERIFY(!view.referenceLabel()->isHidden());
        // Where a widget shows in the view: the part of it its parents (the columns' scroll area) let show.
        auto shown = [&view](const QWidget* w) {
            const QRect r = w->visibleRegion().boundingRect();
            return r.isEmpty() ? QRect() : QRect(w->mapTo(&view, r.topLeft()), r.size());
        };
        const QRect summary = shown(view.summaryLabel());
        QVERIFY(!summary.isEmpty());
        QCOMPARE(summary.height(), view.summaryLabel()->height()); // the whole line shows
        for (int c = 0; c < 2; ++c) {
            const QLabel* status = view.column(c)->status();
            if (size.width() < 1000) // a narrow column: the status takes two lines
                QVERIFY2(status->fontMetrics().horizontalAdvance(status->text()) > status->width(), qPrintable(status->text()));
            for (const QWidget* w : {static_cast<const QWidget*>(status), static_cast<const QWidget*>(view.column(c))})
                QVERIFY2(!shown(w).intersects(summary), qPrintable(QString("column %1: a %2 shows down to y %3, the summary from y %4")
                                                                       .arg(c + 1).arg(w->metaObject()->className())
                                                                       .arg(shown(w).bottom()).arg(summary.top())));
        }
        // The left side's parts one under the other, none over another.
        const QList<QWidget*> parts = {view.findChild<QScrollArea*>("columnsScroll"), view.summaryLabel(), view.input(),
                                       view.generateButton(), view.runBox(), view.referenceLabel()};
        for (int i = 0; i < parts.size(); ++i)
            for (int j = i + 1; j < parts.size(); ++j) {
                const QRect a(parts[i]->mapTo(&view, QPoint(0, 0)), parts[i]->size());
                const QRect b(parts[j]->mapTo(&view, QPoint(0, 0)), parts[j]->size());
                QVERIFY2(!a.intersects(b), qPrintable(QString("%1 and %2").arg(i).arg(j)));
            }
    }

    // An empty prompt box was 110 pixels tall, and its three buttons one under another as tall, leaving
    // the answers about one line of an 800x600 window: the box is three lines tall until the text needs
    // more, grows to six and gives the height back; the buttons take two rows, no taller than the box.
    void promptBoxGrowsWithItsText()
    {
        PlaygroundView view;
        view.setChatMode(true); // New chat shows in a chat
        view.resize(800, 600);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        auto* input = qobject_cast<GrowingTextEdit*>(view.input());
        QVERIFY(input);
        const int line = input->fontMetrics().lineSpacing();
        auto answerHeight = [&view] { return view.column(0)->output()->visibleRegion().boundingRect().height(); };
        QTRY_COMPARE(input->height(), input->heightForLines(3));
        QVERIFY2(input->height() < 3 * line + 24, qPrintable(QString::number(input->height())));
        QVERIFY(input->viewport()->height() >= 3 * line); // three whole lines show
        // The buttons beside it: Generate and Stop side by side, New chat under them, within the box's height.
        const QRect box(input->mapTo(&view, QPoint(0, 0)), input->size());
        QPushButton* stop = nullptr;
        QPushButton* newChat = nullptr;
        for (QPushButton* b : view.findChildren<QPushButton*>()) {
            if (b->text() == "Stop")
                stop = b;
            if (b->text() == "New chat")
                newChat = b;
        }
        QVERIFY(stop && newChat);
        const QRect generate(view.generateButton()->mapTo(&view, QPoint(0, 0)), view.generateButton()->size());
        const QRect stopAt(stop->mapTo(&view, QPoint(0, 0)), stop->size());
        const QRect newChatAt(newChat->mapTo(&view, QPoint(0, 0)), newChat->size());
        QCOMPARE(stopAt.top(), generate.top());
        QVERIFY(stopAt.left() > generate.right());
        QVERIFY(newChat->isVisible());
        QVERIFY(newChatAt.top() > generate.bottom());
        QVERIFY2(newChatAt.bottom() <= box.bottom() + 4, qPrintable(QString("%1 > %2").arg(newChatAt.bottom()).arg(box.bottom())));
        const int answers = answerHeight();
        QVERIFY2(answers >= 6 * line, qPrintable(QString("%1 < %2").arg(answers).arg(6 * line)));

        input->setPlainText("1\n2\n3\n4");
        QTRY_COMPARE(input->height(), input->heightForLines(4));
        QVERIFY(input->viewport()->height() >= 4 * line);
        QTRY_COMPARE(input->verticalScrollBar()->maximum(), 0); // all four show
        QVERIFY(answerHeight() < answers);
        input->setPlainText("1\n2\n3\n4\n5\n6\n7\n8\n9");
        QTRY_COMPARE(input->height(), input->heightForLines(6));
        QTRY_VERIFY(input->verticalScrollBar()->maximum() > 0); // the rest scrolls
        // One long line wraps: its lines count.
        input->setPlainText(QString("word ").repeated(120));
        QTRY_VERIFY(input->textLines() > 3);
        QTRY_COMPARE(input->height(), input->heightForLines(std::min(6, input->textLines())));
        input->clear();
        QTRY_COMPARE(input->height(), input->heightForLines(3));
        QTRY_COMPARE(answerHeight(), answers);
    }

    void gateArrowBesideItsText_data()
    {
        QTest::addColumn<QSize>("size");
        QTest::newRow("800x600") << QSize(800, 600);
        QTest::newRow("1366x768") << QSize(1366, 768);
    }

    // The menu arrow of "Use a gate…" was drawn over the end of its text: it has room of its own.
    void gateArrowBesideItsText()
    {
        QFETCH(QSize, size);
        PlaygroundView view;
        view.resize(size);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        for (int c = 0; c < view.columnCount(); ++c) {
            auto* button = qobject_cast<MenuToolButton*>(view.column(c)->gateButton());
            QVERIFY(button);
            QVERIFY(button->isVisible());
            QVERIFY(button->menu());
            QCOMPARE(button->popupMode(), QToolButton::InstantPopup);
            QVERIFY2(button->width() >= button->sizeHint().width(),
                     qPrintable(QString("%1 < %2").arg(button->width()).arg(button->sizeHint().width())));
            const QRect text = QStyle::alignedRect(Qt::LeftToRight, Qt::AlignCenter,
                                                   button->fontMetrics().size(Qt::TextShowMnemonic, button->text()),
                                                   button->labelRect());
            const QRect arrow = button->arrowRect();
            QVERIFY2(text.right() < arrow.left(), qPrintable(QString("text ends at %1, arrow starts at %2").arg(text.right()).arg(arrow.left())));
            QVERIFY(button->rect().contains(text));
            QVERIFY(button->rect().contains(arrow));
            QVERIFY(arrow.width() >= 6 && arrow.height() >= 6);
            // The whole button inside its column.
            const QRect inColumn(button->mapTo(view.column(c), QPoint(0, 0)), button->size());
            QVERIFY2(view.column(c)->rect().contains(inColumn), qPrintable(QString::number(inColumn.right())));
        }
        // Grabbed, the arrow's square has ink; the columns between the text and the arrow have none.
        auto* button = qobject_cast<MenuToolButton*>(view.column(0)->gateButton());
        const QImage image = button->grab().toImage();
        const qreal ratio = image.devicePixelRatio();
        const QRgb background = image.pixel(0, 0);
        auto inked = [&](const QRect& r) {
            for (int x = int(r.left() * ratio); x <= int(r.right() * ratio); ++x)
                for (int y = int(r.top() * ratio); y <= int(r.bottom() * ratio); ++y)
                    if (image.pixel(x, y) != background)
                        return true;
            return false;
        };
        QVERIFY(inked(button->arrowRect()));
        const QRect text = QStyle::alignedRect(Qt::LeftToRight, Qt::AlignCenter,
                                               button->fontMetrics().size(Qt::TextShowMnemonic, button->text()),
                                               button->labelRect());
        QVERIFY(inked(text));
        const QRect gap(text.right() + 2, 0, button->arrowRect().left() - text.right() - 3, button->height());
        if (gap.width() > 0)
            QVERIFY(!inked(gap));
    }

    // The flow layout on its own: one row when there is room, more when there is not, heights to match.
    void flowLayoutWrapsWhereNeeded()
    {
        QWidget host;
        auto* flow = new FlowLayout(&host);
        flow->setContentsMargins(0, 0, 0, 0);
        flow->setSpacing(10);
        QList<QWidget*> boxes;
        for (int i = 0; i < 3; ++i) {
            auto* w = new QWidget;
            w->setFixedSize(100, 20);
            flow->addWidget(w);
            boxes << w;
        }
        QCOMPARE(flow->sizeHint(), QSize(320, 20));
        QCOMPARE(flow->minimumSize(), QSize(100, 20));
        QCOMPARE(flow->heightForWidth(320), 20);
        QCOMPARE(flow->heightForWidth(319), 50);
        QCOMPARE(flow->heightForWidth(100), 80);
        flow->setGeometry(QRect(0, 0, 250, 50));
        QCOMPARE(flow->rows(), 2);
        QCOMPARE(boxes[0]->geometry(), QRect(0, 0, 100, 20));
        QCOMPARE(boxes[1]->geometry(), QRect(110, 0, 100, 20));
        QCOMPARE(boxes[2]->geometry(), QRect(0, 30, 100, 20));
        boxes[1]->hide(); // hidden: no room taken
        flow->setGeometry(QRect(0, 0, 250, 50));
        QCOMPARE(flow->rows(), 1);
        QCOMPARE(boxes[2]->geometry(), QRect(110, 0, 100, 20));
    }
};

QTEST_MAIN(PlaygroundLayoutTest)
#include "PlaygroundLayoutTest.moc"
