// The picked adapter versions, one row each (name, rank, weight λ), as the Fuse… and Export merged
// model… dialogs show them. Weights may be negative (subtracting a task).
#pragma once

#include "ui/FuseValues.h"

#include <QGroupBox>

class QDoubleSpinBox;

namespace rslora::ui {

namespace numbers {
class RealBox;
}

class SourceWeights : public QGroupBox {
    Q_OBJECT
public:
    SourceWeights(const QString& title, const QList<FuseSource>& sources, QWidget* parent = nullptr);

    QVector<double> weights() const;
    void setWeights(const QVector<double>& weights);
    QDoubleSpinBox* weightBox(int source) const;

    // The range offered for one weight.
    static constexpr double kMinWeight = -10.0;
    static constexpr double kMaxWeight = 10.0;

Q_SIGNALS:
    void changed();

private:
    QList<numbers::RealBox*> m_weights;
};

} // namespace rslora::ui
