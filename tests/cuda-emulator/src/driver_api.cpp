// The CUDA driver API subset: one device, its primary context, guard-paged memory, modules that
// are shared objects, synchronous streams and events, and kernel launches with real limits.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "context_state.h"
#include "cuda_api.h"
#include "device_memory.h"
#include "kernel_compiler.h"
#include "kernel_launch.h"
#include "module_image.h"

struct EmuContext {};
struct EmuStream {};
struct EmuEvent {
    unsigned flags = 0;
    bool recorded = false;
    std::chrono::steady_clock::time_point time;
};
struct EmuFunction {
    medclip_emu::KernelLauncher launch;
    int param_count;
    int max_dynamic_shared_bytes;
};
struct EmuModule {
    void* library;
    int file;  // kept open so the unlinked file's inode is not reused while the library is loaded
    std::map<std::string, EmuFunction> functions;
};

namespace medclip_emu {
namespace {

constexpr int kDefaultSharedBytes = 48 * 1024;

std::atomic<bool> initialized{false};
std::atomic<int> sticky_error_code{CUDA_SUCCESS};
std::mutex state_mutex;  // guards the reference count and the handle sets
int primary_references = 0;
EmuContext primary_context;
thread_local CUcontext current_context = nullptr;
std::set<CUstream> streams;
std::set<CUevent> events;

bool stream_valid(CUstream stream) {
    if (!stream) return true;
    std::lock_guard<std::mutex> lock(state_mutex);
    return streams.count(stream) != 0;
}

bool event_valid(CUevent event) {
    std::lock_guard<std::mutex> lock(state_mutex);
    return event && events.count(event) != 0;
}

CUresult context_and_stream(CUstream stream) {
    if (const CUresult status = context_status()) return status;
    return stream_valid(stream) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult copy(void* dst, const void* src, size_t bytes, bool dst_device, bool src_device, CUstream stream) {
    if (const CUresult status = context_and_stream(stream)) return status;
    if (bytes == 0) return CUDA_SUCCESS;
    if (!dst || !src) return CUDA_ERROR_INVALID_VALUE;
    if (dst_device && !device_range_valid(reinterpret_cast<uintptr_t>(dst), bytes)) return CUDA_ERROR_INVALID_VALUE;
    if (src_device && !device_range_valid(reinterpret_cast<uintptr_t>(src), bytes)) return CUDA_ERROR_INVALID_VALUE;
    std::memmove(dst, src, bytes);
    return CUDA_SUCCESS;
}

template <class T>
CUresult fill(CUdeviceptr dst, T value, size_t count, CUstream stream) {
    if (const CUresult status = context_and_stream(stream)) return status;
    if (count == 0) return CUDA_SUCCESS;
    if (dst % alignof(T) != 0 || !device_range_valid(dst, count * sizeof(T))) return CUDA_ERROR_INVALID_VALUE;
    T* out = reinterpret_cast<T*>(dst);
    for (size_t i = 0; i < count; ++i) out[i] = value;
    return CUDA_SUCCESS;
}

struct ErrorText {
    CUresult code;
    const char* name;
    const char* text;
};

constexpr ErrorText kErrors[] = {
    {CUDA_SUCCESS, "CUDA_SUCCESS", "no error"},
    {CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {CUDA_ERROR_ILLEGAL_ADDRESS, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {CUDA_ERROR_ILLEGAL_INSTRUCTION, "CUDA_ERROR_ILLEGAL_INSTRUCTION", "an illegal instruction was encountered"},
    {CUDA_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

const ErrorText* find_error(CUresult code) {
    for (const ErrorText& error : kErrors)
        if (error.code == code) return &error;
    return nullptr;
}

}  // namespace

CUresult context_status() {
    if (!initialized.load(std::memory_order_acquire)) return CUDA_ERROR_NOT_INITIALIZED;
    if (!current_context) return CUDA_ERROR_INVALID_CONTEXT;
    {
        std::lock_guard<std::mutex> lock(state_mutex);
        if (primary_references == 0) return CUDA_ERROR_INVALID_CONTEXT;
    }
    return sticky_error_code.load(std::memory_order_acquire);
}

CUresult sticky_error() { return sticky_error_code.load(std::memory_order_acquire); }

void set_sticky_error(CUresult error) {
    int expected = CUDA_SUCCESS;
    sticky_error_code.compare_exchange_strong(expected, error);
}

}  // namespace medclip_emu

using namespace medclip_emu;

CUresult cuInit(unsigned flags) {
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    initialized.store(true, std::memory_order_release);
    return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int* version) {
    if (!version) return CUDA_ERROR_INVALID_VALUE;
    *version = 12080;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (!count) return CUDA_ERROR_INVALID_VALUE;
    *count = 1;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* device, int ordinal) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (!device) return CUDA_ERROR_INVALID_VALUE;
    if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
    *device = 0;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int length, CUdevice device) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!name || length <= 0) return CUDA_ERROR_INVALID_VALUE;
    std::strncpy(name, "MedClip CUDA emulator", size_t(length) - 1);
    name[length - 1] = '\0';
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice device) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!value) return CUDA_ERROR_INVALID_VALUE;
    static const std::map<int, int> attributes = {
        {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024},
        {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, 1024},
        {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y, 1024},
        {CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z, 64},
        {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, 2147483647},
        {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y, 65535},
        {CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z, 65535},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, kDefaultSharedBytes},
        {CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32},
        {CU_DEVICE_ATTRIBUTE_CLOCK_RATE, 1410000},
        {CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 16},
        {CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE, 1215000},
        {CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH, 5120},
        {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR, 2048},
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 8},
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR, 100 * 1024},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, int(kMaxDynamicSharedBytes)},
    };
    const auto found = attributes.find(attribute);
    if (found == attributes.end()) return CUDA_ERROR_INVALID_VALUE;
    *value = found->second;
    return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice device) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!bytes) return CUDA_ERROR_INVALID_VALUE;
    *bytes = kDeviceMemoryBytes;
    return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    if (!context) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(state_mutex);
    ++primary_references;
    *context = &primary_context;
    return CUDA_SUCCESS;
}

