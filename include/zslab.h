/*
 * zslab.h: the C API of zslab, the temporal-slab malloc replacement.
 *
 * Programs do not link against zslab: they run under
 * LD_PRELOAD=libzslab.so and look these functions up with
 * dlsym(RTLD_DEFAULT, "..."), so the same binary works unchanged (with the
 * lookups returning NULL) when zslab is not loaded. See
 * examples/epoch_phases.c for the pattern.
 *
 * Epochs: a ring of 16 epochs (0-15) and a monotonic era. Objects go to
 * spans of the current epoch; an advance closes it (its spans never get
 * new objects again, until their survivors have stopped dying) and opens
 * the next slot under a new era. Empty spans are reclaimed at once whatever
 * their epoch's state; pages without live objects go back to the OS when a
 * phase ends or after a short delay.
 *
 * The statistics structs below follow src/stats.rs field for field (a unit
 * test checks it); every field after version and size is a uint64_t.
 */
#ifndef ZSLAB_H
#define ZSLAB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZSLAB_EPOCHS 16
#define ZSLAB_STATS_VERSION 2

/* Epoch states in struct zslab_epoch_stats. */
#define ZSLAB_EPOCH_UNUSED 0
#define ZSLAB_EPOCH_ACTIVE 1
#define ZSLAB_EPOCH_CLOSING 2

/* zslab's version, e.g. "0.2.0". */
const char *zslab_version(void);

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

/* Give back to the OS now everything zslab holds without a live object:
 * cached empty spans and huge blocks, the calling thread's free pages, and
 * the pages other threads' remote frees emptied. Returns the bytes. */
size_t slab_reclaim(void);

/* Epoch domains: a thread-scoped scope whose allocations land in an epoch
 * of its own, so a request's memory empties together and goes back when
 * the scope closes.
 *
 * slab_domain_enter(label): enter the innermost domain again if it has this
 * label (counted), else open a new one nested in it (at most 32 deep).
 * Returns its id, or 0 with errno set (EOVERFLOW: too deep).
 * slab_domain_exit(): leave the innermost domain; the exit that brings its
 * count to zero closes its epoch (its spans empty as its objects die and
 * wait in the hot caches for the next domain; malloc_trim returns them).
 * Returns 0, or -1 with errno EINVAL when no domain is entered.
 * slab_domain_force_close(id): close the innermost domain `id` whatever its
 * count. Returns 0, or -1 (EINVAL: none entered; EPERM: not this thread's
 * innermost domain). Domains belong to the thread that entered them; the
 * others' are out of its reach.
 * slab_domain_current(): the innermost domain's id, 0 outside any.
 * A refused call also prints one line on stderr. */
uint64_t slab_domain_enter(const char *label);
int slab_domain_exit(void);
int slab_domain_force_close(uint64_t id);
uint64_t slab_domain_current(void);

/* Snapshots. Pass sizeof(your struct) as `size`: zslab fills at most that
 * many bytes, so a program built against an older, shorter struct keeps
 * working. `version` and `size` tell what zslab filled in. Return 0, or -1. */
