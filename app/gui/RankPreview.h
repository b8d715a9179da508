// "Preview rank table" of the form: runs the sensitivity allocation (probe batches over the chosen
// model and data, the budget split into ranks) on a background thread and hands back the table.
#pragma once

#include "engine/TrainConfig.h"

#include <QObject>
#include <QString>

#include <thread>

namespace rslora::app {

class RankPreview : public QObject {
    Q_OBJECT
public:
    explicit RankPreview(QObject* parent = nullptr);
    ~RankPreview() override;
    // Starts a preview unless one is running; the result arrives through ready() or failed().
    bool start(const engine::TrainConfig& config);
    bool running() const { return m_running; }
    // The table as HTML (module, score, rank, parameters and the total against the budget).
    static QString computeHtml(const engine::TrainConfig& config);

Q_SIGNALS:
    void ready(const QString& html);
    void failed(const QString& message);

private:
    bool m_running = false;
    std::thread* m_thread = nullptr;
};

} // namespace rslora::app
