// tetherd's heap: glibc malloc's arenas, and freed memory handed back to the kernel.
#pragma once

namespace tether {

// Caps glibc malloc's arenas (default: 8 per CPU, each thread that allocates while the others'
// arenas are busy gets its own). Freed memory stays in the arena it came from, so the more
// arenas, the more of it a burst of work on many threads (a pull's layer workers, the gRPC
// server's threads) leaves resident. Call at start, before any thread exists.
void LimitMallocArenas(int arenas);

// Hands the free pages of every malloc arena back to the kernel (malloc_trim): after a burst of
// large allocations, such as a pull or an import, whose buffers are freed but stay resident.
void ReleaseFreeHeap();

}  // namespace tether
