// Run > Studies: one entry per study config in <resources>/studies (the source articles' claims as
// sweeps), titled by the first line of its leading comment, the whole comment as its tool tip.
#pragma once

#include <QMenu>

namespace rslora::app {

class StudiesMenu : public QMenu {
    Q_OBJECT
public:
    explicit StudiesMenu(QWidget* parent = nullptr);

Q_SIGNALS:
    // The study config file chosen.
    void studyChosen(const QString& path);
};

} // namespace rslora::app
