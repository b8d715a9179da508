// About dialog: version and the libraries and compute facts this build runs with.
#pragma once

#include <QDialog>

namespace rslora::ui {

class AboutDialog : public QDialog {
    Q_OBJECT
public:
    explicit AboutDialog(QWidget* parent = nullptr);
    // The text shown, also for tests.
    static QString componentsHtml();
};

} // namespace rslora::ui
