// Live charts: smoothing that never rewrites history, log-y, x-axis modes, exports (refused when
// empty, asking before replacing an earlier export), the balance heat map and the routing of
// metric keys to charts.
#include "ui/BalanceHeatMap.h"
#include "ui/ChartsPanel.h"
#include "ui/CurvePlot.h"
#include "ui/CurveSeries.h"
#include "ui/ExportFolder.h"

#include "LegendLayout.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QSignalSpy>
#include <QFile>
#include <QFileInfo>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

using namespace rslora::ui;

namespace {
CurvePoint pt(double step, double value) {
    CurvePoint p;
    p.step = step;
    p.epoch = step / 100.0;
    p.tokens = step * 512;
    p.wallTime = step * 0.25;
    p.value = value;
    return p;
}

// Answers the next message box with `button` (once it is open) and keeps its text in *text.
void answerMessageBox(QMessageBox::StandardButton button, QString* text) {
    auto* poll = new QTimer;
    poll->setInterval(10);
    QObject::connect(poll, &QTimer::timeout, [poll, button, text] {
        auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
        if (!box || !box->button(button))
            return;
        *text = box->text();
        poll->stop();
        poll->deleteLater();
        box->button(button)->click();
    });
    poll->start();
}

QByteArray contents(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}
} // namespace

// Why the x range does not fit the data from `lo` to `hi` with the same margin on both sides, at most
// 5 % of the data's width (on a shown chart, kEdgePixels on the screen); empty when it does.
QString fitsWithMargin(CurvePlot& plot, double lo, double hi) {
    const QCPRange r = plot.plot()->xAxis->range();
    const double left = lo - r.lower, right = r.upper - hi;
    if (!(left > 0 && right > 0) || std::abs(left - right) > 1e-9 * (hi - lo) || left > 0.05 * (hi - lo) * (1 + 1e-9))
        return QString("x range %1 .. %2 for data %3 .. %4").arg(r.lower, 0, 'g', 12).arg(r.upper, 0, 'g', 12).arg(lo).arg(hi);
    if (plot.isVisible()) {
        const double gap = plot.plot()->axisRect()->right() - plot.plot()->xAxis->coordToPixel(hi);
        if (gap < CurvePlot::kEdgePixels - 1.5 || gap > CurvePlot::kEdgePixels + 1.5)
            return QString("last point %1 px from the right edge").arg(gap);
    }
    return {};
}

class ChartsTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void emaIsCausalAndDebiased() {
        CurveSeries incremental("loss", Qt::blue);
        incremental.setSmoothing(0.9);
        QVector<double> seen;
        for (int i = 0; i < 50; ++i) {
            incremental.append({pt(i, 3.0 - 0.05 * i + ((i % 3) - 1) * 0.2)});
            seen.push_back(incremental.smoothed().back());
        }
        // Values drawn earlier never change as later points arrive.
        for (int i = 0; i < 50; ++i)
            QCOMPARE(incremental.smoothed()[i], seen[i]);
        // Debiased: the first smoothed value equals the first raw value (no pull toward zero).
        QCOMPARE(incremental.smoothed()[0], incremental.points()[0].value);
        // Same result when all points come at once.
        CurveSeries batch("loss", Qt::blue);
        batch.setSmoothing(0.9);
        QVector<CurvePoint> all = incremental.points();
        batch.append(all);
        for (int i = 0; i < 50; ++i)
            QCOMPARE(batch.smoothed()[i], incremental.smoothed()[i]);
        // Hand-computed second value: (0.9*0.1*x0 + 0.1*x1) / (1 - 0.81).
        double x0 = all[0].value, x1 = all[1].value;
        QVERIFY(std::abs(batch.smoothed()[1] - (0.09 * x0 + 0.1 * x1) / 0.19) < 1e-12);
    }

    void nonFiniteValuesDoNotPoisonTheAverage() {
        CurveSeries s("loss", Qt::blue);
        s.setSmoothing(0.5);
        s.append({pt(0, 2.0), pt(1, qQNaN()), pt(2, std::numeric_limits<double>::infinity()), pt(3, 2.0)});
        QVERIFY(std::isnan(s.points()[1].value));
        QCOMPARE(s.smoothed()[3], 2.0);
        QCOMPARE(s.smoothed()[1], 2.0);
    }

    void zeroSmoothingIsRaw() {
        CurveSeries s("loss", Qt::blue);
        s.setSmoothing(0.0);
        s.append({pt(0, 1.0), pt(1, 5.0), pt(2, 2.0)});
        QCOMPARE(s.smoothed()[1], 5.0);
        QCOMPARE(s.smoothed()[2], 2.0);
    }

    void plotDrawsOnlyOnReplotAndFollowsData() {
        CurvePlot plot("Loss", "loss");
        QVector<CurvePoint> pts;
        for (int i = 0; i < 1000; ++i)
            pts.push_back(pt(i, 5.0 * std::exp(-i / 300.0)));
        plot.addPoints("train", pts);
        QVERIFY(plot.isDirty());
        QCOMPARE(plot.plot()->graph(0)->dataCount(), 0); // nothing drawn before the timer's replot
        plot.replot();
        QVERIFY(!plot.isDirty());
        QCOMPARE(plot.plot()->graph(0)->dataCount(), 1000);
        QVERIFY2(fitsWithMargin(plot, 0.0, 999.0).isEmpty(), qPrintable(fitsWithMargin(plot, 0.0, 999.0)));
        QVERIFY(plot.plot()->yAxis->range().contains(5.0));
        // More points extend the graph without redrawing the old ones.
        plot.addPoints("train", {pt(1000, 0.1)});
        plot.replot();
        QCOMPARE(plot.plot()->graph(0)->dataCount(), 1001);
        QVERIFY2(fitsWithMargin(plot, 0.0, 1000.0).isEmpty(), qPrintable(fitsWithMargin(plot, 0.0, 1000.0)));
    }

    void logYDropsNonPositiveAndXAxisSwitches() {
        CurvePlot plot("Loss", "loss");
        plot.addPoints("train", {pt(1, 1.0), pt(2, 0.0), pt(3, -1.0), pt(4, 0.5)});
        plot.setLogY(true);
        plot.replot();
        auto data = plot.plot()->graph(0)->data();
        QVERIFY(std::isnan((data->begin() + 1)->value));
        QVERIFY(std::isnan((data->begin() + 2)->value));
        QCOMPARE(plot.plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
        plot.setXAxis(XAxis::Tokens);
        plot.replot();
        QCOMPARE(plot.plot()->graph(0)->data()->begin()->key, 512.0);
        QCOMPARE(plot.plot()->xAxis->label(), QString("tokens"));
    }

    void clippingIgnoresSpikes() {
        CurvePlot plot("Grad", "norm");
        QVector<CurvePoint> pts;
        for (int i = 0; i < 500; ++i)
            pts.push_back(pt(i, i == 250 ? 1e6 : 1.0 + (i % 10) * 0.01));
        plot.addPoints("g", pts);
        plot.setClipOutliers(true);
        plot.replot();
        QVERIFY2(plot.plot()->yAxis->range().upper < 10.0, qPrintable(QString::number(plot.plot()->yAxis->range().upper)));
        plot.setClipOutliers(false);
        plot.replot();
        QVERIFY(plot.plot()->yAxis->range().upper >= 1e6);
    }

    void longCurvesAreDrawnFromMinMaxBucketsKeepingSpikes() {
        CurvePlot plot("Loss", "loss");
        plot.resize(800, 400);
        QVector<CurvePoint> pts;
        for (int i = 0; i < 200000; ++i)
            pts.push_back(pt(i, i == 123457 ? 50.0 : 1.0 + (i % 7) * 0.01));
        plot.addPoints("train", pts);
        plot.replot();
        auto* g = plot.plot()->graph(0);
        QVERIFY2(g->dataCount() < 4000, qPrintable(QString::number(g->dataCount())));
        double maxDrawn = 0;
        for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
            maxDrawn = std::max(maxDrawn, it->value);
        QCOMPARE(maxDrawn, 50.0); // the spike survives decimation
        // Zooming in re-buckets the visible range only, at full detail when it is small.
        plot.plot()->xAxis->setRange(1000, 1100);
        QVERIFY(plot.isDirty());
        plot.replot();
        QVERIFY(g->dataCount() <= 202);
        QVERIFY(g->data()->constBegin()->key >= 999);
        QVERIFY((g->data()->constEnd() - 1)->key <= 1101);
    }

    void crosshairReadsValues() {
        CurvePlot plot("Loss", "loss");
        plot.setSmoothing(0.0);
        plot.addPoints("train", {pt(10, 2.5), pt(20, 1.5)});
        plot.addPoints("eval", {pt(20, 1.75)});
        QString text = plot.valuesAt(15);
        QVERIFY2(text.contains("train: 2.5"), qPrintable(text));
        QVERIFY2(!text.contains("eval"), qPrintable(text));
        QVERIFY(plot.valuesAt(20).contains("eval: 1.75"));
    }

    void crosshairReadoutFitsANarrowChart() {
        // The read-out is clipped by the axis rect: in a narrow chart a long line ("learning rate:
        // 0.00066995 (smoothed 0.00071234)") breaks before its smoothed value, and nothing is cut.
        CurvePlot plot("Learning rate", "lr");
        plot.setSmoothing(0.6);
        plot.addPoints("learning rate", {pt(10, 0.00066995), pt(20, 0.00071234), pt(30, 0.00061234)});
        plot.resize(300, 220);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        plot.replot();
        const int width = plot.plot()->axisRect()->width();
        QVERIFY2(QFontMetrics(plot.font()).horizontalAdvance(plot.valuesAt(20).split('\n').last()) > width,
                 "the chart must be narrower than the unbroken line for this test to mean anything");
        const QString text = plot.readoutAt(20);
        const QStringList lines = text.split('\n');
        QVERIFY2(lines.size() == 3 && lines[1].startsWith("learning rate: ") && lines[2].trimmed().startsWith("smoothed "), qPrintable(text));
        QVERIFY2(!text.contains(QChar(0x2026)), qPrintable(text)); // nothing elided at this width
        QFontMetrics metrics(plot.font());
        for (const QString& line : lines)
            QVERIFY2(metrics.horizontalAdvance(line) < width, qPrintable(line));
        // Wide enough: one line per series, as valuesAt() gives it.
        plot.resize(900, 300);
        QApplication::processEvents();
        plot.replot();
        QCOMPARE(plot.readoutAt(20), plot.valuesAt(20));
    }

    void exportsPngPdfCsv() {
        QTemporaryDir dir;
        CurvePlot plot("Loss", "loss");
        plot.addPoints("train, seed \"1\"", {pt(0, 2.0), pt(1, 1.0)});
        QVERIFY(plot.exportPng(dir.filePath("a.png"), 400, 300));
        QVERIFY(plot.exportPdf(dir.filePath("a.pdf"), 400, 300));
        QVERIFY(plot.exportCsv(dir.filePath("a.csv")));
        QImage png(dir.filePath("a.png"));
        QCOMPARE(png.width(), 400);
        QFile pdf(dir.filePath("a.pdf"));
        QVERIFY(pdf.open(QIODevice::ReadOnly));
        QVERIFY(pdf.read(4) == "%PDF");
        QFile csv(dir.filePath("a.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QStringList lines = QString::fromUtf8(csv.readAll()).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 3);
        QCOMPARE(lines[0], QString("series,step,epoch,tokens,wall_time,value,smoothed"));
        QVERIFY2(lines[2].startsWith("\"train, seed \"\"1\"\"\",1,0.01,512,0.25,1,"), qPrintable(lines[2]));
        QString error;
        QVERIFY(!plot.exportCsv("/nonexistent-dir/x.csv", &error));
        QVERIFY(error.contains("/nonexistent-dir/x.csv"));
    }

    // A palette change (light <-> dark) recolours the charts already on screen.
    void chartsFollowPaletteChanges() {
        CurvePlot plot("Loss", "loss");
        BalanceHeatMap map;
        QPalette dark;
        dark.setColor(QPalette::Base, QColor(30, 30, 30));
        dark.setColor(QPalette::Text, QColor(230, 230, 230));
        dark.setColor(QPalette::Mid, QColor(90, 90, 90));
        auto corner = [](QCustomPlot* p) { return p->toPixmap(200, 150).toImage().pixelColor(1, 1); };
        QVERIFY(corner(plot.plot()) != QColor(30, 30, 30));
        plot.setPalette(dark);
        map.setPalette(dark);
        for (QCustomPlot* p : {plot.plot(), map.plot()}) {
            QCOMPARE(corner(p), QColor(30, 30, 30));
            QCOMPARE(p->xAxis->tickLabelColor(), QColor(230, 230, 230));
            QCOMPARE(p->yAxis->labelColor(), QColor(230, 230, 230));
        }
        QCOMPARE(plot.plot()->xAxis->grid()->pen().color(), QColor(90, 90, 90));
    }

    void heatMapRowsAndCompaction() {
        BalanceHeatMap map;
        QStringList modules{"layers.0.q_proj", "layers.0.v_proj"};
        map.addColumn(1, modules, {1.0, 4.0});
        map.addColumn(2, modules, {0.5, qQNaN()});
        QCOMPARE(map.cell(0, 0), 0.0);
        QCOMPARE(map.cell(1, 0), 2.0);
        QCOMPARE(map.cell(0, 1), -1.0);
        QVERIFY(std::isnan(map.cell(1, 1)));
        for (int i = 3; i <= BalanceHeatMap::kMaxColumns + 10; ++i)
            map.addColumn(i, modules, {1.0, 1.0});
        QVERIFY(map.columnCount() <= BalanceHeatMap::kMaxColumns);
        map.replot();
    }

    // The heat map's title fits its column at the width the Training view gives it in an 800-pixel
    // window (about 250 pixels): with its formula it was cut at both ends. The scale names the formula.
    void heatMapTitleFitsANarrowMap() {
        BalanceHeatMap map;
        map.resize(250, 220);
        map.show();
        QVERIFY(QTest::qWaitForWindowExposed(&map));
        map.replot();
        auto* title = qobject_cast<QCPTextElement*>(map.plot()->plotLayout()->element(0, 0));
        QVERIFY(title);
        const int needed = QFontMetrics(title->font()).horizontalAdvance(title->text());
        QVERIFY2(needed <= title->rect().width(), qPrintable(QString("%1 > %2").arg(needed).arg(title->rect().width())));
        QCPColorScale* scale = nullptr;
        for (int i = 0; i < map.plot()->plotLayout()->elementCount(); ++i)
            if (auto* s = qobject_cast<QCPColorScale*>(map.plot()->plotLayout()->elementAt(i)))
                scale = s;
        QVERIFY(scale);
        QCOMPARE(scale->axis()->label(), QString("log₂(‖∇A‖/‖∇B‖)"));
    }

    // Every column of the heat map is drawn as wide as the others and every row as high: the first
    // and last were half-width (the axes ended at the outer cells' centres). A lone cell fills the map.
    void heatMapCellsAreAllTheSameSize() {
        BalanceHeatMap map;
        map.resize(700, 400);
        map.show();
        QVERIFY(QTest::qWaitForWindowExposed(&map));
        const QStringList modules{"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                  "model.layers.1.self_attn.q_proj"};
        // Red (A dominating) and blue (B dominating) alternate across steps and down the modules.
        for (int c = 0; c < 5; ++c)
            map.addColumn(10.0 * (c + 1), modules, c % 2 ? QVector<double>{1 / 16.0, 16, 1 / 16.0} : QVector<double>{16, 1 / 16.0, 16});
        map.replot();
        // Lengths of the runs of one colour along a line of pixels inside the axis rect.
        auto runs = [](const QImage& image, QPoint from, QPoint step, int count) {
            QList<int> lengths;
            int previous = -1;
            for (int i = 0; i < count; ++i) {
                const QColor c = image.pixelColor(from + i * step);
                const int kind = c.red() > c.blue() + 60 ? 1 : (c.blue() > c.red() + 60 ? 2 : 0);
                if (kind == 0)
                    continue; // a grid line or anti-aliased edge
                if (kind != previous)
                    lengths << 0;
                ++lengths.back();
                previous = kind;
            }
            return lengths;
        };
        auto equal = [](const QList<int>& lengths, int expected) {
            if (lengths.size() != expected)
                return false;
            const auto [lo, hi] = std::minmax_element(lengths.begin(), lengths.end());
            return *hi - *lo <= 2;
        };
        auto check = [&](const QString& what, const QList<int>& lengths, int expected) {
            QStringList text;
            for (int n : lengths)
                text << QString::number(n);
            return equal(lengths, expected) ? QString() : QString("%1: %2").arg(what, text.join(' '));
        };
        const QImage image = map.plot()->toPixmap().toImage();
        const QRect rect = map.plot()->axisRect()->rect();
        const int rowHeight = rect.height() / 3, columnWidth = rect.width() / 5;
        // Lines a quarter of a cell from the edge: the axes' ticks mark the cells' centres.
        const QString across = check("columns", runs(image, {rect.left() + 1, rect.top() + rowHeight / 4}, {1, 0}, rect.width() - 2), 5);
        QVERIFY2(across.isEmpty(), qPrintable(across));
        const QString down = check("rows", runs(image, {rect.left() + columnWidth / 4, rect.top() + 1}, {0, 1}, rect.height() - 2), 3);
        QVERIFY2(down.isEmpty(), qPrintable(down));

        BalanceHeatMap lone;
        lone.resize(700, 400);
        lone.show();
        QVERIFY(QTest::qWaitForWindowExposed(&lone));
        lone.addColumn(10, {"model.layers.0.self_attn.q_proj"}, {16});
        lone.replot();
        const QImage one = lone.plot()->toPixmap().toImage();
        const QRect r = lone.plot()->axisRect()->rect();
        const QList<int> wide = runs(one, {r.left() + 1, r.top() + r.height() / 4}, {1, 0}, r.width() - 2);
        const QList<int> high = runs(one, {r.left() + r.width() / 4, r.top() + 1}, {0, 1}, r.height() - 2);
        QVERIFY2(wide.size() == 1 && wide.front() >= r.width() - 6, qPrintable(QString::number(wide.value(0))));
        QVERIFY2(high.size() == 1 && high.front() >= r.height() - 6, qPrintable(QString::number(high.value(0))));
    }

    // Rows go by layer number, then module, whatever order the names arrive in: the store lists
    // them in text order (23 before 3), the engine in model order.
    void heatMapRowsInLayerOrder() {
        const QStringList textOrder{"model.layers.10.self_attn.v_proj", "model.layers.2.self_attn.q_proj",
                                    "model.layers.2.self_attn.v_proj", "model.layers.23.self_attn.q_proj",
                                    "model.layers.7.self_attn.q_proj"};
        const QStringList layerOrder{"model.layers.2.self_attn.q_proj", "model.layers.2.self_attn.v_proj",
                                     "model.layers.7.self_attn.q_proj", "model.layers.10.self_attn.v_proj",
                                     "model.layers.23.self_attn.q_proj"};
        BalanceHeatMap stored;
        stored.addColumn(1, textOrder, {1, 2, 4, 8, 16});
        QCOMPARE(stored.modules(), layerOrder);
        // Each value still lands in its module's row.
        QCOMPARE(stored.cell(0, 0), 1.0); // 2.q_proj: ratio 2
        QCOMPARE(stored.cell(2, 0), 4.0); // 7.q_proj: ratio 16
        QCOMPARE(stored.cell(3, 0), 0.0); // 10.v_proj: ratio 1
        QStringList reversed = layerOrder;
        std::reverse(reversed.begin(), reversed.end());
        BalanceHeatMap live;
        live.addColumn(1, reversed, {1, 1, 1, 1, 1});
        QCOMPARE(live.modules(), stored.modules());
        // The module chooser lists them in the same order.
        ChartsPanel panel;
        panel.addBalance(pt(1, 0), textOrder, {1, 2, 4, 8, 16});
        QStringList chooser;
        for (int i = 0; i < panel.moduleChooser()->count(); ++i)
            chooser << panel.moduleChooser()->itemText(i);
        QCOMPARE(chooser, layerOrder);
    }

    // The last evaluation point sits at the chart's right end: its marker is drawn whole, not cut in
    // half by the edge of the plotting area (the x range ended at the last point); so is the first.
    void endPointsAreDrawnWhole() {
        CurvePlot plot("Loss", "loss");
        plot.resize(600, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        QVector<CurvePoint> train, eval;
        for (int i = 1; i <= 50; ++i)
            train.push_back(pt(i, 3.0 - i * 0.02));
        for (int i = 10; i <= 50; i += 10)
            eval.push_back(pt(i, 2.9 - i * 0.02));
        plot.addPoints("train", train);
        plot.addPoints("eval", eval);
        plot.replot();
        QVERIFY2(fitsWithMargin(plot, 1.0, 50.0).isEmpty(), qPrintable(fitsWithMargin(plot, 1.0, 50.0)));
        const QRect axes = plot.plot()->axisRect()->rect();
        const double last = plot.plot()->xAxis->coordToPixel(50.0), first = plot.plot()->xAxis->coordToPixel(1.0);
        // The marker is a 6-pixel disc: 3 pixels and its outline on each side of the point.
        QVERIFY2(last + 4 <= axes.right() && first - 4 >= axes.left(),
                 qPrintable(QString("points at %1 and %2 px, plotting area %3 .. %4").arg(first).arg(last).arg(axes.left()).arg(axes.right())));
        // Wider and narrower charts keep the same margin in pixels.
        for (int width : {300, 1400}) {
            plot.resize(width, 400);
            plot.addPoints("eval", {pt(60, 1.7)});
            plot.replot();
            QVERIFY2(fitsWithMargin(plot, 1.0, 60.0).isEmpty(), qPrintable(QString("%1 px: ").arg(width) + fitsWithMargin(plot, 1.0, 60.0)));
            plot.clear();
            plot.addPoints("train", train);
            plot.addPoints("eval", eval);
        }
    }

    // A cleared chart keeps nothing of its curves: not the x range, not the crosshair read-out.
    void clearForgetsAxesAndCrosshair() {
        CurvePlot plot("Loss", "loss");
        plot.resize(600, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        QVector<CurvePoint> pts;
        for (int i = 1; i <= 60; ++i)
            pts.push_back(pt(i, 5.0 + i));
        plot.addPoints("train", pts);
        plot.replot();
        QVERIFY2(fitsWithMargin(plot, 1.0, 60.0).isEmpty(), qPrintable(fitsWithMargin(plot, 1.0, 60.0)));
        const QPoint inside = plot.plot()->axisRect()->rect().center();
        QMouseEvent move(QEvent::MouseMove, inside, plot.plot()->mapToGlobal(inside), Qt::NoButton, Qt::NoButton, Qt::NoModifier);
        QApplication::sendEvent(plot.plot(), &move);
        auto* text = plot.plot()->findChild<QCPItemText*>();
        QVERIFY(text && text->visible() && text->text().contains("train"));
        plot.clear();
        plot.replot();
        QVERIFY(!text->visible());
        QVERIFY(plot.plot()->xAxis->range().upper <= 1.0);
        QVERIFY(plot.plot()->yAxis->range().upper <= 1.0);
    }

    // The wheel over a chart without points zooms nothing: the event goes on (to the charts' scroll
    // area), and the first points of a run are then shown whole, as on a chart nobody touched.
    void wheelOverAnEmptyChartLeavesItFollowingTheData() {
        CurvePlot plot("Loss", "loss");
        plot.resize(600, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        plot.replot();
        const QCPRange before = plot.plot()->xAxis->range();
        const QPointF inside = plot.plot()->axisRect()->rect().center();
        for (int delta : {120, 120, -360, 240}) {
            QWheelEvent wheel(inside, plot.plot()->mapToGlobal(inside), QPoint(), QPoint(0, delta), Qt::NoButton, Qt::NoModifier,
                              Qt::NoScrollPhase, false);
            QApplication::sendEvent(plot.plot(), &wheel);
            QVERIFY2(!wheel.isAccepted(), "an empty chart must leave the wheel to the scroll area");
        }
        QCOMPARE(plot.plot()->xAxis->range().lower, before.lower);
        QCOMPARE(plot.plot()->xAxis->range().upper, before.upper);
        // A drag on it pans nothing either.
        QTest::mousePress(plot.plot(), Qt::LeftButton, Qt::NoModifier, inside.toPoint());
        QTest::mouseMove(plot.plot(), inside.toPoint() + QPoint(80, 40));
        QTest::mouseRelease(plot.plot(), Qt::LeftButton, Qt::NoModifier, inside.toPoint() + QPoint(80, 40));
        QCOMPARE(plot.plot()->xAxis->range().upper, before.upper);
        QVector<CurvePoint> pts;
        for (int i = 1; i <= 200; ++i)
            pts.push_back(pt(i, 3.0 - i * 0.01));
        plot.addPoints("train", pts);
        plot.replot();
        QVERIFY2(fitsWithMargin(plot, 1.0, 200.0).isEmpty(), qPrintable(fitsWithMargin(plot, 1.0, 200.0)));
        QVERIFY(plot.plot()->yAxis->range().contains(3.0) && plot.plot()->yAxis->range().contains(1.0));
        // With points the wheel zooms, and the event stays with the chart.
        QWheelEvent zoom(inside, plot.plot()->mapToGlobal(inside), QPoint(), QPoint(0, 120), Qt::NoButton, Qt::NoModifier,
                         Qt::NoScrollPhase, false);
        QApplication::sendEvent(plot.plot(), &zoom);
        QVERIFY(zoom.isAccepted());
        QVERIFY(plot.plot()->xAxis->range().size() < 199.0);
    }

    // The balance heat map without a column leaves the wheel to the scroll area as well.
    void wheelOverAnEmptyHeatMapGoesOn() {
        BalanceHeatMap map;
        map.resize(500, 300);
        map.show();
        QVERIFY(QTest::qWaitForWindowExposed(&map));
        map.replot();
        const QCPRange before = map.plot()->xAxis->range();
        const QPointF inside = map.plot()->axisRect()->rect().center();
        QWheelEvent wheel(inside, map.plot()->mapToGlobal(inside), QPoint(), QPoint(0, 240), Qt::NoButton, Qt::NoModifier,
                          Qt::NoScrollPhase, false);
        QApplication::sendEvent(map.plot(), &wheel);
        QVERIFY(!wheel.isAccepted());
        QCOMPARE(map.plot()->xAxis->range().lower, before.lower);
        QCOMPARE(map.plot()->xAxis->range().upper, before.upper);
        map.addColumn(10, {"model.layers.0.self_attn.q_proj"}, {0.5});
        map.replot();
        QWheelEvent zoom(inside, map.plot()->mapToGlobal(inside), QPoint(), QPoint(0, 240), Qt::NoButton, Qt::NoModifier,
                         Qt::NoScrollPhase, false);
        QApplication::sendEvent(map.plot(), &zoom);
        QVERIFY(zoom.isAccepted());
    }

    // Zooming and panning stay within reach of the curves: never a view thousands of times wider
    // than the data, a sliver of one step, or far off where nothing is drawn.
    void zoomAndPanStayNearTheCurves() {
        CurvePlot plot("Loss", "loss");
        plot.resize(600, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        QVector<CurvePoint> pts;
        for (int i = 0; i <= 100; ++i)
            pts.push_back(pt(i, 2.0 + std::sin(i / 10.0)));
        plot.addPoints("train", pts);
        plot.replot();
        // The data and a margin of a few pixels at each end (the plotting area's width, and so the
        // margin, changes a little with the y axis's labels as the view moves).
        const QCPRange fit = plot.plot()->xAxis->range();
        const QPointF inside = plot.plot()->axisRect()->rect().center();
        auto wheel = [&](int delta, int times) {
            for (int i = 0; i < times; ++i) {
                QWheelEvent e(inside, plot.plot()->mapToGlobal(inside), QPoint(), QPoint(0, delta), Qt::NoButton, Qt::NoModifier,
                              Qt::NoScrollPhase, false);
                QApplication::sendEvent(plot.plot(), &e);
            }
        };
        wheel(-120, 80); // far out
        QCPRange x = plot.plot()->xAxis->range(), y = plot.plot()->yAxis->range();
        QVERIFY2(x.size() <= fit.size() * CurvePlot::kMaxZoomOut * 1.01, qPrintable(QString::number(x.size())));
        QVERIFY(x.contains(50.0));
        QVERIFY(y.contains(2.0) && y.size() < 1000.0);
        wheel(120, 300); // far in
        x = plot.plot()->xAxis->range();
        QVERIFY2(x.size() >= fit.size() / CurvePlot::kMaxZoomIn * 0.99, qPrintable(QString::number(x.size(), 'g', 17)));
        QVERIFY(std::isfinite(plot.plot()->yAxis->range().size()) && plot.plot()->yAxis->range().size() > 0);
        // A pan far to the right keeps the curve's end within one data width.
        plot.resetView();
        plot.plot()->xAxis->setRange(1e6, 1e6 + 100);
        QVERIFY2(plot.plot()->xAxis->range().center() <= fit.upper + fit.size() * 1.01,
                 qPrintable(QString::number(plot.plot()->xAxis->range().center())));
        // Reset view fits the data again.
        plot.resetView();
        QVERIFY2(fitsWithMargin(plot, 0.0, 100.0).isEmpty(), qPrintable(fitsWithMargin(plot, 0.0, 100.0)));
    }

    // The legend sits in a row of its own under the title, never over the curves; its entries wrap
    // onto more rows when the chart is narrow; a single curve has none and gives its row back.
    void legendNeverCoversTheCurves() {
        CurvePlot plot("Rewards", "reward");
        plot.resize(600, 400);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        QVector<CurvePoint> pts;
        for (int i = 0; i <= 50; ++i)
            pts.push_back(pt(i, 1.0 + i));
        plot.addPoints("train", pts);
        plot.replot();
        QVERIFY(!plot.plot()->legend->visible());
        const int topWithoutLegend = plot.plot()->axisRect()->rect().top();
        for (const char* name : {"eval", "eval chosen", "eval rejected"})
            plot.addPoints(name, pts);
        plot.replot();
        QCPLegend* legend = plot.plot()->legend;
        QVERIFY(legend->visible());
        const QRect axes = plot.plot()->axisRect()->rect();
        QVERIFY2(!legend->outerRect().intersects(axes), "the legend overlaps the plotted area");
        QCOMPARE(legend->borderPen().style(), Qt::NoPen); // a row of its own: no box, clipped at the chart's edge
        QVERIFY(legend->outerRect().top() >= 0 && legend->outerRect().right() <= plot.plot()->width());
        QVERIFY(axes.top() > topWithoutLegend);
        // Compact: the entries sit side by side at their own widths, centred, not spread over the width.
        auto entriesCompact = [legend] { return legendLayoutProblem(legend); };
        QVERIFY2(entriesCompact().isEmpty(), qPrintable(entriesCompact()));
        QVERIFY(legend->rowCount() == 1);
        QVERIFY2(std::abs(legend->outerRect().center().x() - axes.center().x()) < plot.plot()->width() / 8,
                 qPrintable(QString("legend centred at %1, the plotted area at %2").arg(legend->outerRect().center().x()).arg(axes.center().x())));
        // Narrow: the entries wrap and still fit the width, still outside the plotted area.
        plot.resize(260, 400);
        QApplication::processEvents();
        plot.addPoints("train", {pt(51, 52)});
        plot.replot();
        QVERIFY2(legend->outerRect().right() <= plot.plot()->width(),
                 qPrintable(QString("%1 > %2").arg(legend->outerRect().right()).arg(plot.plot()->width())));
        QVERIFY(!legend->outerRect().intersects(plot.plot()->axisRect()->rect()));
        QVERIFY(legend->rowCount() > 1);
        QVERIFY2(entriesCompact().isEmpty(), qPrintable(entriesCompact()));
        // A low chart with many long names (the Runs view's overlay): the legend goes to the right
        // rather than squeeze the curves into a strip.
        plot.resize(600, 200);
        QApplication::processEvents();
        for (const char* name : {"#5 facts_train_demo_rslora_r8", "#6 facts_train_demo_rslora_r8", "#7 facts_train_demo_rslora_r8"})
            plot.addPoints(name, pts);
        plot.replot();
        const QRect low = plot.plot()->axisRect()->rect();
        QVERIFY2(low.height() >= plot.plot()->height() / 2, qPrintable(QString("plotted area %1 px high of %2").arg(low.height()).arg(plot.plot()->height())));
        QVERIFY(!legend->outerRect().intersects(low));
        QVERIFY(legend->outerRect().left() >= low.right() && legend->outerRect().right() <= plot.plot()->width());
        QVERIFY(legend->outerRect().bottom() <= plot.plot()->height());
        QVERIFY2(entriesCompact().isEmpty(), qPrintable(entriesCompact()));
        // Back to a roomy size: above the curves again.
        plot.resize(1200, 500);
        QApplication::processEvents();
        plot.addPoints("train", {pt(52, 53)});
        plot.replot();
        QVERIFY(legend->outerRect().bottom() <= plot.plot()->axisRect()->rect().top());
        QVERIFY2(entriesCompact().isEmpty(), qPrintable(entriesCompact()));
        // Cleared: no legend, and the plotted area takes its row back.
        plot.resize(600, 400);
        plot.clear();
        plot.addPoints("train", pts);
        plot.replot();
        QVERIFY(!legend->visible());
        QCOMPARE(plot.plot()->axisRect()->rect().top(), topWithoutLegend);
    }

    // A curve that changes only in its 7th digit (a long schedule's learning rate) is drawn level,
    // its y ticks labelled apart, not magnified into a slope with every tick reading "0.0002".
    void nearlyFlatCurveIsDrawnLevel() {
        CurvePlot plot("Learning rate", "lr");
        plot.resize(500, 300);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        QVector<CurvePoint> pts;
        for (int i = 0; i <= 50; ++i)
            pts.push_back(pt(i, 2e-4 * (1.0 - 1e-9 * i * i)));
        plot.addPoints("learning rate", pts);
        plot.replot();
        const QCPRange y = plot.plot()->yAxis->range();
        QVERIFY2(y.size() >= 2e-4 * 0.05, qPrintable(QString("y range %1 .. %2").arg(y.lower, 0, 'g', 12).arg(y.upper, 0, 'g', 12)));
        QVERIFY(y.contains(2e-4));
        const QVector<QString> labels = plot.plot()->yAxis->tickVectorLabels();
        QVERIFY(labels.size() >= 2);
        QCOMPARE(QSet<QString>(labels.begin(), labels.end()).size(), labels.size());
        // A curve that does move keeps its own range.
        plot.clear();
        QVector<CurvePoint> falling;
        for (int i = 0; i <= 50; ++i)
            falling.push_back(pt(i, 2.0 - 0.01 * i));
        plot.addPoints("train", falling);
        plot.replot();
        QVERIFY(plot.plot()->yAxis->range().lower > 1.4 && plot.plot()->yAxis->range().upper < 2.1);
    }

    // The step axis has whole-number ticks, also while a run has taken only two steps; the epoch
    // axis keeps its fractions.
    void stepTicksAreWholeNumbers() {
        CurvePlot plot("Loss", "loss");
        plot.resize(500, 300);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        plot.addPoints("train", {pt(1, 1.4), pt(2, 1.3)});
        plot.replot();
        auto fractional = [&plot] {
            QStringList out;
            for (double t : plot.plot()->xAxis->tickVector())
                if (t != std::round(t))
                    out << QString::number(t);
            return out;
        };
        QVERIFY(plot.plot()->xAxis->tickVector().size() >= 2);
        QVERIFY2(fractional().isEmpty(), qPrintable(fractional().join(", ")));
        QVector<CurvePoint> more;
        for (int i = 3; i <= 300; ++i)
            more.push_back(pt(i, 1.0));
        plot.addPoints("train", more);
        plot.replot();
        QVERIFY2(fractional().isEmpty(), qPrintable(fractional().join(", ")));
        QVERIFY(plot.plot()->xAxis->tickVector().size() >= 3);
    }

    // A narrow panel (a small window) stacks its two groups of controls instead of cutting their
    // labels, and scrolls the charts sideways instead of cutting them off; a wide one has one row.
    void narrowPanelKeepsControlsWhole() {
        ChartsPanel panel;
        panel.resize(420, 560);
        panel.show();
        QVERIFY(QTest::qWaitForWindowExposed(&panel));
        QApplication::processEvents();
        QList<QWidget*> controls{panel.findChild<QWidget*>("logY"), panel.findChild<QWidget*>("xAxis")};
        for (QPushButton* b : panel.findChildren<QPushButton*>())
            if (b->text() == "Reset view" || b->text() == "Export…")
                controls << b;
        for (QCheckBox* c : panel.findChildren<QCheckBox*>())
            if (c->text() == "Clip outliers")
                controls << c;
        QCOMPARE(controls.size(), 5);
        auto whole = [&panel, &controls] {
            for (QWidget* w : controls) {
                if (!w)
                    return QString("a control is missing");
                const QRect r(w->mapTo(&panel, QPoint(0, 0)), w->size());
                if (w->width() < w->sizeHint().width() || r.right() > panel.width())
                    return QString("%1 is %2 px wide of %3, right edge %4 of %5").arg(w->objectName().isEmpty() ? w->property("text").toString() : w->objectName())
                        .arg(w->width()).arg(w->sizeHint().width()).arg(r.right()).arg(panel.width());
            }
            return QString();
        };
        QVERIFY2(whole().isEmpty(), qPrintable(whole()));
        QVERIFY(controls[1]->mapTo(&panel, QPoint(0, 0)).y() > controls[0]->mapTo(&panel, QPoint(0, 0)).y()); // two rows
        auto* scroll = panel.findChild<QScrollArea*>("chartsScroll");
        QVERIFY(scroll);
        QVERIFY2(scroll->horizontalScrollBar()->isVisible() && scroll->horizontalScrollBar()->maximum() > 0,
                 "the charts are wider than the panel but cannot be scrolled to");
        panel.resize(1300, 700);
        QApplication::processEvents();
        QVERIFY2(whole().isEmpty(), qPrintable(whole()));
        QCOMPARE(controls[1]->mapTo(&panel, QPoint(0, 0)).y() - controls[1]->height() / 2 < controls[0]->mapTo(&panel, QPoint(0, 0)).y() + controls[0]->height(), true);
        QVERIFY(!scroll->horizontalScrollBar()->isVisible());
    }

    // Export dialogs start in <data folder>/exports, then in the folder exported to last.
    void exportFolderIsTheDataFoldersOrTheLastUsed() {
        QTemporaryDir home;
        const QByteArray before = qgetenv("RSLORA_HOME");
        qputenv("RSLORA_HOME", home.path().toUtf8());
        QSettings().remove("export/lastFolder");
        QCOMPARE(ExportFolder::initial(), QDir(home.path()).filePath("exports"));
        QVERIFY(QFileInfo(ExportFolder::initial()).isDir());
        QTemporaryDir chosen;
        ExportFolder::remember(chosen.path());
        QCOMPARE(ExportFolder::initial(), QFileInfo(chosen.path()).absoluteFilePath());
        QSettings().remove("export/lastFolder");
        if (before.isEmpty())
            qunsetenv("RSLORA_HOME");
        else
            qputenv("RSLORA_HOME", before);
    }

    // An empty view writes nothing and says so, instead of 18 empty files and a success.
    void emptyChartsAreNotExported() {
        ChartsPanel panel;
        QVERIFY(!panel.hasData());
        QTemporaryDir dir;
        QString error;
        QSignalSpy exported(&panel, &ChartsPanel::exported);
        QVERIFY(!panel.exportAll(dir.path(), &error));
        QCOMPARE(error, QString("No chart has any points yet: start a run, or open one from the Runs view, then export."));
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList());
        QString said;
        answerMessageBox(QMessageBox::Ok, &said);
        QVERIFY(!panel.exportTo(dir.path()));
        QCOMPARE(said, error);
        QCOMPARE(exported.count(), 0);
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList());
        // One point is something to export.
        panel.addMetric("train/loss", pt(1, 2.0));
        QVERIFY(panel.hasData());
        QVERIFY2(panel.exportAll(dir.path(), &error), qPrintable(error));
        QCOMPARE(exported.count(), 1);
    }

    // Exporting into a folder that holds an earlier export asks first; No leaves the files as they
    // were, Yes replaces them. RSLORA_NO_DIALOGS (the tests' switch) replaces without asking.
    void exportAsksBeforeReplacingFiles() {
        ChartsPanel panel;
        panel.addMetric("train/loss", pt(1, 2.0));
        QTemporaryDir dir;
        QVERIFY(panel.existingExportFiles(dir.path()).isEmpty());
        QVERIFY(panel.exportTo(dir.path())); // nothing there: no question
        QVERIFY(panel.existingExportFiles(dir.path()).contains("loss.csv"));
        QFile mine(dir.filePath("loss.csv"));
        QVERIFY(mine.open(QIODevice::WriteOnly));
        mine.write("my notes\n");
        mine.close();
        QString asked;
        answerMessageBox(QMessageBox::No, &asked);
        QVERIFY(!panel.exportTo(dir.path()));
        QVERIFY2(asked.startsWith(QDir::toNativeSeparators(dir.path()) + " already holds 18 of the files the export writes ("), qPrintable(asked));
        QVERIFY2(asked.endsWith("Replace them?"), qPrintable(asked));
        QCOMPARE(contents(dir.filePath("loss.csv")), QByteArray("my notes\n"));
        answerMessageBox(QMessageBox::Yes, &asked);
        QVERIFY(panel.exportTo(dir.path()));
        QVERIFY(contents(dir.filePath("loss.csv")).startsWith("series,"));
        mine.open(QIODevice::WriteOnly);
        mine.write("again\n");
        mine.close();
        qputenv("RSLORA_NO_DIALOGS", "1");
        QVERIFY(panel.exportTo(dir.path()));
        qunsetenv("RSLORA_NO_DIALOGS");
        QVERIFY(contents(dir.filePath("loss.csv")).startsWith("series,"));
    }

    void panelRoutesMetricsAndBalance() {
        ChartsPanel panel;
        QVERIFY(panel.addMetric("train/loss", pt(1, 3.0)));
        QVERIFY(panel.addMetric("eval/loss", pt(1, 3.2)));
        QVERIFY(panel.addMetric("train/lr", pt(1, 1e-4)));
        QVERIFY(!panel.addMetric("no/such/metric", pt(1, 0)));
        QCOMPARE(panel.chart("loss")->seriesNames(), QStringList({"train", "eval"}));
        QStringList modules{"m0", "m1"};
        panel.addBalance(pt(1, 0), modules, {1.0, 2.0});
        panel.addBalance(pt(2, 0), modules, {1.5, 3.0});
        QCOMPARE(panel.moduleChooser()->count(), 2);
        QCOMPARE(panel.chart("balance")->series("m0")->size(), 2);
        panel.moduleChooser()->setCurrentText("m1");
        QCOMPARE(panel.chart("balance")->seriesNames(), QStringList({"m1"}));
        QCOMPARE(panel.chart("balance")->series("m1")->points()[1].value, 3.0);
        QCOMPARE(panel.heatMap()->columnCount(), 2);
        // The timer replots on its own.
        QTRY_VERIFY(!panel.chart("loss")->isDirty());
        QTemporaryDir dir;
        QString error;
        QSignalSpy exported(&panel, &ChartsPanel::exported);
        QVERIFY2(panel.exportAll(dir.path(), &error), qPrintable(error));
        // The success is said, with the folder, for the status bar.
        QCOMPARE(exported.count(), 1);
        QVERIFY(exported.at(0).at(0).toString().contains(QDir::toNativeSeparators(QDir(dir.path()).absolutePath())));
        for (const char* f : {"loss.png", "loss.pdf", "loss.csv", "balance_heatmap.png", "balance_heatmap.csv"})
            QVERIFY2(QFile::exists(dir.filePath(f)), f);
    }
};

QTEST_MAIN(ChartsTest)
#include "ChartsTest.moc"
