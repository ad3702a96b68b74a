#include "util/memory.h"

#include <malloc.h>

namespace tether {

void LimitMallocArenas(int arenas) { mallopt(M_ARENA_MAX, arenas); }

void ReleaseFreeHeap() { malloc_trim(0); }

}  // namespace tether
