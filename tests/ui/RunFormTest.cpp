// The new-run form: round-trip of every field through TrainConfig, validation shown next to the
// field before Start (naming the text as typed), the effective-scale readout, target boxes from the
// model, method and form presets, reset to defaults, CLI text.
#include "ui/AdapterSection.h"
#include "ui/DataSection.h"
#include "ui/FieldErrors.h"
#include "ui/ModelSection.h"
#include "ui/RunForm.h"
#include "ui/StagesEditor.h"
#include "ui/ScrollWheelGuard.h"
#include "ui/numbers/IntBox.h"
#include "ui/numbers/RealBox.h"
#include "engine/MemoryEstimate.h"
#include "engine/Runtime.h"

#include "common/Paths.h"

#include "engine/TrainConfig.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QTableWidget>
#include <QSignalSpy>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QWheelEvent>
#include <QElapsedTimer>
#include <QApplication>
#include <QtTest>

#include <nlohmann/json.hpp>

using namespace rslora;

namespace {
// A config.json of a tiny Llama the form can read (no weights needed for the form).
QString writeTinyModel(const QTemporaryDir& dir, int layers = 2) {
    QString path = dir.filePath("tiny");
    QDir().mkpath(path);
    nlohmann::json c = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 64},
                        {"intermediate_size", 128}, {"num_hidden_layers", layers}, {"num_attention_heads", 4},
                        {"num_key_value_heads", 2}, {"vocab_size", 256}, {"rms_norm_eps", 1e-5},
                        {"max_position_embeddings", 128}, {"torch_dtype", "float32"}};
    QFile f(path + "/config.json");
    f.open(QIODevice::WriteOnly);
    f.write(QByteArray::fromStdString(c.dump()));
    return path;
}

// A stand-in for the workbench's dataset reader: every file is a usable alpaca file of 10 samples.
ui::DatasetPreview usableData(const QString&, const QString&, int) {
    ui::DatasetPreview p;
    p.format = "alpaca";
    p.samples = 10;
    return p;
}

// A model folder the engine can train: config.json plus a (stand-in) weights file.
QString writeTrainableModel(const QTemporaryDir& dir) {
    const QString path = writeTinyModel(dir);
    QFile w(path + "/model.safetensors");
    w.open(QIODevice::WriteOnly);
    w.write("weights");
    return path;
}

// The activation term the form's memory line should show for `batch` rows of `len` tokens.
QString estimatedActivations(ui::RunForm& form, int batch, int len) {
    engine::MemoryEstimateInput in;
    in.trainableParams = 1;
    in.adapterRank = form.config().adapter.rank;
    in.batch = batch;
    in.seqLen = len;
    return QLocale().formattedDataSize(engine::estimateTrainingMemory(*form.modelSection()->modelConfig(), in).activations);
}

// A stand-in for the workbench's dataset reader that looks at the file: a missing one is named as the
// reader names it, one whose name holds "broken" has an unusable line, any other is usable.
ui::DatasetPreview checkedData(const QString& model, const QString& data, int len) {
    ui::DatasetPreview p;
    if (!QFileInfo(data).isFile())
        p.error = QString("file '%1' does not exist").arg(data);
    else if (data.contains("broken"))
        p.error = "line 3 of broken.jsonl cannot be used";
    else
        p = usableData(model, data, len);
    return p;
}

// A form with a trainable model and a usable training file, shown and active (shortcuts work).
QString makeReady(ui::RunForm& form, const QTemporaryDir& dir) {
    form.modelSection()->setPath(writeTrainableModel(dir));
    form.dataSection()->setPreviewProvider(checkedData);
    const QString file = dir.filePath("train.jsonl");
    QFile(file).open(QIODevice::WriteOnly);
    auto* train = form.findChild<QLineEdit*>("data.train.edit");
    train->setText(file);
    Q_EMIT train->editingFinished();
    form.show();
    return file;
}

// Ctrl+Enter in a field; a button's shortcut clicks it after a short animation, which is waited for.
void pressCtrlEnter(QWidget* field) {
    QTest::keyClick(field, Qt::Key_Return, Qt::ControlModifier);
    QTest::qWait(400);
}

// Replaces a line edit's text by typing, the cursor left in the field.
void retype(QLineEdit* edit, const QString& text) {
    edit->setFocus();
    edit->selectAll();
    QTest::keyClicks(edit, text);
}

void typeInto(QAbstractSpinBox* spin, const QString& text) {
    spin->setFocus();
    spin->selectAll();
    QTest::keyClicks(spin, text);
    QTest::keyClick(spin, Qt::Key_Enter);
}
} // namespace

