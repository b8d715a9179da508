// Opening a .safetensors file: map it once, validate the header against the mapped size.
#include "models/SafeTensorsFile.h"

#include "common/Error.h"

namespace rslora::models {

SafeTensorsFile::SafeTensorsFile(const std::filesystem::path& path)
    : m_file(std::make_shared<MappedFile>(path)),
      m_header(SafeTensorsHeader::parse(m_file->data(), m_file->size(), m_file->size(), path.string())) {}

const TensorInfo& SafeTensorsFile::at(const std::string& name) const {
    const TensorInfo* info = m_header.find(name);
    if (!info)
        throw Error(path().string() + ": expected a tensor named '" + name + "', found none");
    return *info;
}

} // namespace rslora::models