// The last release destroys the primary context: its memory is freed and its sticky error cleared.
// Loaded modules stay mapped (their handles simply must not be used again).
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice device) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (device != 0) return CUDA_ERROR_INVALID_DEVICE;
    std::lock_guard<std::mutex> lock(state_mutex);
    if (primary_references == 0) return CUDA_ERROR_INVALID_CONTEXT;
    if (--primary_references == 0) {
        device_free_all();
        sticky_error_code.store(CUDA_SUCCESS);
    }
    return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext context) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (context && context != &primary_context) return CUDA_ERROR_INVALID_CONTEXT;
    current_context = context;
    return CUDA_SUCCESS;
}

// Every call that makes the host wait for the device (a stream, context or event synchronisation, or a synchronous copy
// to host memory; an asynchronous one is waited for by the synchronisation after it), counted so that tests can hold a
// training step to the waits it is allowed; read through medclip_emu_host_syncs. Copies to host memory, synchronous or
// not, are counted apart (medclip_emu_device_to_host_copies): each is a read the host will wait for.
static std::atomic<long long> host_syncs{0};
static std::atomic<long long> device_to_host_copies{0};

EMU_EXPORT long long medclip_emu_host_syncs(void) { return host_syncs.load(); }
EMU_EXPORT long long medclip_emu_device_to_host_copies(void) { return device_to_host_copies.load(); }

CUresult cuCtxSynchronize(void) {
    host_syncs++;
    return context_status();
}

