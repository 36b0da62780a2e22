#include "fault_guard.h"

#include <csetjmp>
#include <csignal>
#include <cstdlib>
#include <mutex>

namespace medclip_emu {
namespace {

struct GuardFrame {
    sigjmp_buf jump;
};

// initial-exec: the signal handler must read this without calling into the dynamic TLS allocator.
__thread GuardFrame* tls_guard __attribute__((tls_model("initial-exec"))) = nullptr;

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE};
struct sigaction previous_actions[3];

void forward_to_previous(int signal, siginfo_t* info, void* context) {
    for (int i = 0; i < 3; ++i) {
        if (kSignals[i] != signal) continue;
        const struct sigaction& previous = previous_actions[i];
        if (previous.sa_flags & SA_SIGINFO) {
            if (previous.sa_sigaction) previous.sa_sigaction(signal, info, context);
            return;
        }
        if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
            previous.sa_handler(signal);
            return;
        }
    }
    // Default action: restore it; the faulting instruction runs again and terminates the process.
    ::signal(signal, SIG_DFL);
}

void on_fault(int signal, siginfo_t* info, void* context) {
    GuardFrame* frame = tls_guard;
    if (!frame) {
        forward_to_previous(signal, info, context);
        return;
    }
    tls_guard = nullptr;
    siglongjmp(frame->jump, signal);
}

void install_handlers() {
    struct sigaction action = {};
    action.sa_sigaction = on_fault;
    // NODEFER: the handler leaves by siglongjmp without restoring the mask, so keep the signal unblocked.
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &action, &previous_actions[i]);
}

}  // namespace

int run_guarded(void (*fn)(void*), void* arg) {
    static std::once_flag installed;
    std::call_once(installed, install_handlers);
    GuardFrame frame;
    GuardFrame* const outer = tls_guard;
    tls_guard = &frame;
    const int code = sigsetjmp(frame.jump, 0);
    if (code == 0) fn(arg);
    tls_guard = outer;
    return code;
}

void abort_guarded() {
    GuardFrame* frame = tls_guard;
    if (!frame) std::abort();
    tls_guard = nullptr;
    siglongjmp(frame->jump, kGuardAborted);
}

void install_alternate_signal_stack() {
    stack_t stack = {};
    stack.ss_size = 64 * 1024;
    stack.ss_sp = std::malloc(stack.ss_size);
    if (stack.ss_sp) sigaltstack(&stack, nullptr);
}

}  // namespace medclip_emu
