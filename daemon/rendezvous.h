/* rendezvous: highest-random-weight hashing, which member of a fleet runs
 * a source.  Every member computes the same answer from the same member
 * list, and when a member joins or leaves only the sources it wins or held
 * move (about 1/n of them), unlike a modulo that reshuffles everything.
 * Pure: unit-tested.
 */
#ifndef MENTIOND_RENDEZVOUS_H
#define MENTIOND_RENDEZVOUS_H

#include <stdint.h>

/* The index of the member picked for key among n (-1 when n is 0). */
int rendezvous_pick(const char *const *members, int n, const char *key);
/* A 64-bit finaliser (splitmix64's): every input bit moves every output bit. */
uint64_t rendezvous_mix(uint64_t x);

#endif
