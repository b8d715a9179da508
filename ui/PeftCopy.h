// Writes a copy of an adapter version's PEFT folder where the user asks, without ever deleting what
// the user keeps there: the files go to a hidden staging folder beside the target and are renamed
// into place, an existing folder is taken only when it is empty or holds exactly an earlier copy of
// an adapter (and then only when the caller says the user confirmed replacing it).
#pragma once

#include <QString>
#include <QStringList>

namespace rslora::ui {

class PeftCopy {
public:
    enum class Target {
        Free,          // absent, or an empty folder
        EarlierExport, // an earlier copy of an adapter: PEFT files only, no sub-folder
        Taken,         // a file, or a folder holding anything else
    };
    // What `folder` is for a copy of the adapter in `source`; `files` (optional) receives the names found.
    static Target inspect(const QString& source, const QString& folder, QStringList* files = nullptr);
    // Copies the files of `source` to `folder`. Refused (false, *error, nothing changed) when the
    // folder is Taken, or an EarlierExport without `replaceEarlierExport`.
    static bool write(const QString& source, const QString& folder, bool replaceEarlierExport, QString* error);
    // The name of the folder a copy of the adapter named `adapterName` gets inside the folder the user
    // chose: one path component whatever the name holds ("/" and "\\" become "_", a leading dot is
    // kept from hiding it or climbing out, an empty result becomes "adapter").
    static QString folderName(const QString& adapterName);
};

} // namespace rslora::ui
