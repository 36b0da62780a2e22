// Shared pieces of the emulator tests: a fixture that owns the primary context, kernel compilation
// through the emulator's NVRTC, device buffers and launches.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "cuda_api.h"

// Each test gets the primary context afresh (released to zero afterwards, which also clears a
// sticky error that a test provoked on purpose).
class EmulatorTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;
    CUcontext context_ = nullptr;
};

struct CompiledProgram {
    nvrtcResult result;
    std::string log;
    std::string image;
};

CompiledProgram compile_program(const std::string& source, const std::string& name = "test_kernels.cu",
                                const std::vector<std::pair<std::string, std::string>>& headers = {},
                                const std::vector<std::string>& options = {});

// Compiles and loads `source`; fails the test (and returns null) on any error.
CUmodule load_module(const std::string& source, const std::vector<std::pair<std::string, std::string>>& headers = {},
                     const std::vector<std::string>& options = {});

CUfunction get_function(CUmodule module, const char* name);

CUresult launch(CUfunction function, unsigned grid_x, unsigned block_x, std::vector<void*> params,
                unsigned shared_bytes = 0);

template <class T>
CUdeviceptr upload(const std::vector<T>& values) {
    CUdeviceptr pointer = 0;
    EXPECT_EQ(cuMemAlloc_v2(&pointer, values.size() * sizeof(T)), CUDA_SUCCESS);
    EXPECT_EQ(cuMemcpyHtoD_v2(pointer, values.data(), values.size() * sizeof(T)), CUDA_SUCCESS);
    return pointer;
}

template <class T>
std::vector<T> download(CUdeviceptr pointer, size_t count) {
    std::vector<T> values(count);
    EXPECT_EQ(cuMemcpyDtoH_v2(values.data(), pointer, count * sizeof(T)), CUDA_SUCCESS);
    return values;
}
