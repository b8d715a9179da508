#include "ui/SourceWeights.h"

#include "ui/numbers/RealBox.h"

#include <QGridLayout>
#include <QLabel>

namespace rslora::ui {

SourceWeights::SourceWeights(const QString& title, const QList<FuseSource>& sources, QWidget* parent) : QGroupBox(title, parent) {
    setObjectName("sourceWeights");
    auto* grid = new QGridLayout(this);
    grid->addWidget(new QLabel(tr("<b>Version</b>")), 0, 0);
    grid->addWidget(new QLabel(tr("<b>Rank</b>")), 0, 1);
    grid->addWidget(new QLabel(tr("<b>Weight λ</b>")), 0, 2);
    for (int i = 0; i < sources.size(); ++i) {
        const FuseSource& s = sources[i];
        auto* name = new QLabel(s.label, this);
        name->setTextFormat(Qt::PlainText); // a version name as typed, markup included
        name->setToolTip(s.path + (s.baseModel.isEmpty() ? QString() : tr("\nbase model: %1").arg(s.baseModel)));
        grid->addWidget(name, i + 1, 0);
        grid->addWidget(new QLabel(s.rank > 0 ? QString::number(s.rank) : QString("—"), this), i + 1, 1);
        auto* w = new numbers::RealBox(kMinWeight, kMaxWeight, 3, 0.1, this);
        w->setObjectName(QString("weight%1").arg(i));
        w->setEntryName(tr("weight λ of %1").arg(s.label));
        w->setValue(1.0);
        w->setAccelerated(true);
        grid->addWidget(w, i + 1, 2);
        m_weights << w;
        connect(w, qOverload<double>(&QDoubleSpinBox::valueChanged), this, &SourceWeights::changed);
    }
    grid->setColumnStretch(0, 1);
}

QDoubleSpinBox* SourceWeights::weightBox(int source) const { return m_weights.value(source); }

QVector<double> SourceWeights::weights() const {
    QVector<double> w;
    for (const numbers::RealBox* b : m_weights)
        w << b->value();
    return w;
}

void SourceWeights::setWeights(const QVector<double>& weights) {
    for (int i = 0; i < weights.size() && i < m_weights.size(); ++i)
        m_weights[i]->setValue(weights[i]);
}

} // namespace rslora::ui
