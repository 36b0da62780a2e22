// "Device" memory: host pages laid out so that every allocation ends exactly where a PROT_NONE guard
// page begins, so a kernel reading or writing one element past the end faults at once.
#pragma once

#include <cstddef>
#include <cstdint>

namespace medclip_emu {

constexpr size_t kDeviceMemoryBytes = size_t(16) << 30;  // what cuMemGetInfo reports as total

// Returns the start address, or 0 when `bytes` is 0 or the 16 GiB budget (or the host) is exhausted.
uintptr_t device_allocate(size_t bytes);

// False when `address` is not the start of a live allocation.
bool device_free(uintptr_t address);

// True when [address, address + bytes) lies inside one live allocation.
bool device_range_valid(uintptr_t address, size_t bytes);

size_t device_bytes_in_use();

// Frees every allocation (the primary context was destroyed).
void device_free_all();

}  // namespace medclip_emu
