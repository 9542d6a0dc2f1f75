/* rendezvous: see rendezvous.h. */
#include "rendezvous.h"
#include "util.h"

#include <string.h>

uint64_t rendezvous_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A member's weight for a key: FNV-1a of each, mixed together, so a
 * member's weights for different keys are unrelated. */
int rendezvous_pick(const char *const *members, int n, const char *key)
{
    uint64_t hk = rendezvous_mix(hash_bytes(key, strlen(key))), best = 0;
    int pick = -1;

    for (int i = 0; i < n; i++) {
        uint64_t w = rendezvous_mix(hash_bytes(members[i], strlen(members[i])) ^ hk);
        /* ties (never in practice) go to the smaller name, the same everywhere */
        if (pick < 0 || w > best || (w == best && strcmp(members[i], members[pick]) < 0)) {
            best = w;
            pick = i;
        }
    }
    return pick;
}
