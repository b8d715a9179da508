// Watches the detached `rslora` processes the workbench started (pipelines, data-parallel runs): when
// one ends, the last "error: ..." line of its output file, if any, is reported, so that a run that
// failed where nobody reads its terminal (a refused config, a missing file) does not fail unseen.
#pragma once

#include <QDateTime>
#include <QObject>
#include <QString>
#include <QTimer>

#include <optional>
#include <vector>

namespace rslora::app {

class DetachedRunWatch : public QObject {
    Q_OBJECT
public:
    explicit DetachedRunWatch(QObject* parent = nullptr, int pollMs = 2000);

    // Watches process `pid`, whose stdout and stderr go to `logPath`; `label` names it in the report,
    // `key` what it trains ("pipeline:<name>"), for running().
    void watch(qint64 pid, const QString& label, const QString& logPath, const QString& key = {});
    int watching() const { return int(m_watched.size()); }

    struct Watched {
        qint64 pid;
        QString label, logPath, key;
        QDateTime started;
    };
    // The watched process started under `key` that is still alive (asked now, not at the last
    // poll); nullopt when none.
    std::optional<Watched> running(const QString& key) const;

    // The last line of `logPath` that starts with "error: ", without the prefix; empty when none.
    static QString lastError(const QString& logPath);

signals:
    // The process ended and its output holds an error.
    void failed(const QString& label, const QString& error, const QString& logPath);
    // The process ended without one.
    void ended(const QString& label, const QString& logPath);
    // After a poll that found a watched process alive: the runs it records can be followed.
    void stillRunning();

private:
    void poll();

    QTimer m_timer;
    std::vector<Watched> m_watched;
};

} // namespace rslora::app