class RunFormTest : public QObject {
    Q_OBJECT
    QTemporaryDir m_settings;

private Q_SLOTS:
    void initTestCase() {
        // The form remembers itself in the settings: keep this test's settings to itself.
        QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, m_settings.path());
    }

    void dataSectionHasTheModelPathFromTheStart() {
        ui::RunForm form;
        QString seen = "(not asked)";
        form.dataSection()->setPreviewProvider([&](const QString& model, const QString& data, int len) {
            seen = model;
            return usableData(model, data, len);
        });
        QVERIFY(!form.modelSection()->modelPath().isEmpty());
        auto* train = form.findChild<QLineEdit*>("data.train.edit");
        train->setText("/data/train.jsonl");
        Q_EMIT train->editingFinished();
        QCOMPARE(seen, form.modelSection()->modelPath());
    }

    // The memory line follows batch and length through the engine's memory model (weights,
    // adapters and optimizer, activations, logits), and goes away without a model.
    void memoryEstimateFollowsBatchAndLength() {
        ui::RunForm form;
        auto* memory = form.findChild<QLabel*>("memoryEstimate");
        QVERIFY(memory);
        form.validateNow();
        QVERIFY2(memory->text().startsWith("Estimated peak training memory"), qPrintable(memory->text()));
        QVERIFY(memory->text().contains("activations"));
        QVERIFY(form.modelSection()->modelConfig());
        auto activations = [&](int batch, int len) { return estimatedActivations(form, batch, len); };
        auto* batch = form.findChild<QSpinBox*>("training.batch_size");
        auto* length = form.findChild<QSpinBox*>("data.max_seq_len");
        QVERIFY(batch && length);
        batch->setValue(4);
        length->setValue(128);
        form.validateNow();
        QVERIFY2(memory->text().contains(activations(4, 128)), qPrintable(memory->text()));
        batch->setValue(8);
        form.validateNow();
        QVERIFY2(memory->text().contains(activations(8, 128)), qPrintable(memory->text()));
        form.modelSection()->setPath("/no/such/model");
        form.validateNow();
        QVERIFY(memory->text().isEmpty());
    }

    // The trainer ends a batch at the epoch's last sample, so the estimate counts no more rows than
    // the training part of the file: 10 samples less the split-off tenth, or all 10 with a
    // validation file of their own.
    void memoryEstimateCapsBatchAtTrainingRows() {
        QTemporaryDir dir;
        QFile validationFile(dir.filePath("val.jsonl"));
        QVERIFY(validationFile.open(QIODevice::WriteOnly));
        validationFile.write("{}\n");
        validationFile.close();
        ui::RunForm form;
        form.dataSection()->setPreviewProvider(usableData);
        auto* train = form.findChild<QLineEdit*>("data.train.edit");
        auto* validation = form.findChild<QLineEdit*>("data.validation.edit");
        auto* memory = form.findChild<QLabel*>("memoryEstimate");
        auto* batch = form.findChild<QSpinBox*>("training.batch_size");
        auto* length = form.findChild<QSpinBox*>("data.max_seq_len");
        auto* split = form.findChild<QDoubleSpinBox*>("data.validation_split");
        QVERIFY(train && validation && memory && batch && length && split);
        QVERIFY(form.modelSection()->modelConfig());
        auto activations = [&](int rows) { return estimatedActivations(form, rows, 128); };
        length->setValue(128);
        split->setValue(0.1);
        batch->setValue(64);
        train->setText("/data/train.jsonl");
        Q_EMIT train->editingFinished();
        form.validateNow();
        QVERIFY2(memory->text().contains(activations(9)), qPrintable(memory->text()));
        QVERIFY2(memory->text().contains("batches of 9 rows"), qPrintable(memory->text()));
        validation->setText(validationFile.fileName());
        Q_EMIT validation->editingFinished();
        form.validateNow();
        QVERIFY2(memory->text().contains(activations(10)), qPrintable(memory->text()));
        QVERIFY2(memory->text().contains("batches of 10 rows"), qPrintable(memory->text()));
        batch->setValue(4);
        form.validateNow();
        QVERIFY2(memory->text().contains(activations(4)), qPrintable(memory->text()));
        QVERIFY2(!memory->text().contains("batches of"), qPrintable(memory->text()));
    }

    // Scrolling the form with the wheel scrolls it: a field that passes under the pointer keeps its
    // value (the LoRA+ ratio went to 0 that way, and Start was refused); a focused field takes the wheel.
    void wheelScrollsTheFormNotTheFieldUnderThePointer() {
        ui::ScrollWheelGuard guard;
        qApp->installEventFilter(&guard);
        ui::RunForm form;
        form.resize(900, 400);
        form.show();
        QVERIFY(QTest::qWaitForWindowExposed(&form));
        auto* scroll = form.findChild<QScrollArea*>();
        auto* ratio = form.findChild<QDoubleSpinBox*>("adapter.loraplus_lr_ratio");
        QVERIFY(scroll && ratio);
        QScrollBar* bar = scroll->verticalScrollBar();
        QVERIFY(bar->maximum() > 0);
        // No field takes the focus from the wheel: Qt gives it to such a field as a wheel from the
        // window system arrives, before the guard sees the event, and the field then took the wheel.
        for (const QWidget* field : form.findChildren<QWidget*>())
            if (qobject_cast<const QAbstractSpinBox*>(field) || qobject_cast<const QComboBox*>(field))
                QVERIFY2((field->focusPolicy() & Qt::WheelFocus) != Qt::WheelFocus, qPrintable(field->objectName()));
        form.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&form));
        const double before = ratio->value();
        const int top = bar->value();
        auto wheelDown = [&] {
            // As QApplication does for a wheel from the window system (QTest sends none).
            if ((ratio->focusPolicy() & Qt::WheelFocus) == Qt::WheelFocus)
                ratio->setFocus(Qt::MouseFocusReason);
            const QPointF local(ratio->width() / 2.0, ratio->height() / 2.0);
            QWheelEvent down(local, QPointF(ratio->mapToGlobal(local.toPoint())), QPoint(), QPoint(0, -120), Qt::NoButton,
                             Qt::NoModifier, Qt::NoScrollPhase, false);
            QApplication::sendEvent(ratio, &down);
        };
        for (int i = 0; i < 3; ++i)
            wheelDown();
        QCOMPARE(ratio->value(), before);
        QVERIFY2(bar->value() > top, qPrintable(QString("scroll bar at %1, was %2").arg(bar->value()).arg(top)));
        QVERIFY(!ratio->hasFocus());
        ratio->setFocus();
        QVERIFY(ratio->hasFocus());
        wheelDown();
        QVERIFY(ratio->value() < before);
        qApp->removeEventFilter(&guard);
    }

    // A pasted pattern std::regex cannot take safely (300,000 characters overflowed the stack when the
    // form counted trainable parameters) is named at its field and counts nothing; the form survives.
    void hugeTargetRegexIsNamed() {
        ui::RunForm form;
        form.findChild<QLineEdit*>("adapter.target_regex")->setText(QString(300000, 'a'));
        form.validateNow();
        QCOMPARE(form.adapterSection()->trainableParameters(), qint64(0));
        QVERIFY2(form.fieldErrors()->errorFor("adapter.target_regex").contains("at most 1000 are read"),
                 qPrintable(form.fieldErrors()->errorFor("adapter.target_regex").left(300)));
    }

    // With the demo's estimate shown (its longest line), the form still fits a 1366-pixel screen
    // beside the window's frame: the estimate wraps on a line of its own instead of widening the button row.
    void fitsASmallScreen() {
        ui::RunForm form;
        form.validateNow();
        auto* memory = form.findChild<QLabel*>("memoryEstimate");
        QVERIFY(memory && memory->text().size() > 150);
        QVERIFY2(form.minimumSizeHint().width() <= 1280, qPrintable(QString::number(form.minimumSizeHint().width())));
    }

    // A value no line can hold, quoted in its field's error (2000 digits pasted into Seed, a training
    // file path of 10,000 characters), is cut at the field's edge: it made the form thousands of pixels
    // wide, every field scrolling sideways out of the window.
    void aLongValueInAnErrorDoesNotWidenTheForm() {
        ui::RunForm form;
        form.resize(1280, 700);
        form.show();
        QVERIFY(QTest::qWaitForWindowExposed(&form));
        auto* scroll = form.findChild<QScrollArea*>();
        auto* seed = form.findChild<QSpinBox*>("training.seed");
        auto* train = form.findChild<QLineEdit*>("data.train.edit");
        QVERIFY(scroll && seed && train);
        QCoreApplication::processEvents();
        QCOMPARE(scroll->horizontalScrollBar()->maximum(), 0);
        const QString digits(2000, '9');
        typeInto(seed, digits);
        const QString path = "/no/such/folder/" + QString(10000, 'd') + ".jsonl";
        train->setText(path); // as typed, not yet read: named as a missing file
        form.validateNow();
        QCoreApplication::processEvents();
        QVERIFY2(form.fieldErrors()->errorFor("training.seed").contains(digits), "the message keeps the value as typed");
        QVERIFY2(form.fieldErrors()->errorFor("data.train").contains(path), "the message keeps the path as typed");
        QVERIFY(form.findChild<QLabel*>("error_training.seed")->isVisible());
        QCOMPARE(scroll->horizontalScrollBar()->maximum(), 0);
        QVERIFY2(form.minimumSizeHint().width() <= 1280, qPrintable(QString::number(form.minimumSizeHint().width())));
    }

    // A rank the box cannot take (-1) left the trainable count and the memory estimate at the last
    // good rank, shown as if they were those of the rank typed; they say what to fix instead, and
    // come back with a rank the box takes. The same for a batch size the box cannot take.
    void readoutsWaitForNumbersTheBoxesTake() {
        ui::RunForm form;
        auto* rank = form.findChild<QSpinBox*>("adapter.r");
        auto* batch = form.findChild<QSpinBox*>("training.batch_size");
        auto* trainable = form.findChild<QLabel*>("trainableReadout");
        auto* memory = form.findChild<QLabel*>("memoryEstimate");
        QVERIFY(rank && batch && trainable && memory);
        form.validateNow();
        QVERIFY2(trainable->text().contains("adapter parameters"), qPrintable(trainable->text()));
        QVERIFY2(memory->text().startsWith("Estimated peak training memory ≈"), qPrintable(memory->text()));
        typeInto(rank, "-1");
        form.validateNow();
        QCOMPARE(trainable->text(), QString("enter a valid rank to count parameters"));
        QCOMPARE(memory->text(), QString("Estimated peak training memory: enter a valid adapter.r to see it"));
        typeInto(batch, "0");
        form.validateNow();
        QCOMPARE(memory->text(), QString("Estimated peak training memory: enter a valid adapter.r, training.batch_size to see it"));
        typeInto(rank, "16");
        typeInto(batch, "4");
        form.validateNow();
        QVERIFY2(trainable->text().contains("adapter parameters"), qPrintable(trainable->text()));
        QVERIFY2(memory->text().startsWith("Estimated peak training memory ≈"), qPrintable(memory->text()));
    }

    // The memory line follows the Dtype and Gradient checkpointing fields as the engine's model does.
    void memoryEstimateFollowsDtypeAndCheckpointing() {
        ui::RunForm form;
        auto* memory = form.findChild<QLabel*>("memoryEstimate");
        auto* dtype = form.findChild<QComboBox*>("model.dtype");
        auto* checkpointing = form.findChild<QCheckBox*>("training.gradient_checkpointing");
        QVERIFY(memory && dtype && checkpointing);
        const auto& model = form.modelSection()->modelConfig();
        QVERIFY(model);
        auto activations = [&](const std::string& type, bool ckpt) {
            engine::MemoryEstimateInput in;
            in.trainableParams = 1;
            in.adapterRank = form.config().adapter.rank;
            in.batch = form.config().batchSize;
            in.seqLen = form.config().maxSeqLen;
            in.dtype = type;
            in.gradientCheckpointing = ckpt;
            return QLocale().formattedDataSize(engine::estimateTrainingMemory(*model, in).activations);
        };
        form.validateNow();
        QVERIFY2(memory->text().contains("activations " + activations("float32", false)), qPrintable(memory->text()));
        dtype->setCurrentText("bfloat16");
        form.validateNow();
        QVERIFY(activations("bfloat16", false) != activations("float32", false));
        QVERIFY2(memory->text().contains("activations " + activations("bfloat16", false)), qPrintable(memory->text()));
        checkpointing->setChecked(true);
        form.validateNow();
        QVERIFY(activations("bfloat16", true) != activations("bfloat16", false));
        QVERIFY2(memory->text().contains("activations " + activations("bfloat16", true)), qPrintable(memory->text()));
    }

    // The Device field offers the CPU and every CUDA device this LibTorch sees, in that order.
    void deviceChoicesAreCpuAndEachCudaDevice() {
        ui::RunForm form;
        auto* device = form.findChild<QComboBox*>("model.device");
        QVERIFY(device);
        QStringList expected{"cpu"};
        for (const auto& d : engine::runtimeInfo().cudaDevices)
            expected << QString::fromStdString(d);
        QStringList items;
        for (int i = 0; i < device->count(); ++i)
            items << device->itemText(i);
        QCOMPARE(items, expected);
        QCOMPARE(form.config().device, std::string("cpu"));
    }

    void modelWithoutWeightsBlocksStart() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.dataSection()->setPreviewProvider(usableData);
        auto* train = form.findChild<QLineEdit*>("data.train.edit");
        train->setText("/data/train.jsonl");
        Q_EMIT train->editingFinished();
        form.modelSection()->setPath(writeTrainableModel(dir));
        QStringList problems = form.validateNow();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
        QVERIFY(form.startButton()->isEnabled());
        // The same folder without its weights: named at the folder, and Start is off.
        QVERIFY(QFile::remove(dir.filePath("tiny/model.safetensors")));
        form.modelSection()->setPath(dir.filePath("tiny"));
        problems = form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("model.path").contains("has no *.safetensors weights"), qPrintable(problems.join('\n')));
        QVERIFY(!form.startButton()->isEnabled());
        // No markup shows as text anywhere (no tokenizer and no weights used to show a literal <br>).
        const QString info = form.findChild<QLabel*>("modelInfo")->text();
        QVERIFY2(!info.contains("&lt;") && !form.fieldErrors()->errorFor("model.path").contains("<"), qPrintable(info));
    }

    void quantizationRoundTripsAndLowersTheEstimate() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir));
        auto* quant = form.findChild<QComboBox*>("model.quantization");
        QVERIFY(quant);
        QVERIFY(!quant->toolTip().isEmpty());
        QCOMPARE(quant->currentText(), QString("none"));
        QCOMPARE(form.config().quantization, std::string("none"));
        // The memory line's weights follow the engine's model of a 4-bit base.
        auto weights = [&](const std::string& quantization) {
            engine::MemoryEstimateInput in;
            in.quantization = quantization;
            return engine::estimateTrainingMemory(*form.modelSection()->modelConfig(), in).weights;
        };
        auto* memory = form.findChild<QLabel*>("memoryEstimate");
        form.validateNow();
        QVERIFY2(memory->text().contains("weights " + QLocale().formattedDataSize(weights("none"))), qPrintable(memory->text()));
        quant->setCurrentIndex(quant->findText("nf4"));
        QCOMPARE(form.config().quantization, std::string("nf4"));
        form.validateNow();
        QVERIFY(weights("nf4") < weights("none"));
        QVERIFY2(memory->text().contains("weights " + QLocale().formattedDataSize(weights("nf4"))), qPrintable(memory->text()));
        engine::TrainConfig c = form.config();
        c.quantization = "fp4";
        form.setConfig(c);
        QCOMPARE(quant->currentText(), QString("fp4"));
        QCOMPARE(form.config().quantization, std::string("fp4"));
        // Spectral init over a 4-bit base is named at the field before any run starts.
        form.findChild<QComboBox*>("adapter.init")->setCurrentText("spectral");
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("model.quantization").contains("spectral") ||
                     form.fieldErrors()->errorFor("adapter.init").contains("spectral"),
                 qPrintable(form.fieldErrors()->errorFor("model.quantization")));
    }

    void typedValuesAreNamedAsTyped() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir));
        form.findChild<QLineEdit*>("training.learning_rate")->setText("abc");
        form.findChild<QLineEdit*>("adapter.layers_to_transform")->setText("q_proj(");
        form.findChild<QLineEdit*>("adapter.sensitivity_candidate_ranks")->setText("4, eight");
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("training.learning_rate"), QString("training.learning_rate: 'abc' is not a number (write e.g. 2e-4 or 0.0002)"));
        const QString layers = form.fieldErrors()->errorFor("adapter.layers_to_transform");
        QVERIFY2(layers.contains("'q_proj('") && !layers.contains("-1"), qPrintable(layers));
        const QString ranks = form.fieldErrors()->errorFor("adapter.sensitivity_candidate_ranks");
        QVERIFY2(ranks.contains("'eight' is not a whole number") && !ranks.contains("holds 0"), qPrintable(ranks));
        QVERIFY(!form.startButton()->isEnabled());
    }

    // The form fits a 1024-pixel-wide window without a horizontal scroll bar: no readout's one long
    // line sets its width.
    void formFitsANarrowWindow() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir));
        form.validateNow();
        form.resize(1000, 560);
        form.show();
        QVERIFY(QTest::qWaitForWindowExposed(&form));
        QApplication::processEvents();
        auto* scroll = form.findChild<QScrollArea*>();
        QVERIFY(scroll);
        QVERIFY2(!scroll->horizontalScrollBar()->isVisible(),
                 qPrintable(QString("the form needs %1 pixels, the window gives %2")
                                .arg(scroll->widget()->minimumSizeHint().width())
                                .arg(scroll->viewport()->width())));
    }

    // A layer range up to a number no model reaches (a slip: "0-2000000000") is refused by name at
    // once; it was expanded into that many layer numbers, taking the machine's memory.
    void layerRangesBeyondAnyModelAreRefused() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir));
        auto* layers = form.findChild<QLineEdit*>("adapter.layers_to_transform");
        for (const char* typed : {"0-2000000000", "1,2000000000"}) {
            layers->setText(typed);
            QElapsedTimer t;
            t.start();
            form.validateNow();
            QVERIFY2(t.elapsed() < 5000, typed);
            const QString error = form.fieldErrors()->errorFor("adapter.layers_to_transform");
            QVERIFY2(error.contains(QString("'%1' names a layer above 100000").arg(typed)), qPrintable(error));
            QVERIFY(!form.startButton()->isEnabled());
        }
        layers->setText("0-1");
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("adapter.layers_to_transform").isEmpty(), qPrintable(form.fieldErrors()->errorFor("adapter.layers_to_transform")));
    }

    // A typed number that reads as infinite (or NaN) is said not to be a finite number, and one out of
    // range is quoted as typed ("0", not the config's "0.0"): the learning rate, and the ranks and
    // alphas of the rank pattern (shown at the pattern, none left below the form).
    void typedNumbersAreFiniteAndQuotedAsTyped() {
        QTemporaryDir dir;
        ui::RunForm form;
        makeReady(form, dir);
        auto* lr = form.findChild<QLineEdit*>("training.learning_rate");
        const QList<QPair<QString, QString>> lrCases = {
            {"inf", "training.learning_rate: 'inf' is not a finite number (write e.g. 2e-4 or 0.0002)"},
            {"nan", "training.learning_rate: 'nan' is not a finite number (write e.g. 2e-4 or 0.0002)"},
            {"0", "training.learning_rate must be > 0, found '0'"},
            {"-1e-4", "training.learning_rate must be > 0, found '-1e-4'"},
        };
        for (const auto& [typed, expected] : lrCases) {
            lr->setText(typed);
            form.validateNow();
            QCOMPARE(form.fieldErrors()->errorFor("training.learning_rate"), expected);
            QVERIFY(!form.startButton()->isEnabled());
        }
        lr->setText("2e-4");
        QVERIFY(form.validateNow().isEmpty());

        form.findChild<QComboBox*>("adapter.rank_allocation")->setCurrentIndex(1);
        auto* pattern = form.findChild<QPlainTextEdit*>("adapter.rank_pattern");
        const QList<QPair<QString, QString>> patternCases = {
            {"q_proj = 8, 1e999", "adapter.alpha_pattern line 1: alpha '1e999' is not a finite number"},
            {"q_proj = 8, 0", "adapter.alpha_pattern line 1: alpha must be > 0, found '0'"},
            {"v_proj = 4\nq_proj = 00", "adapter.rank_pattern line 2: the rank must be a whole number >= 1, found '00'"},
        };
        for (const auto& [typed, expected] : patternCases) {
            pattern->setPlainText(typed);
            form.validateNow();
            QCOMPARE(form.fieldErrors()->errorFor("adapter.rank_pattern"), expected);
            QCOMPARE(form.findChild<QLabel*>("formProblems")->text(), QString());
            QVERIFY(!form.startButton()->isEnabled());
        }
        pattern->setPlainText("q_proj = 8, 16"); // a key naming modules of the model
        const QStringList problems = form.validateNow();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
        pattern->setPlainText(pattern->placeholderText()); // the example the empty box shows is a valid pattern
        const QStringList exampleProblems = form.validateNow();
        QVERIFY2(exampleProblems.isEmpty(), qPrintable(exampleProblems.join('\n')));
    }

    void modelAndDataFactsAreNamedAtTheirFields() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTrainableModel(dir));
        form.dataSection()->setPreviewProvider([](const QString&, const QString&, int) {
            ui::DatasetPreview p;
            p.format = "alpaca"; // read, but every sample was dropped
            return p;
        });
        auto* train = form.findChild<QLineEdit*>("data.train.edit");
        train->setText("/data/empty.jsonl");
        Q_EMIT train->editingFinished();
        form.findChild<QLineEdit*>("adapter.target_regex")->setText(".*nothing_here");
        const QStringList problems = form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("adapter.target_regex").contains("no module of the model matches"), qPrintable(problems.join('\n')));
        QVERIFY2(form.fieldErrors()->errorFor("data.train").contains("holds no samples"), qPrintable(problems.join('\n')));
        QVERIFY2(form.findChild<QLabel*>("formProblems")->text().isEmpty(), qPrintable(form.findChild<QLabel*>("formProblems")->text()));
        form.findChild<QLineEdit*>("adapter.target_regex")->clear();
        form.findChild<QCheckBox*>("target_q_proj")->setChecked(false);
        form.findChild<QCheckBox*>("target_v_proj")->setChecked(false);
        form.findChild<QCheckBox*>("target_k_proj")->setChecked(false);
        form.findChild<QCheckBox*>("target_o_proj")->setChecked(false);
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("adapter.target_modules").contains("is empty"), qPrintable(form.fieldErrors()->errorFor("adapter.target_modules")));
        QVERIFY(!form.startButton()->isEnabled());
    }

    void unusableValidationFileBlocksStart() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTrainableModel(dir));
        form.dataSection()->setPreviewProvider([](const QString& model, const QString& data, int len) {
            ui::DatasetPreview p = usableData(model, data, len);
            if (data.contains("broken")) {
                p.format.clear();
                p.error = "line 3 of broken.jsonl cannot be used";
            }
            return p;
        });
        auto* train = form.findChild<QLineEdit*>("data.train.edit");
        train->setText("/data/train.jsonl");
        Q_EMIT train->editingFinished();
        const QString broken = dir.filePath("broken.jsonl");
        QFile(broken).open(QIODevice::WriteOnly);
        auto* validation = form.findChild<QLineEdit*>("data.validation.edit");
        validation->setText(broken);
        Q_EMIT validation->editingFinished();
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("data.validation"), QString("data.validation: line 3 of broken.jsonl cannot be used"));
        QVERIFY(!form.startButton()->isEnabled());
        validation->setText(dir.filePath("absent.jsonl"));
        Q_EMIT validation->editingFinished();
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("data.validation").contains("does not exist"), qPrintable(form.fieldErrors()->errorFor("data.validation")));
        validation->clear();
        Q_EMIT validation->editingFinished();
        QVERIFY(form.validateNow().isEmpty());
        QVERIFY(form.startButton()->isEnabled());
    }

    // Ctrl+Enter with the cursor still in the Training file field checks the text as typed: a folder
    // or a file with an unusable line typed there is named at the field and no run starts; a usable
    // file typed there starts one.
    void ctrlEnterChecksTheTrainingFileAsTyped() {
        QTemporaryDir dir;
        ui::RunForm form;
        const QString usable = makeReady(form, dir);
        QVERIFY(QTest::qWaitForWindowActive(&form));
        QStringList problems = form.validateNow();
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join('\n')));
        QSignalSpy started(&form, &ui::RunForm::startRequested);
        auto* train = form.findChild<QLineEdit*>("data.train.edit");
        retype(train, dir.path());
        pressCtrlEnter(train);
        QCOMPARE(started.count(), 0);
        QCOMPARE(form.fieldErrors()->errorFor("data.train"), QString("data.train: '%1' is a folder, not a file").arg(dir.path()));
        QVERIFY(!form.startButton()->isEnabled());
        const QString broken = dir.filePath("broken.jsonl");
        QFile(broken).open(QIODevice::WriteOnly);
        retype(train, broken);
        pressCtrlEnter(train);
        QCOMPARE(started.count(), 0);
        QCOMPARE(form.fieldErrors()->errorFor("data.train"), QString("data.train: line 3 of broken.jsonl cannot be used"));
        retype(train, usable);
        QTRY_VERIFY(form.startButton()->isEnabled());
        pressCtrlEnter(train);
        QTRY_COMPARE(started.count(), 1); // the click may come after the wait on a loaded machine
        QCOMPARE(started.first().first().value<engine::TrainConfig>().trainData, usable.toStdString());
        // Ctrl with the keypad's Enter starts too (it is another key than Return).
        QTest::keyClick(train, Qt::Key_Enter, Qt::ControlModifier | Qt::KeypadModifier);
        QTRY_COMPARE(started.count(), 2);
    }

    // Closing the form while the cursor is in the training file field does not read the file (leaving
    // the field read it, as the form was taken down, and validated the half-destroyed form).
    void closingTheFormReadsNothing() {
        QTemporaryDir dir;
        int reads = 0;
        {
            ui::RunForm form;
            makeReady(form, dir);
            QVERIFY(QTest::qWaitForWindowActive(&form));
            form.dataSection()->setPreviewProvider([&reads](const QString& model, const QString& data, int len) {
                ++reads;
                return usableData(model, data, len);
            });
            QFile(dir.filePath("other.jsonl")).open(QIODevice::WriteOnly);
            auto* train = form.findChild<QLineEdit*>("data.train.edit");
            retype(train, dir.filePath("other.jsonl"));
            QVERIFY(train->hasFocus());
            QCOMPARE(reads, 0);
        }
        QCOMPARE(reads, 0);
    }

    // Leaving a path field with Tab reads it, and what the reading found is shown at the field (the
    // preview's "see the problem named above" has a problem above it) with Start off, without a
    // click. While the text is typed, a missing file already turns Start off.
    void leavingAPathFieldShowsItsProblem() {
        QTemporaryDir dir;
        ui::RunForm form;
        makeReady(form, dir);
        QVERIFY(QTest::qWaitForWindowActive(&form));
        QVERIFY(form.validateNow().isEmpty());
        auto* train = form.findChild<QLineEdit*>("data.train.edit");
        auto* error = form.findChild<QLabel*>("error_data.train");
        const QString missing = dir.filePath("nonexistent.jsonl");
        retype(train, missing);
        QTRY_VERIFY(!form.startButton()->isEnabled());
        QTest::keyClick(train, Qt::Key_Tab);
        QTRY_COMPARE(form.fieldErrors()->errorFor("data.train"), QString("data.train: file '%1' does not exist").arg(missing));
        QVERIFY(error->isVisible());
        QCOMPARE(form.findChild<QLabel*>("dataSummary")->text(), QString("No preview: see the problem named above."));
        // A file that exists but cannot be used is known only once it is read, when the field is left.
        const QString broken = dir.filePath("broken.jsonl");
        QFile(broken).open(QIODevice::WriteOnly);
        retype(train, broken);
        QTRY_VERIFY(form.startButton()->isEnabled());
        QTest::keyClick(train, Qt::Key_Tab);
        QTRY_VERIFY(!form.startButton()->isEnabled());
        QCOMPARE(form.fieldErrors()->errorFor("data.train"), QString("data.train: line 3 of broken.jsonl cannot be used"));
        QVERIFY(error->isVisible());
    }

    // A file given for a folder or a folder for a file is named as such at its field before anything
    // starts: the output folder (a file, or under a file), the validation file, the model folder.
    void pathsOfTheWrongKindAreNamed() {
        QTemporaryDir dir;
        ui::RunForm form;
        makeReady(form, dir);
        QVERIFY(form.validateNow().isEmpty());
        const QString file = dir.filePath("notes.txt");
        QFile(file).open(QIODevice::WriteOnly);
        auto* output = form.findChild<QLineEdit*>("output.dir");
        output->setText(file);
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("output.dir"), QString("output.dir: '%1' is a file, not a folder").arg(file));
        QVERIFY(!form.startButton()->isEnabled());
        output->setText(file + "/run");
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("output.dir"),
                 QString("output.dir: folder '%1/run' cannot be made: '%1' is a file, not a folder").arg(file));
        output->setText(dir.filePath("new/run"));
        QVERIFY(form.validateNow().isEmpty());

        auto* validation = form.findChild<QLineEdit*>("data.validation.edit");
        validation->setText(dir.path());
        Q_EMIT validation->editingFinished();
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("data.validation"), QString("data.validation: '%1' is a folder, not a file").arg(dir.path()));
        QVERIFY(!form.startButton()->isEnabled());
        validation->clear();
        Q_EMIT validation->editingFinished();

        const QString config = dir.filePath("tiny/config.json");
        form.modelSection()->setPath(config);
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("model.path"),
                 QString("model.path: '%1' is a file, not a folder: choose the folder that holds it ('%2')").arg(config, dir.filePath("tiny")));
        QVERIFY(!form.startButton()->isEnabled());
        // Typed and not yet read: the same words.
        auto* path = form.findChild<QLineEdit*>("model.path.edit");
        path->setText(dir.filePath("tiny"));
        Q_EMIT path->editingFinished();
        QVERIFY(form.validateNow().isEmpty());
        path->setText(config);
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("model.path").startsWith(QString("model.path: '%1' is a file, not a folder").arg(config)),
                 qPrintable(form.fieldErrors()->errorFor("model.path")));
    }

    // A number a box cannot take stays as typed and is refused at its field with the range, Start
    // staying off: QSpinBox dropped the keys past its range (99999999999 became 99999999) and put
    // its last value back when the field was left ("1e999" in weight decay became 1).
    void numbersABoxCannotTakeAreKeptAndRefused() {
        QTemporaryDir dir;
        ui::RunForm form;
        makeReady(form, dir);
        QVERIFY(QTest::qWaitForWindowActive(&form));
        QVERIFY2(form.validateNow().isEmpty(), qPrintable(form.validateNow().join('\n')));
        auto* steps = form.findChild<QSpinBox*>("training.max_steps");
        typeInto(steps, "99999999999");
        QCOMPARE(steps->text(), QString("99999999999"));
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("training.max_steps"),
                 QString("training.max_steps: '99999999999' is out of range: enter a whole number from 0 (by epochs) to 100000000"));
        QVERIFY(!form.startButton()->isEnabled());
        QSignalSpy started(&form, &ui::RunForm::startRequested);
        pressCtrlEnter(steps);
        QCOMPARE(started.count(), 0);
        QVERIFY2(form.requestSweep().contains("training.max_steps: '99999999999' is out of range"), qPrintable(form.requestSweep()));

        auto* decay = form.findChild<QDoubleSpinBox*>("training.weight_decay");
        decay->setFocus();
        decay->selectAll();
        QTest::keyClicks(decay, "1e999");
        // Leaving the field keeps the text, and the message comes without any other edit.
        auto* lr = form.findChild<QLineEdit*>("training.learning_rate");
        lr->setFocus();
        QTRY_VERIFY(lr->hasFocus());
        QCOMPARE(decay->text(), QString("1e999"));
        QTRY_COMPARE(form.fieldErrors()->errorFor("training.weight_decay"),
                     QString("training.weight_decay: '1e999' is not a finite number: enter a number from 0 to 10"));
        typeInto(decay, "0.00001");
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("training.weight_decay"),
                 QString("training.weight_decay: '0.00001' has more decimals than the 4 this field keeps: enter a number from 0 to 10"));
        decay->selectAll();
        QTest::keyClick(decay, Qt::Key_Delete);
        QTest::keyClick(decay, Qt::Key_Enter);
        QCOMPARE(decay->text(), QString());
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("training.weight_decay"), QString("training.weight_decay is empty: enter a number from 0 to 10"));
        QCOMPARE(form.findChild<QLabel*>("formProblems")->text(), QString());

        // Fixed: the numbers typed are the config's; scientific notation in range is read.
        typeInto(steps, "300");
        typeInto(decay, "2e-3");
        QVERIFY2(form.validateNow().isEmpty(), qPrintable(form.validateNow().join('\n')));
        QVERIFY(form.startButton()->isEnabled());
        QCOMPARE(form.config().maxSteps, 300);
        QCOMPARE(form.config().weightDecay, 0.002);
        QCOMPARE(decay->text(), QString("0.0020"));
    }

    // Every number box of the form keeps an entry above its range and names it at its field.
    void everyNumberBoxRefusesAnEntryAboveItsRange() {
        QTemporaryDir dir;
        ui::RunForm form;
        makeReady(form, dir);
        QVERIFY(QTest::qWaitForWindowExposed(&form));
        // Options that turn the dependent fields on.
        form.findChild<QComboBox*>("adapter.init")->setCurrentIndex(2);
        form.findChild<QComboBox*>("adapter.parameterization")->setCurrentIndex(1);
        form.findChild<QCheckBox*>("adapter.balance_gradients")->setChecked(true);
        form.findChild<QComboBox*>("adapter.rank_allocation")->setCurrentIndex(2);
        form.findChild<QComboBox*>("training.objective")->setCurrentIndex(1);
        form.findChild<QComboBox*>("dpo.loss_type")->setCurrentIndex(2);
        QStringList tried, skipped;
        for (QAbstractSpinBox* box : form.findChildren<QAbstractSpinBox*>()) {
            const QString key = box->objectName();
            auto* whole = qobject_cast<ui::numbers::IntBox*>(box);
            auto* real = qobject_cast<ui::numbers::RealBox*>(box);
            QVERIFY2(whole || real, qPrintable(key + " is a plain spin box"));
            if (!box->isEnabled()) {
                skipped << key;
                continue;
            }
            const QString before = box->text();
            const double max = whole ? whole->maximum() : real->maximum();
            const QString typed = QString::number(static_cast<qint64>(max) * 10 + 9);
            typeInto(box, typed);
            QCOMPARE(box->text(), typed);
            form.validateNow();
            const QString error = form.fieldErrors()->errorFor(key);
            QVERIFY2(error.startsWith(QString("%1: '%2' is out of range: enter a ").arg(key, typed)), qPrintable(key + ": " + error));
            QVERIFY(!form.startButton()->isEnabled());
            typeInto(box, before);
            form.validateNow();
            QVERIFY2(form.fieldErrors()->errorFor(key).isEmpty(), qPrintable(form.fieldErrors()->errorFor(key)));
            tried << key;
        }
        QVERIFY2(tried.size() >= 29, qPrintable("tried " + tried.join(", ") + "; disabled " + skipped.join(", ")));
    }

    // Loading values into the form replaces an entry a box could not take (the value alone would
    // leave the text as typed when it did not change).
    void resetReplacesAnEntryABoxCouldNotTake() {
        QTemporaryDir dir;
        ui::RunForm form;
        makeReady(form, dir);
        QVERIFY(QTest::qWaitForWindowExposed(&form));
        auto* batch = form.findChild<QSpinBox*>("training.batch_size");
        typeInto(batch, "0");
        QCOMPARE(batch->text(), QString("0"));
        form.validateNow();
        QCOMPARE(form.fieldErrors()->errorFor("training.batch_size"),
                 QString("training.batch_size: '0' is out of range: enter a whole number from 1 to 4096"));
        form.resetToDefaults();
        QCOMPARE(batch->text(), QString::number(engine::TrainConfig{}.batchSize));
        QVERIFY(form.fieldErrors()->errorFor("training.batch_size").isEmpty());
        QVERIFY2(form.validateNow().isEmpty(), qPrintable(form.validateNow().join('\n')));
    }

    void rankIsKeptAsTypedAndExplainedAtRank() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir));
        auto* rank = form.findChild<QSpinBox*>("adapter.r");
        typeInto(rank, "0");
        QCOMPARE(rank->value(), 0);
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("adapter.r").contains("adapter.r must be >= 1, found 0"), qPrintable(form.fieldErrors()->errorFor("adapter.r")));
        typeInto(rank, "99999");
        QCOMPARE(rank->value(), 99999);
        form.validateNow();
        const QString error = form.fieldErrors()->errorFor("adapter.r");
        QVERIFY2(error.contains("rank 99999") && error.contains("larger than the layer allows"), qPrintable(error));
        QVERIFY2(form.findChild<QLabel*>("formProblems")->text().isEmpty(), qPrintable(form.findChild<QLabel*>("formProblems")->text()));
        QVERIFY(!form.startButton()->isEnabled());
    }

    void methodShowsThePresetTheOptionsMatch() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.setPresetFolder(dir.filePath("presets"));
        auto* method = form.findChild<QComboBox*>("adapterPreset");
        auto* scaling = form.findChild<QComboBox*>("adapter.scaling");
        const int custom = ui::AdapterSection::presetNames().size() - 1;
        QCOMPARE(method->currentIndex(), 1); // the defaults are rsLoRA
        form.findChild<QCheckBox*>("adapter.balance_gradients")->setChecked(true);
        QCOMPARE(method->currentIndex(), custom);
        form.findChild<QCheckBox*>("adapter.balance_gradients")->setChecked(false);
        QCOMPARE(method->currentIndex(), 1);
        scaling->setCurrentIndex(0);
        QCOMPARE(method->currentIndex(), 0);
        // Rank and alpha are not the method: changing them keeps it.
        form.findChild<QSpinBox*>("adapter.r")->setValue(32);
        QCOMPARE(method->currentIndex(), 0);
        // A preset saved with a method loads with it.
        form.adapterSection()->applyPreset(2);
        QString error;
        QVERIFY2(form.savePreset("spectral", &error), qPrintable(error));
        form.adapterSection()->applyPreset(0);
        QCOMPARE(method->currentIndex(), 0);
        QVERIFY2(form.loadPreset("spectral", &error), qPrintable(error));
        QCOMPARE(method->currentIndex(), 2);
        QCOMPARE(form.findChild<QSpinBox*>("adapter.r")->value(), 32);
    }

    void builtInPresetsAndResetKeepModelAndData() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.setPresetFolder(dir.filePath("presets"));
        const QString model = writeTinyModel(dir);
        form.modelSection()->setPath(model);
        form.findChild<QLineEdit*>("data.train.edit")->setText("/data/train.jsonl");
        QCOMPARE(ui::RunForm::builtinPresetNames(), QStringList({"LoRA baseline", "rsLoRA r16", "Spectral + balancing"}));
        for (const QString& name : ui::RunForm::builtinPresetNames())
            QVERIFY2(form.findChild<QComboBox*>("presets")->findText(name) >= 0, qPrintable(name));
        QString error;
        QVERIFY2(form.loadPreset("rsLoRA r16", &error), qPrintable(error));
        engine::TrainConfig c = form.config();
        QCOMPARE(c.adapter.rank, 16);
        QCOMPARE(c.adapter.scaling, engine::ScalingMode::AlphaOverSqrtR);
        QCOMPARE(QString::fromStdString(c.modelPath), model);
        QCOMPARE(c.trainData, std::string("/data/train.jsonl"));
        QVERIFY(form.loadPreset("Spectral + balancing", &error));
        QCOMPARE(form.findChild<QComboBox*>("adapterPreset")->currentIndex(), 2);
        QVERIFY(!form.savePreset("LoRA baseline", &error));
        QVERIFY(error.contains("built-in"));
        form.findChild<QLineEdit*>("training.learning_rate")->setText("0.5");
        form.findChild<QSpinBox*>("training.batch_size")->setValue(7);
        form.resetToDefaults();
        c = form.config();
        const engine::TrainConfig defaults;
        QCOMPARE(c.learningRate, defaults.learningRate);
        QCOMPARE(c.batchSize, defaults.batchSize);
        QCOMPARE(c.adapter.init, defaults.adapter.init);
        QCOMPARE(c.adapter.balancing.enabled, false);
        QCOMPARE(QString::fromStdString(c.modelPath), model);
        QCOMPARE(c.trainData, std::string("/data/train.jsonl"));
    }

    void localFolderComesBackAfterTheDemo() {
        QTemporaryDir dir;
        ui::RunForm form;
        const QString model = writeTinyModel(dir);
        form.modelSection()->setPath(model);
        auto* source = form.findChild<QComboBox*>("model.source");
        QVERIFY(source);
        source->setCurrentIndex(0);
        QCOMPARE(QDir(form.modelSection()->modelPath()), QDir(QString::fromStdString(demoModelDirectory().string())));
        source->setCurrentIndex(1);
        QCOMPARE(form.modelSection()->modelPath(), model);
    }

    void formStateIsRestored() {
        QTemporaryDir dir;
        const QString model = writeTinyModel(dir);
        {
            ui::RunForm form;
            form.modelSection()->setPath(model);
            form.findChild<QLineEdit*>("data.train.edit")->setText("/data/train.jsonl");
            form.findChild<QSpinBox*>("adapter.r")->setValue(24);
            form.findChild<QLineEdit*>("training.learning_rate")->setText("0.003");
            form.findChild<QComboBox*>("model.source")->setCurrentIndex(0); // demo chosen last; the folder is kept
            // The Stages section is part of the form too.
            form.stagesEditor()->setPipelineName("assistant");
            form.stagesEditor()->addStage();
            form.stagesEditor()->addStage();
            form.stagesEditor()->table()->item(1, ui::StagesEditor::Name)->setText("style");
            form.stagesEditor()->table()->item(1, ui::StagesEditor::Data)->setText("/data/prefs.jsonl");
            form.stagesEditor()->table()->item(1, ui::StagesEditor::Overrides)->setText("dpo.beta=0.2");
            static_cast<QComboBox*>(form.stagesEditor()->table()->cellWidget(1, ui::StagesEditor::Objective))->setCurrentText("dpo");
            form.validateNow();
        }
        ui::RunForm fresh;
        QCOMPARE(fresh.config().adapter.rank, 8);
        QVERIFY(fresh.restoreState());
        engine::TrainConfig c = fresh.config();
        QCOMPARE(c.adapter.rank, 24);
        QCOMPARE(c.learningRate, 0.003);
        QCOMPARE(c.trainData, std::string("/data/train.jsonl"));
        QVERIFY(fresh.modelSection()->usesDemo());
        QCOMPARE(fresh.stagesEditor()->pipelineName(), QString("assistant"));
        const auto stages = fresh.stagesEditor()->stages();
        QCOMPARE(stages.size(), size_t(2));
        QCOMPARE(stages[0].name, std::string("stage1"));
        QCOMPARE(stages[1].name, std::string("style"));
        QCOMPARE(stages[1].objective, std::string("dpo"));
        QCOMPARE(stages[1].data["train"].get<std::string>(), std::string("/data/prefs.jsonl"));
        QCOMPARE(stages[1].overrides["dpo"]["beta"].get<double>(), 0.2);
        fresh.validateNow();
        QCOMPARE(fresh.startButton()->text(), QString("Start pipeline"));
        fresh.findChild<QComboBox*>("model.source")->setCurrentIndex(1);
        QCOMPARE(fresh.modelSection()->modelPath(), model);
        // Without stages it comes back a single run.
        fresh.stagesEditor()->setStages({});
        fresh.validateNow();
        ui::RunForm single;
        QVERIFY(single.restoreState());
        QVERIFY(!single.isPipeline());
    }

    void scaleReadoutFollowsRankAndAlpha() {
        ui::RunForm form;
        auto* rank = form.findChild<QSpinBox*>("adapter.r");
        auto* scaling = form.findChild<QComboBox*>("adapter.scaling");
        QVERIFY(rank && scaling);
        rank->setValue(16);
        form.findChild<QDoubleSpinBox*>("adapter.lora_alpha")->setValue(32);
        scaling->setCurrentIndex(1);
        QString text = form.findChild<QLabel*>("scaleReadout")->text();
        QVERIFY2(text.contains("α/r = 2.0000") && text.contains("α/√r = 8.0000") && text.endsWith("s = 8.0000"), qPrintable(text));
        scaling->setCurrentIndex(0);
        QVERIFY(form.findChild<QLabel*>("scaleReadout")->text().endsWith("s = 2.0000"));
        // An entry the field cannot take shows no scale from the last good value.
        auto* rankBox = form.findChild<ui::numbers::IntBox*>("adapter.r");
        QVERIFY(rankBox);
        rankBox->setEntry("-5");
        text = form.findChild<QLabel*>("scaleReadout")->text();
        QVERIFY2(!text.contains("s = ") && text.contains("valid rank"), qPrintable(text));
        rankBox->setEntry("4");
        QVERIFY(form.findChild<QLabel*>("scaleReadout")->text().endsWith("s = 8.0000"));
        auto* alphaBox = form.findChild<ui::numbers::RealBox*>("adapter.lora_alpha");
        QVERIFY(alphaBox);
        alphaBox->setEntry("nan");
        QVERIFY(!form.findChild<QLabel*>("scaleReadout")->text().contains("s = "));
    }

    void targetBoxesComeFromTheModel() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir, 3));
        QVERIFY(form.modelSection()->modelConfig().has_value());
        QCOMPARE(static_cast<int>(form.modelSection()->modules().size()), 21);
        for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
            QVERIFY2(form.findChild<QCheckBox*>(QString("target_") + n), n);
        form.findChild<QCheckBox*>("target_down_proj")->setChecked(true);
        engine::TrainConfig c = form.config();
        QVERIFY(std::find(c.adapter.targetModules.begin(), c.adapter.targetModules.end(), "down_proj") != c.adapter.targetModules.end());
        // Trainable count: r * (in + out) for each targeted module over 3 layers.
        form.findChild<QSpinBox*>("adapter.r")->setValue(4);
        for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
            form.findChild<QCheckBox*>(QString("target_") + n)->setChecked(QString(n) == "q_proj" || QString(n) == "down_proj");
        QCOMPARE(form.adapterSection()->trainableParameters(), qint64(3 * (4 * (64 + 64) + 4 * (128 + 64))));
    }

    void configRoundTripsThroughTheForm() {
        QTemporaryDir dir;
        engine::TrainConfig c;
        c.modelPath = writeTinyModel(dir).toStdString();
        c.trainData = "/data/train.jsonl";
        c.adapter.rank = 12;
        c.adapter.alpha = 24;
        c.adapter.scaling = engine::ScalingMode::AlphaOverR;
        c.adapter.init = engine::InitMode::Rescaled;
        c.adapter.initSigma = 0.03;
        c.adapter.parameterization = engine::Parameterization::RandomSubspace;
        c.adapter.subspaceDim = 10;
        c.adapter.projectionSeed = 77;
        c.adapter.balancing.enabled = true;
        c.adapter.balancing.band = 3;
        c.adapter.loraPlusRatio = 8;
        c.adapter.allocation = engine::RankAllocation::Pattern;
        c.adapter.rankPattern = {{"self_attn", 16}, {"mlp", 4}};
        c.adapter.alphaPattern = {{"mlp", 8.0}};
        c.adapter.targetModules = {"q_proj", "v_proj", "up_proj"};
        c.adapter.layersToTransform = {0, 1};
        c.learningRate = 3e-4;
        c.schedule = engine::LrSchedule::Linear;
        c.batchSize = 4;
        c.maxSteps = 50;
        c.seed = 7;
        ui::RunForm form;
        form.setConfig(c);
        engine::TrainConfig back = form.config();
        QCOMPARE(back.toJson().dump(), c.toJson().dump());
    }

    // The Dtype combo offers the three dtypes and the checkbox sets training.gradient_checkpointing;
    // both come from a config, go back into it, and explain themselves in a tooltip.
    void precisionFieldsRoundTripToTheConfig() {
        QTemporaryDir dir;
        engine::TrainConfig c;
        c.modelPath = writeTinyModel(dir).toStdString();
        c.trainData = "/data/train.jsonl";
        c.dtype = "bfloat16";
        c.gradientCheckpointing = true;
        ui::RunForm form;
        form.setConfig(c);
        auto* dtype = form.findChild<QComboBox*>("model.dtype");
        auto* checkpointing = form.findChild<QCheckBox*>("training.gradient_checkpointing");
        QVERIFY(dtype && checkpointing);
        QCOMPARE(dtype->count(), 3);
        QCOMPARE(dtype->itemText(0) + "," + dtype->itemText(1) + "," + dtype->itemText(2), QString("float32,bfloat16,float16"));
        QCOMPARE(dtype->currentText(), QString("bfloat16"));
        QVERIFY(checkpointing->isChecked());
        QVERIFY(dtype->toolTip().contains("float32 master weights"));
        QVERIFY(checkpointing->toolTip().contains("recompute"));
        QCOMPARE(form.config().toJson().dump(), c.toJson().dump());
        dtype->setCurrentText("float16");
        checkpointing->setChecked(false);
        const engine::TrainConfig back = form.config();
        QCOMPARE(back.dtype, std::string("float16"));
        QVERIFY(!back.gradientCheckpointing);
    }

    void problemsAppearNextToTheirFieldsAndBlockStart() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.modelSection()->setPath(writeTinyModel(dir));
        form.findChild<QDoubleSpinBox*>("adapter.lora_alpha")->setValue(0);
        QStringList problems = form.validateNow();
        QVERIFY(!problems.isEmpty());
        QVERIFY2(form.fieldErrors()->errorFor("adapter.lora_alpha").contains("must be > 0"), qPrintable(problems.join('\n')));
        QVERIFY(form.fieldErrors()->errorFor("data.train").contains("data.train"));
        QVERIFY(!form.startButton()->isEnabled());
        // Rank pattern line that is not "regex = rank" is named at the pattern field.
        form.findChild<QComboBox*>("adapter.rank_allocation")->setCurrentIndex(1);
        form.findChild<QPlainTextEdit*>("adapter.rank_pattern")->setPlainText("self_attn = lots");
        form.validateNow();
        QVERIFY2(form.fieldErrors()->errorFor("adapter.rank_pattern").contains("self_attn = lots"),
                 qPrintable(form.fieldErrors()->errorFor("adapter.rank_pattern")));
        // A folder without config.json is explained at the model field.
        form.modelSection()->setPath(dir.path());
        form.validateNow();
        QVERIFY(form.fieldErrors()->errorFor("model.path").contains("config.json"));
    }

    void presetsSaveLoadDuplicate() {
        QTemporaryDir dir;
        ui::RunForm form;
        form.setPresetFolder(dir.filePath("presets"));
        form.findChild<QSpinBox*>("adapter.r")->setValue(32);
        QString error;
        QVERIFY2(form.savePreset("rank 32 / \"quoted\"", &error), qPrintable(error));
        QCOMPARE(form.presetNames().size(), 1);
        const QString name = form.presetNames().front();
        QVERIFY(form.duplicatePreset(name, "copy", &error));
        QCOMPARE(form.presetNames().size(), 2);
        form.findChild<QSpinBox*>("adapter.r")->setValue(4);
        QVERIFY2(form.loadPreset("copy", &error), qPrintable(error));
        QCOMPARE(form.findChild<QSpinBox*>("adapter.r")->value(), 32);
        QVERIFY(!form.loadPreset("missing", &error));
        QVERIFY(!error.isEmpty());
    }

    void cliCommandCarriesTheConfig() {
        ui::RunForm form;
        form.findChild<QSpinBox*>("adapter.r")->setValue(24);
        QString cli = form.cliCommand();
        QVERIFY(cli.contains("rslora train run-config.json"));
        int start = cli.indexOf('{'), end = cli.lastIndexOf('}');
        nlohmann::json j = nlohmann::json::parse(cli.mid(start, end - start + 1).toStdString());
        engine::TrainConfig c = engine::TrainConfig::fromJson(j);
        QCOMPARE(c.adapter.rank, 24);
        QVERIFY(c.unknownKeys.empty());
    }
};

QTEST_MAIN(RunFormTest)
#include "RunFormTest.moc"