struct zslab_global_stats {
    uint32_t version, size;
    uint64_t small_allocs;        /* Allocations of small objects (16 B to 8 KiB). */
    uint64_t small_frees;         /* Frees of small objects. */
    uint64_t medium_allocs;       /* Allocations of medium objects (above 8 KiB to 1 MiB). */
    uint64_t medium_frees;        /* Frees of medium objects. */
    uint64_t huge_allocs;         /* Allocations of huge blocks (above 1 MiB). */
    uint64_t huge_frees;          /* Frees of huge blocks. */
    uint64_t large_allocs;        /* Allocations above 8 KiB (medium and huge). */
    uint64_t large_frees;         /* Frees above 8 KiB (medium and huge). */
    uint64_t region_full_fallbacks;/* Blocks glibc served because zslab could not (its region was full or smaller than the request, or a thread heap could not be set up); requests glibc failed too are not counted. */
    uint64_t live_objects;        /* Small and medium objects allocated and not freed. */
    uint64_t live_bytes;          /* Bytes of live small and medium objects (block sizes). */
    uint64_t huge_live_bytes;     /* Bytes of live huge blocks. */
    uint64_t committed_bytes;     /* Resident memory zslab holds: pages of spans in use, cached spans and huge blocks, and kept unused pages. */
    uint64_t active_bytes;        /* Committed bytes of spans in use. */
    uint64_t cached_bytes;        /* Committed bytes of empty spans in the hot caches. */
    uint64_t huge_cached_bytes;   /* Bytes of freed huge blocks kept for reuse. */
    uint64_t unused_resident_bytes;/* Bytes of unused slabs whose pages were kept. */
    uint64_t slabs_in_use;        /* Spans in use (owned by a thread or orphaned). */
    uint64_t cached_slabs;        /* Empty spans in the hot caches. */
    uint64_t unused_slabs;        /* Unused slabs in the region's free runs. */
    uint64_t region_reserved_bytes;/* Address space reserved for zslab. */
    uint64_t region_used_bytes;   /* Address space ever handed out. */
    uint64_t madvise_calls;       /* madvise calls giving pages back. */
    uint64_t madvise_bytes;       /* Bytes given back with madvise. */
    uint64_t madvise_failures;    /* madvise calls that failed (pages kept). */
    uint64_t purges;              /* Page-granular returns from spans in use. */
    uint64_t purged_bytes;        /* Bytes given back from spans in use. */
    uint64_t drains;              /* Phase ends detected (a heap's frees outran its allocations). */
    uint64_t thrashes;            /* Returned pages needed again soon after. */
    uint64_t helped_spans;        /* Spans whose pages another thread gave back for an idle owner. */
    uint64_t cache_hits;          /* Spans reused from a hot cache. */
    uint64_t cache_misses;        /* Spans taken from the region because no cached one was there. */
    uint64_t cache_overflows;     /* Empty spans pushed out of a full hot cache. */
    uint64_t decayed_slabs;       /* Cached spans given back after the decay delay. */
    uint64_t refills;             /* Spans set aside because they were full. */
    uint64_t adopted_slabs;       /* Spans adopted from exited threads. */
    uint64_t recycled_slabs;      /* Spans of closed epochs reused for the current epoch. */
    uint64_t orphaned_slabs;      /* Spans left by exiting threads. */
    uint64_t retired_slabs;       /* Spans retired by an epoch change. */
    uint64_t remote_frees;        /* Frees of objects allocated by another thread. */
    uint64_t epoch_switches;      /* Times a heap noticed an epoch advance. */
    uint64_t double_frees;        /* Double frees detected. */
    uint64_t invalid_frees;       /* Invalid pointers detected. */
    uint64_t threads;             /* Threads that got a heap. */
    uint64_t huge_cache_hits;     /* Huge blocks reused from the cache. */
    uint64_t huge_grown_in_place; /* Huge blocks grown in place by realloc. */
    uint64_t huge_remapped;       /* Huge blocks moved with mremap by realloc. */
    uint64_t lock_free_runs;      /* Acquisitions of the region's free-run lock. */
    uint64_t lock_class_pools;    /* Acquisitions of class pool locks (hot caches, orphans). */
    uint64_t lock_huge_cache;     /* Acquisitions of the huge cache lock. */
    uint64_t lock_purge_queue;    /* Acquisitions of purge queue locks. */
    uint64_t lock_heap_list;      /* Acquisitions of the heap list lock (thread start and exit). */
    uint64_t lock_epoch_advance;  /* Acquisitions of the epoch advance lock. */
    uint64_t purge_queue_len;     /* Spans waiting for their free pages to go back. */
    uint64_t current_epoch;       /* The current epoch (0-15). */
    uint64_t background_thread;   /* 1 if the background thread runs. */
    uint64_t current_era;         /* The current era (advances since start). */
    uint64_t epoch_advances;      /* Epoch advances. */
    uint64_t rss_bytes;           /* Resident set size of the process. */
    uint64_t pair_shared;         /* Heaps whose 32- and 64-byte objects began sharing chunks (ZSLAB_SHARE_AFTER). */
};

struct zslab_class_stats {
    uint32_t version, size;
    uint64_t class_index;         /* Class number. */
    uint64_t object_size;         /* Block size of the class. */
    uint64_t span_bytes;          /* Bytes of one span of the class. */
    uint64_t allocs;              /* Allocations. */
    uint64_t frees;               /* Frees. */
    uint64_t live_objects;        /* Live objects. */
    uint64_t live_bytes;          /* Bytes of live objects. */
    uint64_t slabs;               /* Spans in use. */
    uint64_t cached_slabs;        /* Empty spans in the hot cache. */
    uint64_t committed_bytes;     /* Committed bytes of spans in use. */
    uint64_t cache_hits;          /* Spans reused from the hot cache. */
    uint64_t cache_misses;        /* Spans taken from the region. */
    uint64_t cache_overflows;     /* Spans pushed out of a full cache. */
    uint64_t adopted;             /* Spans adopted from exited threads. */
    uint64_t recycled;            /* Spans of closed epochs reused. */
    uint64_t refills;             /* Spans set aside full. */
    uint64_t purged_bytes;        /* Bytes given back from spans in use. */
    double recycle_rate_pct;        /* 100 * hits / (hits + overflows) */
};

struct zslab_epoch_stats {
    uint32_t version, size;
    uint64_t epoch;               /* Epoch slot (0-15). */
    uint64_t state;               /* 0 unused, 1 active, 2 closing. */
    uint64_t era;                 /* Era of the slot's current incarnation. */
    uint64_t open_since_ns;       /* When the incarnation opened (monotonic ns). */
    uint64_t age_ns;              /* How long it has been open. */
    uint64_t live_objects;        /* Live small and medium objects. */
    uint64_t live_bytes;          /* Bytes of those objects. */
    uint64_t huge_blocks;         /* Live huge blocks allocated in the epoch. */
    uint64_t huge_bytes;          /* Bytes of those blocks. */
    uint64_t slabs;               /* Spans in use. */
    uint64_t committed_bytes;     /* Committed bytes of those spans. */
    uint64_t reclaimable_slabs;   /* Empty spans of this epoch in the hot caches (returned by close). */
    uint64_t reclaimed_slabs;     /* Spans of this epoch that emptied. */
    uint64_t madvise_calls;       /* madvise calls for memory of this epoch. */
    uint64_t madvise_bytes;       /* Bytes of this epoch given back. */
    uint64_t rss_before_close;    /* RSS at the start of the last explicit close. */
    uint64_t rss_after_close;     /* RSS at the end of the last explicit close. */
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
