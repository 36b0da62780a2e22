// Runs code so that a memory fault (SIGSEGV/SIGBUS) or arithmetic trap (SIGFPE) inside it returns
// to the caller as a code instead of killing the process. Faults on threads outside a guarded call
// go to whatever handler was installed before (for example the .NET runtime's).
#pragma once

namespace medclip_emu {

constexpr int kGuardAborted = 1000;  // the code run_guarded returns after abort_guarded

// Returns 0 when fn(arg) returned normally, otherwise the signal number that interrupted it or
// kGuardAborted.
int run_guarded(void (*fn)(void*), void* arg);

// Leaves the innermost run_guarded of this thread, which then returns kGuardAborted.
[[noreturn]] void abort_guarded();

// Gives the calling thread an alternate signal stack so that a stack overflow can be reported too.
void install_alternate_signal_stack();

}  // namespace medclip_emu
