/* store: what mentiond reads back from Redis and keeps there besides the
 * alerts: the sources' stream positions (it implements position.h's store),
 * the rules hash, the surge baselines (baseline.h), and the status records
 * (the instance heartbeat, the rules status).  Beside the sink, over the same connection (redis_conn.h);
 * the daemon wires it, sources see only the position interface.
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
struct redis_conn;
struct redis_sink;

struct store;

#include <stddef.h>

/* sink: which alerts are settled, so a position is saved only past them. */
struct store *store_new(struct event_base *base, struct redis_conn *conn, struct redis_sink *sink,
                        const char *key_prefix);
void store_free(struct store *st);
const struct position_store *store_positions(struct store *st);
/* A clean shutdown with everything delivered: every position reached is
 * safe; saved now. */
void store_positions_final(struct store *st);

/* The hash at key (HGETALL): done runs once with its fields and values
 * (valid during the call; ok = 0: not read, Redis away or the command
 * failed).  -1 (done not called) when Redis is not up or this reader's
 * last read is still in flight.  ctx must live until done has run or the
 * store is freed (the daemon's readers do). */
enum store_reader { STORE_READ_RULES, STORE_READ_BASELINES, STORE_READ_RATES, STORE_READERS };
typedef void (*store_hash_fn)(void *ctx, int ok, const char *const *fields, const char *const *vals, int n);
int store_hash_read(struct store *st, enum store_reader who, const char *key, store_hash_fn done, void *ctx);

/* 1 while Redis is connected. */
int store_ready(const struct store *st);
/* SET key value [EX ttl_s] (ttl_s 0: no expiry), fire and forget; -1 when
 * Redis is away. */
int store_set(struct store *st, const char *key, const char *val, size_t len, long long ttl_s);
/* Replace the hash at key with the n field/value pairs and let it expire
 * after ttl_s (one script: DEL, HSET, EXPIRE; readers never see half of it).
 * Fire and forget; an error reply is logged (rate-limited).  -1 when away. */
int store_hash_replace(struct store *st, const char *key, const char *const *fields, const char *const *vals, int n,
                       long long ttl_s);

/* HINCRBY each field of the hash at key by incr[i], and let the hash expire
 * after ttl_s (HINCRBY each, EXPIRE: one script).  Fire and forget; -1 when away. */
int store_hash_add(struct store *st, const char *key, const char *const *fields, const long long *incr, int n,
                   long long ttl_s);

#endif
