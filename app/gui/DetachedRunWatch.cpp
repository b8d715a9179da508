// Detached rslora processes and how they ended (see DetachedRunWatch.h).
#include "app/gui/DetachedRunWatch.h"

#include <QFile>

#include <cerrno>
#include <csignal>

namespace rslora::app {

DetachedRunWatch::DetachedRunWatch(QObject* parent, int pollMs) : QObject(parent) {
    m_timer.setInterval(pollMs);
    connect(&m_timer, &QTimer::timeout, this, &DetachedRunWatch::poll);
}

namespace {
// Not our child (the launch detached it), so it leaves no zombie: once it exits the pid is free.
bool alive(qint64 pid) { return ::kill(pid_t(pid), 0) == 0 || errno == EPERM; }
} // namespace

void DetachedRunWatch::watch(qint64 pid, const QString& label, const QString& logPath, const QString& key) {
    if (pid <= 0)
        return;
    m_watched.push_back({pid, label, logPath, key, QDateTime::currentDateTime()});
    m_timer.start();
}

std::optional<DetachedRunWatch::Watched> DetachedRunWatch::running(const QString& key) const {
    if (key.isEmpty())
        return std::nullopt;
    for (const Watched& w : m_watched)
        if (w.key == key && alive(w.pid))
            return w;
    return std::nullopt;
}

QString DetachedRunWatch::lastError(const QString& logPath) {
    QFile f(logPath);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    // The end of the file is enough: the CLI prints its error last.
    const qint64 tail = 64 * 1024;
    if (f.size() > tail)
        f.seek(f.size() - tail);
    const QList<QByteArray> lines = f.readAll().split('\n');
    for (auto it = lines.rbegin(); it != lines.rend(); ++it)
        if (it->startsWith("error: "))
            return QString::fromUtf8(it->mid(7)).trimmed();
    return {};
}

void DetachedRunWatch::poll() {
    std::vector<Watched> still;
    std::vector<Watched> gone;
    for (const Watched& w : m_watched)
        (alive(w.pid) ? still : gone).push_back(w);
    m_watched = std::move(still);
    if (m_watched.empty())
        m_timer.stop();
    for (const Watched& w : gone) {
        const QString error = lastError(w.logPath);
        if (error.isEmpty())
            emit ended(w.label, w.logPath);
        else
            emit failed(w.label, error, w.logPath);
    }
    if (!m_watched.empty())
        emit stillRunning();
}

} // namespace rslora::app
