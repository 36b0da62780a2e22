// The emulator's "CUBIN": an 8-byte magic, the shared object's size (8 bytes, little-endian) and the
// shared object that the emulator's NVRTC compiled. Only the emulator's cuModuleLoadData reads it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace medclip_emu {

constexpr char kImageMagic[8] = {'M', 'C', 'E', 'M', 'U', 'S', 'O', '1'};

inline std::string make_module_image(const std::string& shared_object) {
    const uint64_t size = shared_object.size();
    std::string image(kImageMagic, sizeof kImageMagic);
    image.append(reinterpret_cast<const char*>(&size), sizeof size);
    return image + shared_object;
}

// Finds the shared object inside an image; false when `image` is not one of ours.
inline bool open_module_image(const void* image, const char** shared_object, uint64_t* size) {
    const char* bytes = static_cast<const char*>(image);
    if (!bytes || std::memcmp(bytes, kImageMagic, sizeof kImageMagic) != 0) return false;
    std::memcpy(size, bytes + sizeof kImageMagic, sizeof *size);
    *shared_object = bytes + sizeof kImageMagic + sizeof *size;
    return true;
}

}  // namespace medclip_emu
