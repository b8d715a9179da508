// The workbench's main window: menus, status bar, the central view area and the docks.
#pragma once

#include <QMainWindow>

class QTabWidget;
class QLabel;

namespace rslora::ui {

class LogPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    QTabWidget* views() const { return m_views; }
    LogPanel* logPanel() const { return m_logPanel; }

public slots:
    void showAbout();

private:
    void buildMenus();
    void buildDocks();
    void buildStatusBar();

    QTabWidget* m_views = nullptr;
    LogPanel* m_logPanel = nullptr;
    QLabel* m_deviceLabel = nullptr;
};

} // namespace rslora::ui
