#include "kernel_compiler.h"

#include "../prelude/emu_abi.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

extern char** environ;

namespace medclip_emu {

// Written into prelude_sources.cpp by CMake from prelude/*.h.
extern const char* const kCudaPreludeHeader;
extern const char* const kEmuAbiHeader;

namespace {

namespace fs = std::filesystem;

const char* const kCompilerFlags =
    "-std=c++20 -O2 -fPIC -shared -fvisibility=hidden -fno-gnu-unique -pthread -fdiagnostics-color=never";

std::string compiler() {
    const char* configured = std::getenv("MEDCLIP_CUDA_EMULATOR_CXX");
    return configured && *configured ? configured : MEDCLIP_EMU_DEFAULT_CXX;
}

// Comments become spaces (newlines kept), so positions and line numbers still match the original.
std::string blank_comments(const std::string& text) {
    std::string out = text;
    for (size_t i = 0; i + 1 < out.size(); ++i) {
        if (out[i] == '"' || out[i] == '\'') {
            const char quote = out[i];
            for (++i; i < out.size() && out[i] != quote && out[i] != '\n'; ++i)
                if (out[i] == '\\') ++i;
        } else if (out[i] == '/' && out[i + 1] == '/') {
            for (; i < out.size() && out[i] != '\n'; ++i) out[i] = ' ';
        } else if (out[i] == '/' && out[i + 1] == '*') {
            const size_t end = out.find("*/", i + 2);
            const size_t stop = end == std::string::npos ? out.size() : end + 2;
            for (; i < stop; ++i)
                if (out[i] != '\n') out[i] = ' ';
            --i;
        }
    }
    return out;
}

std::string trim(const std::string& text) {
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

uint64_t fnv1a(const std::string& text, uint64_t hash = 1469598103934665603ull) {
    for (unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
    return (hash ^ 0xff) * 1099511628211ull;  // a separator, so ("ab","c") and ("a","bc") differ
}

std::string safe_file_name(const std::string& name, const char* fallback) {
    std::string out;
    for (char c : name) out += (std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '/') ? c : '_';
    while (!out.empty() && out.front() == '/') out.erase(0, 1);
    if (out.empty() || out.find("..") != std::string::npos) return fallback;
    return out;
}

std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

void write_file(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string registration_code(const std::vector<std::string>& kernels) {
    std::ostringstream code;
    code << "\nnamespace {\n";
    if (!kernels.empty()) {
        code << "const ::medclip_emu::KernelEntry medclip_emu_kernels[] = {\n";
        for (const std::string& k : kernels)
            code << "    {\"" << k << "\", &::medclip_emu::launch<&" << k << ">, ::medclip_emu::param_count(&" << k
                 << ")},\n";
        code << "};\n";
    }
    code << "}\nextern \"C\" __attribute__((visibility(\"default\"))) const ::medclip_emu::ModuleTable* "
         << MEDCLIP_EMU_MODULE_TABLE_SYMBOL << "() {\n"
         << "    static const ::medclip_emu::ModuleTable table = {::medclip_emu::kAbiVersion, " << kernels.size()
         << ", " << (kernels.empty() ? "nullptr" : "medclip_emu_kernels") << "};\n    return &table;\n}\n";
    return code.str();
}

// Runs `command` with /bin/sh and returns its exit status (-1 when it could not run).
int run_shell(const std::string& command) {
    pid_t pid;
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::vector<std::string> find_kernel_names(const std::string& source) {
    static const std::regex kernel(
        R"(extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?([A-Za-z_]\w*)\s*\()");
    const std::string text = blank_comments(source);
    std::vector<std::string> names;
    for (std::sregex_iterator it(text.begin(), text.end(), kernel), end; it != end; ++it) {
        const std::string name = (*it)[1];
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    return names;
}

std::string rewrite_shared_memory(const std::string& original) {
    static const std::regex declaration(R"(extern\s+__shared__\s+([^;{}]*?)\s*\[\s*\]\s*;)");
    static const std::regex alignment(R"((alignas|__align__)\s*\([^)]*\))");
    static const std::regex trailing_name(R"(^(.*?)\b([A-Za-z_]\w*)$)");
    // `__shared__ alignas(16) T x[n]` is valid CUDA but `static alignas(16)` is not C++: swap the two.
    static const std::regex shared_alignas(R"(__shared__(\s+)(alignas\s*\([^)]*\)))");
    const std::string swapped = std::regex_replace(original, shared_alignas, "$2$1__shared__");
    const std::string& source = swapped;
    const std::string text = blank_comments(source);
    std::string out;
    size_t copied = 0;
    int depth = 0;
    size_t depth_at = 0;
    for (std::sregex_iterator it(text.begin(), text.end(), declaration), end; it != end; ++it) {
        const size_t at = size_t(it->position());
        for (; depth_at < at; ++depth_at) depth += text[depth_at] == '{' ? 1 : text[depth_at] == '}' ? -1 : 0;
        std::smatch parts;
        const std::string declarator = std::regex_replace(std::string((*it)[1]), alignment, "");
        if (!std::regex_match(declarator, parts, trailing_name)) continue;
        const std::string type = trim(parts[1]), name = parts[2];
        if (type.empty()) continue;
        out += source.substr(copied, at - copied);
        out += depth > 0 ? type + "* const " + name + " = static_cast<" + type +
                               "*>(::medclip_emu::env->dynamic_shared);"
                         : "constexpr ::medclip_emu::DynamicShared<" + type + "> " + name + "{};";
        copied = at + size_t(it->length());
    }
    return out + source.substr(copied);
}

std::string emulator_cache_directory() {
    const char* configured = std::getenv("MEDCLIP_CUDA_EMULATOR_CACHE");
    fs::path directory;
    if (configured && *configured) {
        directory = configured;
    } else {
        const char* temp = std::getenv("TMPDIR");
        directory = fs::path(temp && *temp ? temp : "/tmp") / ("medclip-cuda-emulator-" + std::to_string(getuid()));
    }
    std::error_code ignored;
    fs::create_directories(directory, ignored);
    return directory.string();
}

CompileResult compile_kernels(const std::string& name, const std::string& source,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              const std::vector<std::string>& options) {
    const std::string main_file = safe_file_name(name, "default_program.cu");
    std::string flags = kCompilerFlags;
    for (const std::string& option : options) {
        if (option.rfind("-D", 0) == 0 || option.rfind("-U", 0) == 0 || option.rfind("-I", 0) == 0)
            flags += " " + shell_quote(option);
        else if (option.rfind("--define-macro=", 0) == 0)
            flags += " " + shell_quote("-D" + option.substr(15));
        else if (option.rfind("--include-path=", 0) == 0)
            flags += " " + shell_quote("-I" + option.substr(15));
    }

    std::vector<std::pair<std::string, std::string>> files = {
        {"emu_abi.h", kEmuAbiHeader},
        {"cuda_prelude.h", kCudaPreludeHeader},
        {main_file, rewrite_shared_memory(source)},
    };
    for (const auto& [include_name, text] : headers)
        files.emplace_back(safe_file_name(include_name, "header.h"), rewrite_shared_memory(text));
    files.emplace_back("medclip_module.cpp", "#include \"cuda_prelude.h\"\n#include \"" + main_file + "\"\n" +
                                                 registration_code(find_kernel_names(source)));

    uint64_t hash = fnv1a(compiler() + " " + flags);
    for (const auto& [file, text] : files) hash = fnv1a(text, fnv1a(file, hash));
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hash);
    const fs::path cache = emulator_cache_directory(), cached = cache / (std::string(hex) + ".so");

    CompileResult result{false, "", ""};
    if (fs::exists(cached)) {
        result.ok = true;
        result.shared_object = read_file(cached);
        return result;
    }
    std::string work_template = (cache / "build-XXXXXX").string();
    if (!mkdtemp(work_template.data())) {
        result.log = "medclip cuda emulator: cannot create a build folder in " + cache.string() + "\n";
        return result;
    }
    const fs::path work = work_template;
    for (const auto& [file, text] : files) write_file(work / file, text);
    const int status = run_shell("cd " + shell_quote(work.string()) + " && " + shell_quote(compiler()) + " " + flags +
                                 " -o module.so medclip_module.cpp > compile.log 2>&1");
    result.log = read_file(work / "compile.log");
    if (status == 0) {
        result.ok = true;
        result.shared_object = read_file(work / "module.so");
        std::error_code ignored;
        fs::rename(work / "module.so", cached, ignored);  // atomic: concurrent compilers may race here
    } else if (result.log.empty()) {
        result.log = "medclip cuda emulator: could not run the compiler " + compiler() + "\n";
    }
    std::error_code ignored;
    fs::remove_all(work, ignored);
    return result;
}

}  // namespace medclip_emu
