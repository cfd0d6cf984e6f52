/*
 * The mutated model: rolling_update.pml with the eviction guard removed
 * (GUARD is `true`: every O voter is evicted as soon as the grace period is
 * over, leadership still transferred first). scripts/check-models.sh requires
 * spin to REFUTE it: an assertion at the eviction and the ltl `safety` claim
 * must each produce a counterexample. If it ever verifies, the properties no
 * longer constrain the rule and the check of the real model proves nothing.
 */
#define MUTANT 1
#include "rolling_update.pml"
