// The emulator's NVRTC: logs, headers, options, kernel discovery and the module image.
#include "test_support.h"

namespace {

class NvrtcTest : public EmulatorTest {};

TEST_F(NvrtcTest, CompileErrorLogNamesFileAndLine) {
    const CompiledProgram compiled = compile_program(
        "extern \"C\" __global__ void broken(float* out) {\n"
        "    out[threadIdx.x] = 1.0f;\n"
        "    undeclared_name = 2;\n"
        "}\n",
        "broken_kernel.cu");
    EXPECT_EQ(compiled.result, NVRTC_ERROR_COMPILATION);
    EXPECT_NE(compiled.log.find("broken_kernel.cu:3:"), std::string::npos) << compiled.log;
    EXPECT_NE(compiled.log.find("undeclared_name"), std::string::npos) << compiled.log;
    EXPECT_STREQ(nvrtcGetErrorString(compiled.result), "NVRTC_ERROR_COMPILATION");
}

TEST_F(NvrtcTest, ErrorInAHeaderNamesTheHeader) {
    const CompiledProgram compiled = compile_program("#include \"common.cuh\"\nextern \"C\" __global__ void k() {}\n",
                                                     "uses_header.cu", {{"common.cuh", "\n\nint broken = ;\n"}});
    EXPECT_EQ(compiled.result, NVRTC_ERROR_COMPILATION);
    EXPECT_NE(compiled.log.find("common.cuh:3:"), std::string::npos) << compiled.log;
}

TEST_F(NvrtcTest, HeadersOptionsAndLaunchBoundsAreHonoured) {
    const std::string header = "__device__ __forceinline__ float scale(float x) { return SCALE * x; }\n";
    CUmodule module = load_module(
        "#include \"common.cuh\"\n"
        "// extern \"C\" __global__ void commented_out(float* out) {}\n"
        "extern \"C\" __global__ __launch_bounds__(256) void scaled(const float* __restrict__ in, float* out) {\n"
        "    out[threadIdx.x] = scale(in[threadIdx.x]);\n"
        "}\n",
        {{"common.cuh", header}}, {"--gpu-architecture=sm_80", "-default-device", "--std=c++17", "-lineinfo",
                                   "--use_fast_math", "-DSCALE=3.0f"});
    ASSERT_NE(module, nullptr);
    CUfunction function = nullptr;
    EXPECT_EQ(cuModuleGetFunction(&function, module, "commented_out"), CUDA_ERROR_NOT_FOUND);
    function = get_function(module, "scaled");
    CUdeviceptr in = upload(std::vector<float>{1, 2, 3}), out = upload(std::vector<float>(3));
    ASSERT_EQ(launch(function, 1, 3, {&in, &out}), CUDA_SUCCESS);
    EXPECT_EQ(download<float>(out, 3), (std::vector<float>{3, 6, 9}));
    EXPECT_EQ(cuModuleUnload(module), CUDA_SUCCESS);
}

TEST_F(NvrtcTest, BuiltInsOfTheKernelDialectCompile) {
    CUmodule module = load_module(R"(
extern "C" __global__ void builtins(float* f, double* d, int* i, unsigned int* u, unsigned short* bits, size_t n) {
    const float x = f[0];
    f[1] = expf(x) + logf(x) + sqrtf(x) + rsqrtf(x) + tanhf(x) + erff(x) + fabsf(-x) + fmaxf(x, 1.0f) +
           fminf(x, 1.0f) + powf(x, 2.0f) + __expf(x) + __logf(x) + floorf(x) + ceilf(x);
    d[1] = exp(d[0]) + log(d[0]) + sqrt(d[0]) + rsqrt(d[0]) + tanh(d[0]) + erf(d[0]) + fabs(d[0]) + fmax(d[0], 1.0) +
           fmin(d[0], 1.0);
    i[0] = isnan(NAN) + isinf(INFINITY) + (FLT_MAX > 1e38f) + min(3, 4) + max(3, 4) + warpSize;
    u[0] = __float_as_uint(__uint_as_float(0x3f800000u)) + (unsigned)__float_as_int(__int_as_float(1));
    i[1] = (int)(__double_as_longlong(__longlong_as_double(5LL)));
    float4 v = make_float4(1.0f, 2.0f, 3.0f, 4.0f);
    f[2] = v.x + v.y + v.z + v.w;
    bits[0] = (unsigned short)(__float_as_uint(1.0f) >> 16);
    i[2] = (int)n + (int)(alignof(float4));
    __syncwarp();
}
)");
    ASSERT_NE(module, nullptr);
    CUdeviceptr f = upload(std::vector<float>{0.5f, 0, 0}), d = upload(std::vector<double>{0.5, 0}),
                i = upload(std::vector<int>(3)), u = upload(std::vector<unsigned>(1)),
                bits = upload(std::vector<unsigned short>(1));
    size_t n = 7;
    ASSERT_EQ(launch(get_function(module, "builtins"), 1, 1, {&f, &d, &i, &u, &bits, &n}), CUDA_SUCCESS);
    EXPECT_EQ(download<int>(i, 3), (std::vector<int>{1 + 1 + 1 + 3 + 4 + 32, 5, 7 + 16}));
    EXPECT_EQ(download<unsigned>(u, 1)[0], 0x3f800001u);
    EXPECT_EQ(download<float>(f, 3)[2], 10.0f);
    EXPECT_EQ(download<unsigned short>(bits, 1)[0], 0x3f80);
}

TEST_F(NvrtcTest, SharedMemoryDeclarationFormsAndWarpVotes) {
    CUmodule module = load_module(R"(
extern "C" __global__ void shared_forms(float* out) {
    __shared__ alignas(16) float a[32];
    __shared__ __align__(16) float b[32];
    volatile __shared__ int flag;
    extern __shared__ __align__(16) unsigned char raw[];
    float4* vectors = reinterpret_cast<float4*>(raw);
    const int t = threadIdx.x;
    a[t] = (float)t;
    if (t == 0) flag = 7;
    __syncthreads();
    b[t] = a[31 - t] + flag;
    if (t < 8) vectors[t] = make_float4(b[t], 0.0f, 0.0f, (float)((size_t)a % 16 + (size_t)b % 16));
    __syncthreads();
    const unsigned odd = __ballot_sync(0xffffffffu, t & 1);
    const float up = __shfl_up_sync(0xffffffffu, (float)t, 1);
    out[t] = vectors[t / 4].x + (odd == 0xaaaaaaaau ? 100.0f : 0.0f) + (t > 0 ? up - (t - 1) : 0.0f) +
             vectors[t / 4].w;
}
)");
    ASSERT_NE(module, nullptr);
    CUdeviceptr out = upload(std::vector<float>(32));
    ASSERT_EQ(launch(get_function(module, "shared_forms"), 1, 32, {&out}, 8 * 16), CUDA_SUCCESS);
    const auto values = download<float>(out, 32);
    for (int t = 0; t < 32; ++t) EXPECT_EQ(values[t], float(31 - t / 4) + 7.0f + 100.0f) << t;
}

TEST_F(NvrtcTest, ImageIsAcceptedOnlyByTheEmulatorsModuleLoader) {
    const CompiledProgram compiled = compile_program("extern \"C\" __global__ void k(int* p) { p[0] = 1; }\n");
    ASSERT_EQ(compiled.result, NVRTC_SUCCESS) << compiled.log;
    EXPECT_EQ(compiled.image.compare(0, 8, "MCEMUSO1"), 0);
    CUmodule module = nullptr;
    const char garbage[64] = "\x7f" "ELF not really";
    EXPECT_EQ(cuModuleLoadData(&module, garbage), CUDA_ERROR_INVALID_IMAGE);
    ASSERT_EQ(cuModuleLoadData(&module, compiled.image.data()), CUDA_SUCCESS);
    EXPECT_EQ(cuModuleUnload(module), CUDA_SUCCESS);
    int major = 0, minor = 0;
    EXPECT_EQ(nvrtcVersion(&major, &minor), NVRTC_SUCCESS);
    EXPECT_GE(major, 12);
}

}  // namespace
