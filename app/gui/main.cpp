// rslora-workbench: starts the Qt application and shows the main window.
#include "ui/MainWindow.h"

#include "common/ProcessEnvironment.h"
#include "engine/Runtime.h"
#include "rslora/BuildInfo.h"

#include <QApplication>
#include <QIcon>

int main(int argc, char** argv) {
    rslora::ensureProcessEnvironment(argv);
    QApplication app(argc, argv);
    Q_INIT_RESOURCE(resources);
    QApplication::setApplicationName("rslora-workbench");
    QApplication::setApplicationDisplayName("RS-LoRA Workbench");
    QApplication::setApplicationVersion(RSLORA_VERSION);
    QApplication::setOrganizationName("rslora-workbench");
    QApplication::setWindowIcon(QIcon(":/icons/rslora-workbench.svg"));
    rslora::engine::applyThreadSettings({});
    rslora::ui::MainWindow window;
    window.show();
    return app.exec();
}
