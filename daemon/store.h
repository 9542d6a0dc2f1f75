/* store: what mentiond reads back from Redis and keeps there besides the
 * alerts: the sources' stream positions (it implements position.h's store)
 * and the rules hash.  Beside the sink, over the same connection; the
 * daemon wires it, sources see only the position interface.
 *
 * Positions: <prefix>:cursor:<source>, the highest position processed,
 * saved once every alert from the records before it is settled in Redis
 * (acknowledged, withdrawn or dropped), so a restart never skips an alert
 * it had not delivered; kept 7 days (longer than Jetstream's window).
 * Owner: the daemon; store_free() accepts NULL and must come after every
 * source that opened a position is freed.
 */
#ifndef MENTIOND_STORE_H
#define MENTIOND_STORE_H

struct event_base;
struct position_store;
struct redis_sink;

struct store;

struct store *store_new(struct event_base *base, struct redis_sink *sink, const char *key_prefix);
void store_free(struct store *st);
const struct position_store *store_positions(struct store *st);
/* A clean shutdown with everything delivered: every position reached is
 * safe; saved now. */
void store_positions_final(struct store *st);

/* The rules hash at key: done runs once with its fields and values (valid
 * during the call; ok = 0: not read, Redis away or the command failed).
 * -1 (done not called) when Redis is not up or a read is in flight. */
typedef void (*store_hash_fn)(void *ctx, int ok, const char *const *fields, const char *const *vals, int n);
int store_rules_read(struct store *st, const char *key, store_hash_fn done, void *ctx);

#endif
