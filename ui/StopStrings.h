// The Playground's stop strings as typed in one field: separated by commas, with \n, \t, \, and a
// backslash before any other character (a space kept at an end) read as that character.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>

namespace rslora::ui {

inline QStringList parseStopStrings(const QString& text)
{
    // Spaces around a stop string are for reading; escaped ones are part of it.
    QStringList out;
    QString current;
    QList<bool> escaped;
    auto flush = [&] {
        int begin = 0, end = static_cast<int>(current.size());
        while (begin < end && current[begin] == ' ' && !escaped[begin])
            ++begin;
        while (end > begin && current[end - 1] == ' ' && !escaped[end - 1])
            --end;
        if (end > begin)
            out << current.mid(begin, end - begin);
        current.clear();
        escaped.clear();
    };
    for (int i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (c == '\\' && i + 1 < text.size()) {
            const QChar n = text[++i];
            current += n == 'n' ? QChar('\n') : n == 't' ? QChar('\t') : n;
            escaped << true;
        } else if (c == ',') {
            flush();
        } else {
            current += c;
            escaped << false;
        }
    }
    flush();
    return out;
}

} // namespace rslora::ui