CUresult cuMemAlloc_v2(CUdeviceptr* pointer, size_t bytes) {
    if (const CUresult status = context_status()) return status;
    if (!pointer || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    const uintptr_t address = device_allocate(bytes);
    if (!address) return CUDA_ERROR_OUT_OF_MEMORY;
    *pointer = address;
    return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr pointer) {
    if (const CUresult status = context_status()) return status;
    if (pointer == 0) return CUDA_SUCCESS;
    return device_free(pointer) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    if (const CUresult status = context_status()) return status;
    if (!free || !total) return CUDA_ERROR_INVALID_VALUE;
    *total = kDeviceMemoryBytes;
    *free = kDeviceMemoryBytes - device_bytes_in_use();
    return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes) {
    return copy(reinterpret_cast<void*>(dst), src, bytes, true, false, nullptr);
}
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes) {
    host_syncs++;
    device_to_host_copies++;
    return copy(dst, reinterpret_cast<const void*>(src), bytes, false, true, nullptr);
}
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes) {
    return copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes, true, true, nullptr);
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, CUstream stream) {
    return copy(reinterpret_cast<void*>(dst), src, bytes, true, false, stream);
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, CUstream stream) {
    device_to_host_copies++;
    return copy(dst, reinterpret_cast<const void*>(src), bytes, false, true, stream);
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream) {
    return copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes, true, true, stream);
}
CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t count) { return fill(dst, value, count, nullptr); }
CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned value, size_t count) { return fill(dst, value, count, nullptr); }
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t count, CUstream stream) {
    return fill(dst, value, count, stream);
}
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, CUstream stream) {
    return fill(dst, value, count, stream);
}

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
    if (const CUresult status = context_status()) return status;
    if (!module || !image) return CUDA_ERROR_INVALID_VALUE;
    const char* shared_object;
    uint64_t size;
    if (!open_module_image(image, &shared_object, &size)) return CUDA_ERROR_INVALID_IMAGE;
    std::string path = emulator_cache_directory() + "/module-XXXXXX.so";
    const int file = mkstemps(path.data(), 3);
    if (file < 0) return CUDA_ERROR_UNKNOWN;
    const bool written = write(file, shared_object, size) == ssize_t(size);
    void* library = written ? dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) : nullptr;
    unlink(path.c_str());
    const auto table_of = library ? reinterpret_cast<const ModuleTable* (*)()>(dlsym(library, MEDCLIP_EMU_MODULE_TABLE_SYMBOL))
                                  : nullptr;
    const ModuleTable* table = table_of ? table_of() : nullptr;
    if (!table || table->abi_version != kAbiVersion) {
        if (library) dlclose(library);
        close(file);
        return CUDA_ERROR_INVALID_IMAGE;
    }
    EmuModule* loaded = new EmuModule{library, file, {}};
    for (int i = 0; i < table->kernel_count; ++i) {
        const KernelEntry& kernel = table->kernels[i];
        loaded->functions[kernel.name] = EmuFunction{kernel.launch, kernel.param_count, kDefaultSharedBytes};
    }
    *module = loaded;
    return CUDA_SUCCESS;
}

CUresult cuModuleUnload(CUmodule module) {
    if (const CUresult status = context_status()) return status;
    if (!module) return CUDA_ERROR_INVALID_HANDLE;
    dlclose(module->library);
    close(module->file);
    delete module;
    return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction* function, CUmodule module, const char* name) {
    if (const CUresult status = context_status()) return status;
    if (!function || !name) return CUDA_ERROR_INVALID_VALUE;
    if (!module) return CUDA_ERROR_INVALID_HANDLE;
    const auto found = module->functions.find(name);
    if (found == module->functions.end()) return CUDA_ERROR_NOT_FOUND;
    *function = &found->second;
    return CUDA_SUCCESS;
}

