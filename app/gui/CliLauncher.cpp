// Detached `rslora` processes for the workbench, with the config file each one trains.
#include "app/gui/CliLauncher.h"

#include "common/Error.h"
#include "common/Paths.h"
#include "storage/Naming.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QThread>

namespace rslora::app {

namespace {
// <data folder>/<folder>/<name>-<UTC time>, the folder created; the caller adds the suffix.
QString timestampedStem(const char* folder, const std::string& name) {
    const QString dir = QString::fromStdString((dataDirectory() / folder).string());
    QDir().mkpath(dir);
    return QDir(dir).filePath(QString::fromStdString(storage::sanitizeId(name)) + "-"
                              + QDateTime::currentDateTimeUtc().toString("yyyyMMdd-HHmmss"));
}
} // namespace

QString CliLauncher::executable() {
    const QByteArray fromEnv = qgetenv("RSLORA_CLI");
    if (!fromEnv.isEmpty())
        return QFileInfo(QString::fromLocal8Bit(fromEnv)).isExecutable() ? QString::fromLocal8Bit(fromEnv) : QString();
    const QDir here(QCoreApplication::applicationDirPath());
    // Installed: beside the workbench; build tree: app/cli beside app/gui.
    for (const QString& candidate : {here.filePath("rslora"), here.filePath("../cli/rslora")})
        if (QFileInfo(candidate).isExecutable())
            return QFileInfo(candidate).canonicalFilePath();
    return {};
}

qint64 CliLauncher::start(const QStringList& args, const QString& logPath) {
    const QString exe = executable();
    if (exe.isEmpty())
        throw Error("the rslora command was not found next to the workbench (set RSLORA_CLI to its path)");
    // Its own session: closing the workbench (or its terminal) does not stop it. Its output goes to a
    // file: nobody reads a detached process's terminal, and a refusal there would go unseen.
    QProcess p;
    p.setProgram("setsid");
    p.setArguments(QStringList{exe} + args);
    p.setStandardOutputFile(logPath, QIODevice::Append);
    p.setStandardErrorFile(logPath, QIODevice::Append);
    qint64 pid = 0;
    if (!p.startDetached(&pid))
        throw Error(exe.toStdString() + " could not be started: " + p.errorString().toStdString());
    return pid;
}

CliLauncher::Launched CliLauncher::startPipeline(const engine::pipeline::PipelineConfig& config) const {
    // Each start trains into a folder of its own beside its file: `rslora train` refuses (in the
    // detached process, where nobody reads it) a folder holding an earlier start's progress, which
    // the name alone would give a second start of the same pipeline.
    QString stem = timestampedStem("pipelines", config.name);
    for (int n = 2; QFileInfo::exists(stem + ".json") || QFileInfo::exists(stem); ++n)
        stem = timestampedStem("pipelines", config.name) + "-" + QString::number(n);
    engine::pipeline::PipelineConfig own = config;
    if (own.outputDir.empty())
        own.outputDir = stem.toStdString();
    Launched l;
    l.config = stem + ".json";
    l.log = stem + ".log";
    own.save(l.config.toStdString());
    l.pid = start({"train", l.config, "--quiet", "--db", m_databasePath}, l.log);
    return l;
}

CliLauncher::Launched CliLauncher::startDataParallel(const engine::TrainConfig& config, int processes, const QString& runName) const {
    if (processes < 2)
        throw Error("a data-parallel run needs at least 2 processes, found " + std::to_string(processes));
    engine::TrainConfig c = config;
    // Each worker gets its share of the cores unless the form names a thread count.
    if (c.threads <= 0)
        c.threads = std::max(1, QThread::idealThreadCount() / processes);
    const QString stem = timestampedStem("launches", runName.toStdString());
    Launched l;
    l.config = stem + ".json";
    l.log = stem + ".log";
    c.save(l.config.toStdString());
    // The ranks meet through a file of their own, so that two runs started here never share a port.
    l.pid = start({"launch", "--nproc", QString::number(processes), "--store-file", stem + ".store", "--", "train", l.config, "--quiet",
                   "--db", m_databasePath},
                  l.log);
    return l;
}

} // namespace rslora::app
