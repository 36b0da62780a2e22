// Driver API bookkeeping: device queries, memory, copies, streams, events and error texts.
#include <cstring>
#include <thread>

#include "test_support.h"

namespace {

class DriverTest : public EmulatorTest {};

TEST_F(DriverTest, DeviceReportsTheContractsProperties) {
    int count = 0, value = 0;
    ASSERT_EQ(cuDeviceGetCount(&count), CUDA_SUCCESS);
    EXPECT_EQ(count, 1);
    char name[64];
    ASSERT_EQ(cuDeviceGetName(name, sizeof name, 0), CUDA_SUCCESS);
    EXPECT_STREQ(name, "MedClip CUDA emulator");
    const std::pair<int, int> expected[] = {
        {CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, 1024},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, 48 * 1024},
        {CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, 99 * 1024},
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 8},
        {CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, 0},
        {CU_DEVICE_ATTRIBUTE_WARP_SIZE, 32},
    };
    for (const auto& [attribute, wanted] : expected) {
        ASSERT_EQ(cuDeviceGetAttribute(&value, attribute, 0), CUDA_SUCCESS) << attribute;
        EXPECT_EQ(value, wanted) << attribute;
    }
    ASSERT_EQ(cuDeviceGetAttribute(&value, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0), CUDA_SUCCESS);
    EXPECT_GT(value, 0);
    size_t total = 0;
    ASSERT_EQ(cuDeviceTotalMem_v2(&total, 0), CUDA_SUCCESS);
    EXPECT_EQ(total, size_t(16) << 30);
    CUdevice device;
    EXPECT_EQ(cuDeviceGet(&device, 1), CUDA_ERROR_INVALID_DEVICE);
}

TEST_F(DriverTest, MemoryInfoTracksAllocations) {
    size_t free_before = 0, total = 0, free_after = 0;
    ASSERT_EQ(cuMemGetInfo_v2(&free_before, &total), CUDA_SUCCESS);
    CUdeviceptr pointer = 0;
    ASSERT_EQ(cuMemAlloc_v2(&pointer, 1 << 20), CUDA_SUCCESS);
    EXPECT_EQ(pointer % 16, 0u);
    ASSERT_EQ(cuMemGetInfo_v2(&free_after, &total), CUDA_SUCCESS);
    EXPECT_EQ(free_before - free_after, size_t(1) << 20);
    EXPECT_EQ(cuMemFree_v2(pointer), CUDA_SUCCESS);
    EXPECT_EQ(cuMemFree_v2(pointer), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(cuMemAlloc_v2(&pointer, 0), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(cuMemAlloc_v2(&pointer, size_t(17) << 30), CUDA_ERROR_OUT_OF_MEMORY);
}

TEST_F(DriverTest, CopiesAndFillsStayInsideAllocations) {
    CUdeviceptr a = 0, b = 0;
    ASSERT_EQ(cuMemAlloc_v2(&a, 40), CUDA_SUCCESS);
    ASSERT_EQ(cuMemAlloc_v2(&b, 40), CUDA_SUCCESS);
    ASSERT_EQ(cuMemsetD32_v2(a, 0x3f800000u, 10), CUDA_SUCCESS);
    ASSERT_EQ(cuMemsetD8_v2(b + 36, 0, 4), CUDA_SUCCESS);
    ASSERT_EQ(cuMemcpyDtoD_v2(b, a, 36), CUDA_SUCCESS);
    float host[10];
    ASSERT_EQ(cuMemcpyDtoH_v2(host, b, sizeof host), CUDA_SUCCESS);
    for (int i = 0; i < 9; ++i) EXPECT_EQ(host[i], 1.0f);
    EXPECT_EQ(host[9], 0.0f);
    EXPECT_EQ(cuMemcpyHtoD_v2(a + 4, host, 40), CUDA_ERROR_INVALID_VALUE);  // one float too many
    EXPECT_EQ(cuMemcpyDtoH_v2(host, a - 4, 8), CUDA_ERROR_INVALID_VALUE);
    EXPECT_EQ(cuMemsetD32_v2(a, 0, 11), CUDA_ERROR_INVALID_VALUE);
    CUstream stream = nullptr;
    ASSERT_EQ(cuStreamCreate(&stream, 0), CUDA_SUCCESS);
    EXPECT_EQ(cuMemcpyHtoDAsync_v2(a, host, 40, stream), CUDA_SUCCESS);
    EXPECT_EQ(cuMemcpyDtoHAsync_v2(host, a, 40, stream), CUDA_SUCCESS);
    EXPECT_EQ(cuMemcpyDtoDAsync_v2(b, a, 40, stream), CUDA_SUCCESS);
    EXPECT_EQ(cuMemsetD8Async(a, 1, 40, stream), CUDA_SUCCESS);
    EXPECT_EQ(cuMemsetD32Async(a, 1, 10, stream), CUDA_SUCCESS);
    EXPECT_EQ(cuStreamSynchronize(stream), CUDA_SUCCESS);
    EXPECT_EQ(cuStreamDestroy_v2(stream), CUDA_SUCCESS);
    EXPECT_EQ(cuStreamSynchronize(stream), CUDA_ERROR_INVALID_HANDLE);
}

TEST_F(DriverTest, EventsMeasureHostTime) {
    CUevent start = nullptr, end = nullptr;
    ASSERT_EQ(cuEventCreate(&start, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuEventCreate(&end, 0), CUDA_SUCCESS);
    float ms = -1;
    EXPECT_EQ(cuEventElapsedTime(&ms, start, end), CUDA_ERROR_INVALID_HANDLE);  // not recorded yet
    ASSERT_EQ(cuEventRecord(start, nullptr), CUDA_SUCCESS);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(cuEventRecord(end, nullptr), CUDA_SUCCESS);
    ASSERT_EQ(cuEventSynchronize(end), CUDA_SUCCESS);
    ASSERT_EQ(cuEventElapsedTime(&ms, start, end), CUDA_SUCCESS);
    EXPECT_GE(ms, 4.0f);
    EXPECT_EQ(cuEventDestroy_v2(start), CUDA_SUCCESS);
    EXPECT_EQ(cuEventDestroy_v2(end), CUDA_SUCCESS);
}

TEST_F(DriverTest, ErrorNamesAndStringsMatchTheRealDriver) {
    const char* text = nullptr;
    ASSERT_EQ(cuGetErrorName(CUDA_ERROR_ILLEGAL_ADDRESS, &text), CUDA_SUCCESS);
    EXPECT_STREQ(text, "CUDA_ERROR_ILLEGAL_ADDRESS");
    ASSERT_EQ(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &text), CUDA_SUCCESS);
    EXPECT_STREQ(text, "an illegal memory access was encountered");
    ASSERT_EQ(cuGetErrorString(CUDA_ERROR_INVALID_VALUE, &text), CUDA_SUCCESS);
    EXPECT_STREQ(text, "invalid argument");
    EXPECT_EQ(cuGetErrorName(12345, &text), CUDA_ERROR_INVALID_VALUE);
}

TEST_F(DriverTest, CallsWithoutACurrentContextFail) {
    CUresult status = CUDA_SUCCESS;
    std::thread([&] {
        CUdeviceptr pointer;
        status = cuMemAlloc_v2(&pointer, 16);
    }).join();
    EXPECT_EQ(status, CUDA_ERROR_INVALID_CONTEXT);
}

}  // namespace
