// The one device's primary context: whether it exists, whether this thread has it current, and the
// sticky error that a faulting kernel leaves behind (as on real hardware, every later call in the
// context fails with it until the primary context is released for good and retained afresh).
#pragma once

#include "cuda_api.h"

namespace medclip_emu {

// CUDA_SUCCESS when the calling thread may use the context; otherwise the error to return.
CUresult context_status();

void set_sticky_error(CUresult error);

// The sticky error alone (CUDA_SUCCESS when none), for libraries that need no current context.
CUresult sticky_error();

}  // namespace medclip_emu
