// Where the export dialogs (charts, PEFT copies) open: the folder the user exported to last, else
// <data folder>/exports, never the process's working folder (often the demo model's).
#pragma once

#include <QString>

namespace rslora::ui {

class ExportFolder {
public:
    // The folder a dialog should start in; it exists (created for the default).
    static QString initial();
    // Remembers a folder the user exported into.
    static void remember(const QString& folder);
};

} // namespace rslora::ui
