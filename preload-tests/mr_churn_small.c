// expect: exit 0
/* mr_churn_small: steady-state churn of small objects keeps its pages.
 *
 * A window of 8 batches of 5000 objects (16 B - 1 KiB, the same sizes in
 * every batch) is live; each cycle frees the oldest batch and allocates a
 * new one (allocations and frees balanced, every byte written).  This runs
 * for 1 s of warm-up and 3 s measured, sampled every 100 ms.  Over the
 * measured part:
 *  - RSS stays flat: max - min within 5% (or 2 MiB);
 *  - zslab's statistics' `madvise_calls` grows by at most 64 in total plus
 *    one per 16 cycles or 4 per sample (a cycle stalled on a loaded
 *    machine may make a span look quiet), not per cycle; skipped if the
 *    field is absent;
 *  - page faults (getrusage minor faults) stay below 1% of the pages a
 *    cycle touches: memory is not returned and faulted back every cycle.
 * Under plain glibc (run.sh none) the figures are printed, not enforced.
 */
#define CHURN_NAME "mr_churn_small"
#define CHURN_LARGE 0
#include "mr_churn.h"

int main(void)
{
    churn_main();
    ok("mr_churn_small");
    return 0;
}
