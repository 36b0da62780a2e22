#include "device_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <iterator>
#include <map>
#include <mutex>

namespace medclip_emu {
namespace {

// Layout: [guard page][data pages][guard page], with the allocation ending at the second guard. The
// start is therefore aligned only as well as the size is: 16 bytes whenever the size is a multiple
// of 16 (real cudaMalloc aligns to 256). Exact detection of overruns was chosen over alignment.
struct Mapping {
    void* base;
    size_t mapped_bytes;
    size_t bytes;
};

std::mutex mutex;
std::map<uintptr_t, Mapping> allocations;
size_t bytes_in_use = 0;

size_t page_size() {
    static const size_t size = size_t(sysconf(_SC_PAGESIZE));
    return size;
}

size_t round_up(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }

}  // namespace

uintptr_t device_allocate(size_t bytes) {
    if (bytes == 0) return 0;
    const size_t page = page_size(), data_bytes = round_up(bytes, page);
    std::lock_guard<std::mutex> lock(mutex);
    if (data_bytes > kDeviceMemoryBytes - bytes_in_use) return 0;
    const size_t mapped_bytes = data_bytes + 2 * page;
    void* base = mmap(nullptr, mapped_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return 0;
    char* data = static_cast<char*>(base) + page;
    if (mprotect(data, data_bytes, PROT_READ | PROT_WRITE) != 0) {
        munmap(base, mapped_bytes);
        return 0;
    }
    const uintptr_t start = reinterpret_cast<uintptr_t>(data + data_bytes - bytes);
    allocations[start] = Mapping{base, mapped_bytes, bytes};
    bytes_in_use += data_bytes;
    return start;
}

bool device_free(uintptr_t address) {
    std::lock_guard<std::mutex> lock(mutex);
    auto found = allocations.find(address);
    if (found == allocations.end()) return false;
    munmap(found->second.base, found->second.mapped_bytes);
    bytes_in_use -= found->second.mapped_bytes - 2 * page_size();
    allocations.erase(found);
    return true;
}

bool device_range_valid(uintptr_t address, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    auto after = allocations.upper_bound(address);
    if (after == allocations.begin()) return false;
    const auto& [start, mapping] = *std::prev(after);
    return address - start <= mapping.bytes && bytes <= mapping.bytes - (address - start);
}

size_t device_bytes_in_use() {
    std::lock_guard<std::mutex> lock(mutex);
    return bytes_in_use;
}

void device_free_all() {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [start, mapping] : allocations) munmap(mapping.base, mapping.mapped_bytes);
    allocations.clear();
    bytes_in_use = 0;
}

}  // namespace medclip_emu
