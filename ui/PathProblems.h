// What is wrong with a path typed into a form field, in words the field can show: a file that is a
// folder, a folder that is a file, a path that is missing. Cheap (one stat per path component), so
// the forms check the text as typed on every edit, before anything reads the file.
#pragma once

#include <QString>

namespace rslora::ui {

class PathProblems {
public:
    // An existing file to read: empty when it is one.
    static QString ofFile(const QString& path);
    // An existing folder to read: empty when it is one.
    static QString ofFolder(const QString& path);
    // A folder to write into, made when missing: empty when it exists or could be made (no part of
    // the path is a file).
    static QString ofOutputFolder(const QString& path);
};

} // namespace rslora::ui
