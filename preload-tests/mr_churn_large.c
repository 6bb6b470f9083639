// expect: exit 0
/* mr_churn_large: steady-state churn of medium and large blocks keeps its
 * pages.
 *
 * A window of 6 batches of 24 blocks (8 KiB - 1 MiB, log-uniform, the same
 * sizes in every batch, ~5 MB a batch) is live; each cycle frees the oldest
 * batch and allocates a new one (every page touched).  This runs for 1 s of
 * warm-up and 3 s measured, sampled every 100 ms.  Over the measured part:
 *  - RSS stays flat: max - min within 5% (or 2 MiB);
 *  - zslab's statistics' `madvise_calls` grows by at most 64 in total plus
 *    one per 16 cycles or 4 per sample (skipped if the field is absent);
 *  - page faults (getrusage minor faults) stay below 1% of the pages a
 *    cycle touches.
 * Under plain glibc (run.sh none) the figures are printed, not enforced.
 */
#define CHURN_NAME "mr_churn_large"
#define CHURN_LARGE 1
#include "mr_churn.h"

int main(void)
{
    churn_main();
    ok("mr_churn_large");
    return 0;
}
