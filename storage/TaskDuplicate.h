// A whole task copied under a new name: every live version of the task, with its own copy of the
// files, the same number, method, shape, stage, base model, notes, tags and status (the current version
// of the copy is the copy of the current one), and the same lineage: an edge between two versions of
// the task links their copies, an edge from a version of another task (or a deleted one) links the
// copy to that version; each copy is also linked to its original by a converted-from edge (method
// "copy"). Copies get the default names of the new task and no source run, as a duplicated version.
#pragma once

#include "storage/Records.h"

#include <string>
#include <vector>

namespace rslora::storage {

class Store;

// Returns the copies in version order. Refused (rslora::Error, nothing recorded and no folder left
// behind) for a task name AdapterRepository::checkName refuses, the task's own name, a name a task
// has already (deleted versions count: their numbers are kept), a task that has no live version, a
// version without recorded files or whose files changed (AdapterRepository::verifyFiles), and a task
// that another process changed while its files were copied. Every copy is recorded in one transaction.
std::vector<AdapterRecord> duplicateTask(Store& store, const std::string& task, const std::string& newTask);

} // namespace rslora::storage
