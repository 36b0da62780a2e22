// The emulator's NVRTC back end: kernel sources become a C++ shared object, compiled by g++ with the
// CUDA prelude and a generated table of launchers (one per `extern "C" __global__` kernel).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace medclip_emu {

struct CompileResult {
    bool ok;
    std::string log;            // the compiler's messages, naming the program's files and lines
    std::string shared_object;  // the compiled module when ok
};

// Compiles `source` (called `name` in messages) with the given headers (include name, text) and
// NVRTC options; -D, -U and -I options are passed on, the others are ignored. Results are cached on
// disk by a hash of everything that goes into them.
CompileResult compile_kernels(const std::string& name, const std::string& source,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::vector<std::string>& options);

// Names of the `extern "C" __global__ void NAME(` kernels outside comments, in order, once each.
std::vector<std::string> find_kernel_names(const std::string& source);

// Turns each `extern __shared__ T name[];` into a name for the launch's dynamic shared memory and
// moves alignas in front of __shared__, keeping every line where it was.
std::string rewrite_shared_memory(const std::string& source);

// Folder for compiled modules ($MEDCLIP_CUDA_EMULATOR_CACHE, else $TMPDIR/medclip-cuda-emulator-UID).
std::string emulator_cache_directory();

}  // namespace medclip_emu
