/*
 * zslab.h: the C API of zslab, the temporal-slab malloc replacement.
 *
 * Programs do not link against zslab: they run under
 * LD_PRELOAD=libzslab.so and look these functions up with
 * dlsym(RTLD_DEFAULT, "..."), so the same binary works unchanged (with the
 * lookups returning NULL) when zslab is not loaded. See
 * examples/epoch_phases.c for the pattern.
 *
 * Epochs: a ring of 16 epochs (0-15) and a monotonic era. Small objects go
 * to slabs of the current epoch; an advance closes it (its slabs never get
 * new objects again) and opens the next slot under a new era. Empty slabs
 * are reclaimed at once whatever their epoch's state.
 */
#ifndef ZSLAB_H
#define ZSLAB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZSLAB_EPOCHS 16
#define ZSLAB_STATS_VERSION 1

/* Epoch states in struct zslab_epoch_stats. */
#define ZSLAB_EPOCH_UNUSED 0
#define ZSLAB_EPOCH_ACTIVE 1
#define ZSLAB_EPOCH_CLOSING 2

/* Close the current epoch and open the next one. Returns the new epoch. */
unsigned slab_epoch_advance(void);

/* The current epoch (0-15). */
unsigned slab_epoch_current(void);

/* Era (monotonic incarnation number) of epoch slot `epoch`; UINT64_MAX if
 * `epoch` is not 0-15. */
uint64_t slab_epoch_era(unsigned epoch);

/* Close `epoch`: no new object lands in it (closing the current epoch
 * advances first); its cached empty slabs go back to the OS now; RSS before
 * and after is recorded in its stats. Live objects stay valid. Returns 0, or
 * -1 (errno EINVAL) if `epoch` is not 0-15. */
int slab_epoch_close(unsigned epoch);

/* Attach a label (at most 31 bytes are kept; NULL clears it) to `epoch`.
 * Returns 0, or -1 (errno EINVAL) if `epoch` is not 0-15. The label is reset
 * when the slot is reopened by an advance. */
int slab_epoch_set_label(unsigned epoch, const char *label);

/* Return every cached empty slab to the OS now. Returns the bytes given
 * back. */
size_t slab_reclaim(void);

/* Snapshots. Pass sizeof(your struct) as `size`: zslab fills at most that
 * many bytes, so a program built against an older, shorter struct keeps
 * working. `version` and `size` tell what zslab filled in. Return 0, or -1. */
struct zslab_global_stats {
    uint32_t version, size;
    uint64_t small_allocs;          /* allocations served from slabs */
    uint64_t small_frees;
    uint64_t live_objects;          /* small objects allocated, not freed */
    uint64_t live_bytes;            /* their block sizes */
    uint64_t large_allocs;          /* allocations delegated to glibc */
    uint64_t large_frees;
    uint64_t committed_bytes;       /* slab pages not returned: active + cached + unused_resident */
    uint64_t active_bytes;          /* committed bytes of slabs in use */
    uint64_t cached_bytes;          /* committed bytes of empty slabs in the hot caches */
    uint64_t unused_resident_bytes; /* pages of unused slabs not returned (ZSLAB_RECLAIM=off, madvise failure) */
    uint64_t slabs_in_use;
    uint64_t cached_slabs;          /* empty slabs in the hot caches */
    uint64_t unused_slabs;          /* slabs back in the unused pool */
    uint64_t region_reserved_bytes; /* address space reserved for slabs */
    uint64_t region_used_bytes;     /* part of it ever used */
    uint64_t madvise_calls;
    uint64_t madvise_bytes;
    uint64_t madvise_failures;
    uint64_t cache_hits;            /* slab taken from the hot cache */
    uint64_t cache_misses;          /* slab taken from the unused pool (a "new" slab) */
    uint64_t cache_overflows;       /* empty slab pushed out of a full cache and returned */
    uint64_t decayed_slabs;         /* cached slabs returned after ZSLAB_DECAY_MS */
    uint64_t refills;               /* a thread's current slab was full */
    uint64_t adopted_slabs;         /* slabs of exited threads taken over */
    uint64_t orphaned_slabs;        /* slabs left by exiting threads */
    uint64_t retired_slabs;         /* slabs retired by an epoch change */
    uint64_t remote_frees;          /* frees of objects owned by another thread */
    uint64_t epoch_switches;        /* heaps that noticed an epoch advance */
    uint64_t region_full_fallbacks; /* small requests given to glibc: region full */
    uint64_t double_frees;
    uint64_t invalid_frees;
    uint64_t threads;               /* threads that got a heap */
    uint32_t current_epoch;
    uint32_t background_thread;     /* 1 if the decay thread runs */
    uint64_t current_era;
    uint64_t epoch_advances;
    uint64_t rss_bytes;             /* the process's RSS (/proc/self/statm) */
};

struct zslab_class_stats {
    uint32_t version, size;
    uint32_t class_index;
    uint32_t object_size;
    uint64_t allocs, frees, live_objects, live_bytes;
    uint64_t slabs, cached_slabs, committed_bytes;
    uint64_t cache_hits, cache_misses, cache_overflows, adopted, refills;
    double recycle_rate_pct;        /* 100 * hits / (hits + overflows) */
};

struct zslab_epoch_stats {
    uint32_t version, size;
    uint32_t epoch;
    uint32_t state;                 /* ZSLAB_EPOCH_* */
    uint64_t era;
    uint64_t open_since_ns;         /* CLOCK_MONOTONIC when the slot opened */
    uint64_t age_ns;
    uint64_t live_objects, live_bytes;
    uint64_t slabs, committed_bytes;
    uint64_t reclaimable_slabs;     /* its empty slabs in the hot caches */
    uint64_t reclaimed_slabs;       /* its slabs that emptied and were reclaimed */
    uint64_t madvise_calls, madvise_bytes;
    uint64_t rss_before_close, rss_after_close; /* around the last slab_epoch_close */
    char label[32];
};

int slab_stats_global(struct zslab_global_stats *out, size_t size);
unsigned slab_stats_class_count(void);
int slab_stats_class(unsigned cls, struct zslab_class_stats *out, size_t size);
int slab_stats_epoch(unsigned epoch, struct zslab_epoch_stats *out, size_t size);

/* The statistics as one JSON object, NUL-terminated and truncated to `len`.
 * Returns the full length (call again with a larger buffer if it is >= len). */
size_t slab_stats_json(char *buf, size_t len);

/* Print the human-readable statistics to file descriptor `fd`. */
int slab_stats_print(int fd);

#ifdef __cplusplus
}
#endif
#endif /* ZSLAB_H */
