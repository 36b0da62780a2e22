#include "test_support.h"

void EmulatorTest::SetUp() {
    ASSERT_EQ(cuInit(0), CUDA_SUCCESS);
    CUdevice device;
    ASSERT_EQ(cuDeviceGet(&device, 0), CUDA_SUCCESS);
    ASSERT_EQ(cuDevicePrimaryCtxRetain(&context_, device), CUDA_SUCCESS);
    ASSERT_EQ(cuCtxSetCurrent(context_), CUDA_SUCCESS);
}

void EmulatorTest::TearDown() {
    cuCtxSetCurrent(nullptr);
    EXPECT_EQ(cuDevicePrimaryCtxRelease_v2(0), CUDA_SUCCESS);
}

CompiledProgram compile_program(const std::string& source, const std::string& name,
                                const std::vector<std::pair<std::string, std::string>>& headers,
                                const std::vector<std::string>& options) {
    std::vector<const char*> header_texts, include_names, option_texts;
    for (const auto& [include_name, text] : headers) {
        include_names.push_back(include_name.c_str());
        header_texts.push_back(text.c_str());
    }
    for (const std::string& option : options) option_texts.push_back(option.c_str());
    nvrtcProgram program = nullptr;
    EXPECT_EQ(nvrtcCreateProgram(&program, source.c_str(), name.c_str(), int(headers.size()), header_texts.data(),
                                 include_names.data()),
              NVRTC_SUCCESS);
    CompiledProgram compiled;
    compiled.result = nvrtcCompileProgram(program, int(option_texts.size()), option_texts.data());
    size_t size = 0;
    EXPECT_EQ(nvrtcGetProgramLogSize(program, &size), NVRTC_SUCCESS);
    compiled.log.resize(size);
    EXPECT_EQ(nvrtcGetProgramLog(program, compiled.log.data()), NVRTC_SUCCESS);
    compiled.log.resize(size ? size - 1 : 0);
    if (compiled.result == NVRTC_SUCCESS) {
        EXPECT_EQ(nvrtcGetCUBINSize(program, &size), NVRTC_SUCCESS);
        compiled.image.resize(size);
        EXPECT_EQ(nvrtcGetCUBIN(program, compiled.image.data()), NVRTC_SUCCESS);
    }
    EXPECT_EQ(nvrtcDestroyProgram(&program), NVRTC_SUCCESS);
    return compiled;
}

CUmodule load_module(const std::string& source, const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::vector<std::string>& options) {
    const CompiledProgram compiled = compile_program(source, "test_kernels.cu", headers, options);
    EXPECT_EQ(compiled.result, NVRTC_SUCCESS) << compiled.log;
    if (compiled.result != NVRTC_SUCCESS) return nullptr;
    CUmodule module = nullptr;
    EXPECT_EQ(cuModuleLoadData(&module, compiled.image.data()), CUDA_SUCCESS);
    return module;
}

CUfunction get_function(CUmodule module, const char* name) {
    CUfunction function = nullptr;
    EXPECT_EQ(cuModuleGetFunction(&function, module, name), CUDA_SUCCESS) << name;
    return function;
}

CUresult launch(CUfunction function, unsigned grid_x, unsigned block_x, std::vector<void*> params,
                unsigned shared_bytes) {
    return cuLaunchKernel(function, grid_x, 1, 1, block_x, 1, 1, shared_bytes, nullptr, params.data(), nullptr);
}
