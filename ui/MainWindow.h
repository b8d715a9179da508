// The workbench's main window: menus, status bar, the central view area and the docks.
#pragma once

#include <QMainWindow>

#include <functional>

class QTabWidget;
class QLabel;

namespace rslora::ui {

class LogPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    QTabWidget* views() const { return m_views; }
    // Adds a main view as a tab, with a shortcut (Ctrl+1, Ctrl+2, ...) to show it. The view's own
    // actions with a window or application shortcut context work from every tab.
    int addView(QWidget* view, const QString& title);
    // Asked before the window closes; returning false keeps it open.
    void setCloseGuard(std::function<bool()> guard) { m_closeGuard = std::move(guard); }
    void restoreLayout();
    LogPanel* logPanel() const { return m_logPanel; }

public Q_SLOTS:
    void showAbout();

Q_SIGNALS:
    // File menu: open a training or pipeline config into the form; fill it with the demo run or the
    // demo pipeline.
    void openConfigRequested();
    void demoRunRequested();
    void demoPipelineRequested();

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildMenus();
    void buildDocks();
    void buildStatusBar();

    QTabWidget* m_views = nullptr;
    LogPanel* m_logPanel = nullptr;
    QLabel* m_deviceLabel = nullptr;
    std::function<bool()> m_closeGuard;
};

} // namespace rslora::ui
