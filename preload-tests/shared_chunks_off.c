// expect: exit 0
// env: ZSLAB_SHARED_CHUNKS=off
/* shared_chunks_off: the shared_chunks workload with 32- and 64-byte
 * blocks in spans of their own (ZSLAB_SHARED_CHUNKS=off). */
#define TEST_NAME "shared_chunks_off"
#include "shared_chunks.c"
