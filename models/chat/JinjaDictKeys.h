// Dict keys of any hashable type. Python dicts take keys other than str ({1: 'a'}, {None: 0},
// {(1, 2): x}); Dict stores every key as a string: a str key as its text, any other as the byte 0xFF
// (which no UTF-8 text holds) followed by a type tag and the value, so JSON objects are unchanged.
// 1, 1.0 and True are one key, as in Python: the key first stored is kept.
#pragma once

#include "models/chat/JinjaValue.h"

#include <string>

namespace rslora::models::jinja {

// The stored form of `key`; an unhashable key (list, dict, namespace, function) is an error.
std::string dictKey(const Value& key);
// A stored key as the template sees it.
Value keyValue(const std::string& stored);
// The value under a key equal to `key`, or null (also for an unhashable key).
const Value* dictFind(const Dict& d, const Value& key);
// d[key] = v, keeping the key already stored when an equal one is.
void dictSet(Dict& d, const Value& key, Value v);

} // namespace rslora::models::jinja