CUresult cuFuncSetAttribute(CUfunction function, int attribute, int value) {
    if (const CUresult status = context_status()) return status;
    if (!function) return CUDA_ERROR_INVALID_HANDLE;
    if (attribute != CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) return CUDA_ERROR_INVALID_VALUE;
    if (value < 0 || size_t(value) > kMaxDynamicSharedBytes) return CUDA_ERROR_INVALID_VALUE;
    function->max_dynamic_shared_bytes = value;
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction function, unsigned gridX, unsigned gridY, unsigned gridZ, unsigned blockX,
                        unsigned blockY, unsigned blockZ, unsigned sharedMemBytes, CUstream stream,
                        void** kernelParams, void** extra) {
    if (const CUresult status = context_and_stream(stream)) return status;
    if (!function) return CUDA_ERROR_INVALID_HANDLE;
    if (blockX == 0 || blockY == 0 || blockZ == 0 || blockX > 1024 || blockY > 1024 || blockZ > 64 ||
        (unsigned long long)blockX * blockY * blockZ > 1024)
        return CUDA_ERROR_INVALID_VALUE;
    if (gridX == 0 || gridY == 0 || gridZ == 0 || gridX > 2147483647u || gridY > 65535 || gridZ > 65535)
        return CUDA_ERROR_INVALID_VALUE;
    if (sharedMemBytes > unsigned(function->max_dynamic_shared_bytes)) return CUDA_ERROR_INVALID_VALUE;
    if (extra || (!kernelParams && function->param_count > 0)) return CUDA_ERROR_INVALID_VALUE;
    const CUresult result = launch_kernel(function->launch, {gridX, gridY, gridZ}, {blockX, blockY, blockZ},
                                          sharedMemBytes, kernelParams);
    if (result != CUDA_SUCCESS) set_sticky_error(result);
    return result;
}

CUresult cuStreamCreate(CUstream* stream, unsigned flags) {
    if (const CUresult status = context_status()) return status;
    if (!stream || flags > 1) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(state_mutex);
    *stream = new EmuStream();
    streams.insert(*stream);
    return CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(CUstream stream) {
    if (const CUresult status = context_status()) return status;
    std::lock_guard<std::mutex> lock(state_mutex);
    if (!streams.erase(stream)) return CUDA_ERROR_INVALID_HANDLE;
    delete stream;
    return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(CUstream stream) {
    host_syncs++;
    return context_and_stream(stream);
}

// Work runs when it is launched, so a stream has always finished it (CUDA_SUCCESS, not CUDA_ERROR_NOT_READY).
CUresult cuStreamQuery(CUstream stream) { return context_and_stream(stream); }

CUresult cuEventCreate(CUevent* event, unsigned flags) {
    if (const CUresult status = context_status()) return status;
    if (!event) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(state_mutex);
    *event = new EmuEvent{flags, false, {}};
    events.insert(*event);
    return CUDA_SUCCESS;
}

CUresult cuEventRecord(CUevent event, CUstream stream) {
    if (const CUresult status = context_and_stream(stream)) return status;
    if (!event_valid(event)) return CUDA_ERROR_INVALID_HANDLE;
    event->time = std::chrono::steady_clock::now();
    event->recorded = true;
    return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(CUevent event) {
    host_syncs++;
    if (const CUresult status = context_status()) return status;
    return event_valid(event) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

CUresult cuEventElapsedTime(float* milliseconds, CUevent start, CUevent end) {
    if (const CUresult status = context_status()) return status;
    if (!milliseconds) return CUDA_ERROR_INVALID_VALUE;
    if (!event_valid(start) || !event_valid(end) || !start->recorded || !end->recorded ||
        ((start->flags | end->flags) & CU_EVENT_DISABLE_TIMING))
        return CUDA_ERROR_INVALID_HANDLE;
    *milliseconds = std::chrono::duration<float, std::milli>(end->time - start->time).count();
    return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(CUevent event) {
    if (const CUresult status = context_status()) return status;
    std::lock_guard<std::mutex> lock(state_mutex);
    if (!events.erase(event)) return CUDA_ERROR_INVALID_HANDLE;
    delete event;
    return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char** name) {
    if (!name) return CUDA_ERROR_INVALID_VALUE;
    const ErrorText* found = find_error(error);
    *name = found ? found->name : nullptr;
    return found ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char** text) {
    if (!text) return CUDA_ERROR_INVALID_VALUE;
    const ErrorText* found = find_error(error);
    *text = found ? found->text : nullptr;
    return found ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
