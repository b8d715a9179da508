// The label under a field (or a group of fields) that names what the user must fix: plain text, as it
// quotes what was typed, paths and the engine's messages as they are (never read as markup); wrapped;
// in the workbench's one colour for problems; as wide as its field or row allows, never wider (a word
// longer than that is cut); hidden until it has something to say.
#pragma once

#include <QString>

class QLabel;
class QWidget;

namespace rslora::ui {

QLabel* makeErrorLabel(const QString& objectName, QWidget* parent = nullptr);

} // namespace rslora::ui
