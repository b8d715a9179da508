// rslora-workbench: starts the Qt application, opens the workbench, or renders its screens.
#include "app/gui/ShowcaseRenderer.h"
#include "app/gui/Workbench.h"

#include "ui/MainWindow.h"

#include "common/Error.h"
#include "common/Paths.h"
#include "common/ProcessEnvironment.h"
#include "engine/Runtime.h"
#include "rslora/BuildInfo.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QIcon>
#include <QMessageBox>
#include <QTimer>

#include <QWindow>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace {
// Milliseconds since this process started (exec included), from the kernel's start time.
double msSinceProcessStart() {
    std::ifstream stat("/proc/self/stat");
    std::string line;
    std::getline(stat, line);
    std::istringstream fields(line.substr(line.rfind(')') + 2));
    std::string field;
    unsigned long long startTicks = 0;
    for (int i = 3; i <= 22 && fields >> field; ++i)
        if (i == 22)
            startTicks = std::stoull(field);
    timespec now{};
    clock_gettime(CLOCK_BOOTTIME, &now);
    return (now.tv_sec + now.tv_nsec / 1e9 - double(startTicks) / double(sysconf(_SC_CLK_TCK))) * 1000.0;
}

// Help and version are answered by a core application: they need no display (a terminal or a
// packaging script may have none), while QApplication aborts without one.
bool asksHelpOrVersion(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const QByteArray a(argv[i]);
        if (a == "--") // what follows is not an option
            return false;
        if (a == "-h" || a == "--help" || a == "--help-all" || a == "-?" || a == "-v" || a == "--version")
            return true;
    }
    return false;
}

void describeApplication() {
    QCoreApplication::setApplicationName("rslora-workbench");
    QCoreApplication::setApplicationVersion(RSLORA_VERSION);
    QCoreApplication::setOrganizationName("rslora-workbench");
}
} // namespace

int main(int argc, char** argv) {
    rslora::ensureProcessEnvironment(argv);
    QCommandLineParser parser;
    parser.setApplicationDescription("Desktop workbench for LoRA and RS-LoRA fine-tuning experiments");
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption db("db", "Experiment database (default: $RSLORA_DB or the data folder).", "path");
    QCommandLineOption demo("demo", "Open on the built-in demo model and dataset.");
    QCommandLineOption screenshots("screenshots", "Render every main view to PNG files in DIR and exit.", "dir");
    QCommandLineOption size("size", "Window size for --screenshots, e.g. 1366x768.", "WxH", "1366x768");
    QCommandLineOption reportStartup("report-startup", "Print the time from process start to the window on screen, then exit.");
    parser.addOptions({db, demo, screenshots, size, reportStartup});
    if (asksHelpOrVersion(argc, argv)) {
        QCoreApplication core(argc, argv);
        describeApplication();
        parser.process(core); // prints and exits 0 (or 1 with a message for a bad option)
        return 0;
    }

    QApplication app(argc, argv);
    Q_INIT_RESOURCE(resources);
    describeApplication();
    QApplication::setApplicationDisplayName("RS-LoRA Workbench");
    QApplication::setWindowIcon(QIcon(":/icons/rslora-workbench.svg"));
    parser.process(app);

    rslora::engine::applyThreadSettings({});
    const QString dbPath = parser.isSet(db) ? parser.value(db) : QString::fromStdString(rslora::defaultDatabasePath().string());
    std::unique_ptr<rslora::app::Workbench> workbench;
    try {
        workbench = std::make_unique<rslora::app::Workbench>(dbPath);
    } catch (const rslora::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.fullMessage().c_str());
        if (!parser.isSet(screenshots))
            QMessageBox::critical(nullptr, "RS-LoRA Workbench", QString::fromStdString(e.fullMessage()));
        return 1;
    }
    rslora::ui::MainWindow* window = workbench->window();
    if (parser.isSet(screenshots)) {
        const QStringList wh = parser.value(size).split('x');
        window->resize(wh.value(0).toInt() > 0 ? wh.value(0).toInt() : 1366, wh.value(1).toInt() > 0 ? wh.value(1).toInt() : 768);
        window->show();
        QString error;
        rslora::app::ShowcaseRenderer showcase(*workbench);
        // Real content: the demo in the form, a finished demo run in the charts and browsers.
        if (!showcase.prepare(qEnvironmentVariableIntValue("RSLORA_SHOWCASE_STEPS") > 0 ? qEnvironmentVariableIntValue("RSLORA_SHOWCASE_STEPS") : 60, &error))
            std::fprintf(stderr, "warning: %s (rendering the views as they are)\n", qPrintable(error));
        error.clear();
        const bool ok = showcase.save(parser.value(screenshots), &error);
        if (!ok)
            std::fprintf(stderr, "error: %s\n", qPrintable(error));
        return ok ? 0 : 1;
    }
    if (parser.isSet(demo)) {
        QString error;
        if (!workbench->loadDemo(&error))
            std::fprintf(stderr, "warning: %s\n", qPrintable(error));
    }
    window->restoreLayout();
    window->show();
    if (parser.isSet(reportStartup)) {
        while (!(window->windowHandle() && window->windowHandle()->isExposed()))
            QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
        QCoreApplication::processEvents();
        std::printf("startup %.0f ms\n", msSinceProcessStart());
        return 0;
    }
    return app.exec();
}
