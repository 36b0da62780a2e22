// The subset of the CUDA driver, NVRTC and cuBLAS C APIs that the emulator exports, with the
// type and enum values of the real CUDA 12/13 headers (which are not available on CI machines).
#pragma once

#include <cstddef>

#define EMU_EXPORT extern "C" __attribute__((visibility("default")))

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct EmuContext* CUcontext;
typedef struct EmuModule* CUmodule;
typedef struct EmuFunction* CUfunction;
typedef struct EmuStream* CUstream;
typedef struct EmuEvent* CUevent;

enum : int {
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_ILLEGAL_INSTRUCTION = 715,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_UNKNOWN = 999,
};

enum : int {
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X = 2,
    CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y = 3,
    CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z = 4,
    CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X = 5,
    CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y = 6,
    CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z = 7,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
    CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36,
    CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37,
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR = 39,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
};

enum : int { CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8 };
enum : unsigned { CU_EVENT_DISABLE_TIMING = 2 };

typedef int nvrtcResult;
typedef struct EmuProgram* nvrtcProgram;

enum : int {
    NVRTC_SUCCESS = 0,
    NVRTC_ERROR_OUT_OF_MEMORY = 1,
    NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2,
    NVRTC_ERROR_INVALID_INPUT = 3,
    NVRTC_ERROR_INVALID_PROGRAM = 4,
    NVRTC_ERROR_INVALID_OPTION = 5,
    NVRTC_ERROR_COMPILATION = 6,
    NVRTC_ERROR_INTERNAL_ERROR = 11,
};

typedef int cublasStatus_t;
typedef struct EmuBlasHandle* cublasHandle_t;
typedef int cublasOperation_t;
typedef int cublasMath_t;
typedef int cudaDataType;
typedef int cublasComputeType_t;
typedef int cublasGemmAlgo_t;

enum : int {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
};

enum : int { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 };
enum : int { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2, CUBLAS_TF32_TENSOR_OP_MATH = 3 };
enum : int { CUDA_R_32F = 0, CUDA_R_64F = 1, CUDA_R_16BF = 14 };
enum : int { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_64F = 70, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };
enum : int { CUBLAS_GEMM_DEFAULT = -1 };

EMU_EXPORT CUresult cuInit(unsigned flags);
EMU_EXPORT CUresult cuDriverGetVersion(int* version);
EMU_EXPORT CUresult cuDeviceGetCount(int* count);
EMU_EXPORT CUresult cuDeviceGet(CUdevice* device, int ordinal);
EMU_EXPORT CUresult cuDeviceGetName(char* name, int length, CUdevice device);
EMU_EXPORT CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice device);
EMU_EXPORT CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice device);
EMU_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device);
EMU_EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice device);
EMU_EXPORT CUresult cuCtxSetCurrent(CUcontext context);
EMU_EXPORT CUresult cuCtxSynchronize(void);
EMU_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* pointer, size_t bytes);
EMU_EXPORT CUresult cuMemFree_v2(CUdeviceptr pointer);
EMU_EXPORT CUresult cuMemGetInfo_v2(size_t* free, size_t* total);
EMU_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t bytes);
EMU_EXPORT CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t bytes);
EMU_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes);
EMU_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t bytes, CUstream stream);
EMU_EXPORT CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t bytes, CUstream stream);
EMU_EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t bytes, CUstream stream);
EMU_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char value, size_t count);
EMU_EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned value, size_t count);
EMU_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char value, size_t count, CUstream stream);
EMU_EXPORT CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, CUstream stream);
EMU_EXPORT CUresult cuModuleLoadData(CUmodule* module, const void* image);
EMU_EXPORT CUresult cuModuleUnload(CUmodule module);
EMU_EXPORT CUresult cuModuleGetFunction(CUfunction* function, CUmodule module, const char* name);
EMU_EXPORT CUresult cuFuncSetAttribute(CUfunction function, int attribute, int value);
EMU_EXPORT CUresult cuLaunchKernel(CUfunction function, unsigned gridX, unsigned gridY, unsigned gridZ,
                                   unsigned blockX, unsigned blockY, unsigned blockZ, unsigned sharedMemBytes,
                                   CUstream stream, void** kernelParams, void** extra);
EMU_EXPORT CUresult cuStreamCreate(CUstream* stream, unsigned flags);
EMU_EXPORT CUresult cuStreamDestroy_v2(CUstream stream);
EMU_EXPORT CUresult cuStreamSynchronize(CUstream stream);
EMU_EXPORT CUresult cuStreamQuery(CUstream stream);
EMU_EXPORT CUresult cuEventCreate(CUevent* event, unsigned flags);
EMU_EXPORT CUresult cuEventRecord(CUevent event, CUstream stream);
EMU_EXPORT CUresult cuEventSynchronize(CUevent event);
EMU_EXPORT CUresult cuEventElapsedTime(float* milliseconds, CUevent start, CUevent end);
EMU_EXPORT CUresult cuEventDestroy_v2(CUevent event);
EMU_EXPORT CUresult cuGetErrorName(CUresult error, const char** name);
EMU_EXPORT CUresult cuGetErrorString(CUresult error, const char** text);

EMU_EXPORT nvrtcResult nvrtcVersion(int* major, int* minor);
EMU_EXPORT nvrtcResult nvrtcGetNumSupportedArchs(int* count);
EMU_EXPORT nvrtcResult nvrtcGetSupportedArchs(int* architectures);
EMU_EXPORT nvrtcResult nvrtcCreateProgram(nvrtcProgram* program, const char* source, const char* name,
                                          int numHeaders, const char* const* headers,
                                          const char* const* includeNames);
EMU_EXPORT nvrtcResult nvrtcCompileProgram(nvrtcProgram program, int numOptions, const char* const* options);
EMU_EXPORT nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram program, size_t* size);
EMU_EXPORT nvrtcResult nvrtcGetProgramLog(nvrtcProgram program, char* log);
EMU_EXPORT nvrtcResult nvrtcGetCUBINSize(nvrtcProgram program, size_t* size);
EMU_EXPORT nvrtcResult nvrtcGetCUBIN(nvrtcProgram program, char* cubin);
EMU_EXPORT nvrtcResult nvrtcGetPTXSize(nvrtcProgram program, size_t* size);
EMU_EXPORT nvrtcResult nvrtcGetPTX(nvrtcProgram program, char* ptx);
EMU_EXPORT nvrtcResult nvrtcDestroyProgram(nvrtcProgram* program);
EMU_EXPORT const char* nvrtcGetErrorString(nvrtcResult result);

EMU_EXPORT cublasStatus_t cublasCreate_v2(cublasHandle_t* handle);
EMU_EXPORT cublasStatus_t cublasDestroy_v2(cublasHandle_t handle);
EMU_EXPORT cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, CUstream stream);
EMU_EXPORT cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
EMU_EXPORT const char* cublasGetStatusName(cublasStatus_t status);
EMU_EXPORT const char* cublasGetStatusString(cublasStatus_t status);
EMU_EXPORT cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                       int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                       int lda, const void* B, cudaDataType Btype, int ldb, const void* beta,
                                       void* C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                                       cublasGemmAlgo_t algo);
EMU_EXPORT cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const void* alpha, const void* A, cudaDataType Atype, int lda, long long strideA, const void* B,
    cudaDataType Btype, int ldb, long long strideB, const void* beta, void* C, cudaDataType Ctype, int ldc,
    long long strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
