// The adapters browser: adapters grouped by task, their versions with lineage, evaluations, files
// and size; release, roll back, archive, open the folder, export a PEFT copy.
#pragma once

#include <QWidget>

class QLabel;
class QPushButton;
class QTextBrowser;
class QTreeView;

namespace rslora::storage {
class Store;
}

namespace rslora::ui {

class AdapterTreeModel;

class AdaptersBrowser : public QWidget {
    Q_OBJECT
public:
    explicit AdaptersBrowser(QWidget* parent = nullptr);

    void setStore(storage::Store* store);
    void refresh();
    void selectAdapter(qint64 adapterId);
    qint64 selectedAdapterId() const;

    // The actions, also for tests; false with *error when the store refuses.
    bool releaseSelected(QString* error = nullptr);
    bool rollbackToSelected(QString* error = nullptr);
    bool archiveSelected(QString* error = nullptr);
    // Copies the PEFT files of the selected adapter into `folder` (created; must not hold an adapter).
    bool exportSelected(const QString& folder, QString* error = nullptr);

    AdapterTreeModel* model() const { return m_model; }
    QTreeView* tree() const { return m_tree; }
    QTextBrowser* details() const { return m_details; }

Q_SIGNALS:
    // After a successful exportSelected(): what was written and where, for the status bar.
    void exported(const QString& summary);

private:
    void updateDetails();
    bool act(const std::function<void(qint64)>& action, QString* error);

    storage::Store* m_store = nullptr;
    AdapterTreeModel* m_model = nullptr;
    QTreeView* m_tree = nullptr;
    QTextBrowser* m_details = nullptr;
    QPushButton* m_release = nullptr;
    QPushButton* m_rollback = nullptr;
    QPushButton* m_archive = nullptr;
    QPushButton* m_openFolder = nullptr;
    QPushButton* m_export = nullptr;
};

} // namespace rslora::ui
