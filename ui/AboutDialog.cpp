#include "ui/AboutDialog.h"

#include "engine/Runtime.h"
#include "rslora/BuildInfo.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace rslora::ui {

QString AboutDialog::componentsHtml() {
    engine::RuntimeInfo info = engine::runtimeInfo();
    QString cuda = info.cudaAvailable ? QObject::tr("available (%1 devices)").arg(info.cudaDevices.size())
                                      : QObject::tr("not available");
    QString blas = QString::fromStdString(info.blasName);
    if (info.referenceBlas)
        blas += QObject::tr(" — slow; install libopenblas0-pthread");
    auto row = [](const QString& k, const QString& v) { return QString("<tr><td><b>%1</b></td><td>%2</td></tr>").arg(k, v.toHtmlEscaped()); };
    return QString("<h2>RS-LoRA Workbench %1</h2><p>%2</p><table cellspacing='6'>").arg(RSLORA_VERSION, QObject::tr("LoRA and RS-LoRA fine-tuning experiments."))
        + row("Qt", qVersion())
        + row("QCustomPlot", QCUSTOMPLOT_VERSION_STR)
        + row("LibTorch", QString::fromStdString(info.torchVersion))
        + row("SQLite", RSLORA_SQLITE_VERSION)
        + row("BLAS", blas)
        + row(QObject::tr("Threads"), QObject::tr("%1 LibTorch, %2 BLAS, %3 cores").arg(info.intraOpThreads).arg(info.blasThreads).arg(info.hardwareThreads))
        + row("CUDA", cuda)
        + row(QObject::tr("Compiler"), RSLORA_COMPILER)
        + "</table>";
}

AboutDialog::AboutDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("About RS-LoRA Workbench"));
    auto* layout = new QVBoxLayout(this);
    auto* text = new QLabel(componentsHtml(), this);
    text->setObjectName("aboutText");
    text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(text);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
}

} // namespace rslora::ui
