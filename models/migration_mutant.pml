/*
 * The mutated model: migration.pml with the source retiring to d as soon as
 * it sends d the package (RETIRE_EARLY: no confirm awaited; a RETIRED source
 * then answers only with done, as docs/migration.md §5 says). S is RETIRED
 * while no destination holds the state: a crash or loss of the package
 * loses every acknowledged value.
 * scripts/check-models.sh requires spin to REFUTE it: the end-state assertion
 * and the ltl claims `retired`, `kept` and `live` must each produce a
 * counterexample. If it ever verifies, those properties no longer constrain
 * the order "confirm, then retire" and the check of the real model proves
 * nothing about it.
 */
#define RETIRE_EARLY 1
#include "migration.pml"
