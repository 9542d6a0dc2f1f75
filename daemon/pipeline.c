/* pipeline: feeds, matching, scoring, encoding; see pipeline.h. */
#include "pipeline.h"
#include "log.h"
#include "scorer.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

void pipeline_init(struct pipeline *pl, const char *instance, const struct ruleset *rs,
                   alert_sink_fn sink, void *sink_ctx)
{
    memset(pl, 0, sizeof *pl);
    pl->instance = instance;
    pl->sink = sink;
    pl->sink_ctx = sink_ctx;
    match_ctx_init(&pl->mc);
    pl->jw = jw_new();
    if (!pl->jw)
        abort();
    pipeline_set_rules(pl, rs);
}

void pipeline_free(struct pipeline *pl)
{
    match_ctx_free(&pl->mc);
    jw_free(pl->jw);
    free(pl->rule_matches);
    pl->jw = NULL;
    pl->rule_matches = NULL;
}

void pipeline_set_rules(struct pipeline *pl, const struct ruleset *rs)
{
    pl->rs = rs;
    free(pl->rule_matches);
    pl->rule_matches = xcalloc((size_t)(rs ? rs->n : 0) + 1, sizeof *pl->rule_matches);
}

void pipeline_post(struct pipeline *pl, struct post *p)
{
    struct score sc;
    struct alert *a;
    int n;

    pl->st.posts++;
    n = matcher_match(&pl->mc, pl->rs->m, p);
    if (n < 0) {
        pl->st.bad_text++;
        log_limited(LOG_WARNING, "source %s: post %s: text is not valid UTF-8; dropped",
                    p->source_name, p->id);
        return;
    }
    if (n == 0)
        return;
    pl->st.matched++;
    for (int i = 0; i < n; i++)
        pl->rule_matches[pl->mc.hits[i].rule]++;
    scorer_score(pl->rs, &pl->mc, p, &sc);
    a = alert_build(pl->jw, pl->instance, pl->rs, &pl->mc, &sc, p, now_real_ms());
    if (!a) {
        pl->st.encode_failed++;
        log_limited(LOG_WARNING, "source %s: post %s: alert could not be encoded; dropped",
                    p->source_name, p->id);
        return;
    }
    log_msg(LOG_DEBUG, "alert %s -> %s/%s score %d", a->id, a->queue, level_names[a->level], a->score);
    pl->sink(pl->sink_ctx, a);
}

int feed_init(struct feed *f, const char *name, const char *type, const char *format,
              const struct source_conf *sc, struct pipeline *pl)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    f->type = type;
    f->pl = pl;
    framer_init(&f->fr, sc ? (size_t)sc->max_record : FRAMING_DEFAULT_MAX_RECORD);
    if (decoder_open(&f->dec, format, sc) != 0) {
        framer_free(&f->fr);
        return -1;
    }
    return 0;
}

void feed_free(struct feed *f)
{
    framer_free(&f->fr);
    decoder_close(&f->dec);
}

static void feed_on_post(void *ctx, struct post *p)
{
    struct feed *f = ctx;

    f->st.posts++;
    p->source_name = f->name;
    p->source_type = f->type;
    p->received_ms = f->chunk_ms;
    p->received_us_mono = f->chunk_us;
    pipeline_post(f->pl, p);
}

static int feed_on_record(void *ctx, const char *rec, size_t len, uint64_t offset)
{
    struct feed *f = ctx;
    char err[256];

    switch (decoder_run(&f->dec, rec, len, feed_on_post, f, err, sizeof err)) {
    case DECODE_OK:
        break;
    case DECODE_CONTROL:
        f->st.control++;
        f->control_seen = 1;
        str_copy(f->last_control, err, sizeof f->last_control);
        log_msg(LOG_NOTICE, "source %s: stream offset %llu: %s", f->name,
                (unsigned long long)offset, err);
        break;
    case DECODE_SKIP:
        f->st.skipped++;
        log_limited(LOG_INFO, "source %s: stream offset %llu: record skipped: %s", f->name,
                    (unsigned long long)offset, err);
        break;
    case DECODE_MALFORMED:
        /* The reason only, never the record: it may hold personal data. */
        f->st.malformed++;
        log_limited(LOG_WARNING, "source %s: stream offset %llu: malformed record (%zu bytes) "
                    "skipped: %s", f->name, (unsigned long long)offset, len, err);
        break;
    }
    return 0;
}

void feed_bytes(struct feed *f, const char *p, size_t n)
{
    uint64_t over = f->fr.stats.oversized;

    f->chunk_ms = now_real_ms();
    f->chunk_us = now_mono_us();
    f->st.bytes += n;
    framer_feed(&f->fr, p, n, feed_on_record, f);
    if (f->fr.stats.oversized != over)
        log_limited(LOG_WARNING, "source %s: record over %zu bytes skipped (%llu so far)",
                    f->name, f->fr.max_record, (unsigned long long)f->fr.stats.oversized);
}

void feed_finish(struct feed *f, int deliver_partial)
{
    uint64_t trunc = f->fr.stats.truncated;

    framer_finish(&f->fr, deliver_partial, feed_on_record, f);
    if (f->fr.stats.truncated != trunc)
        log_limited(LOG_WARNING, "source %s: connection ended inside a record; partial record dropped",
                    f->name);
}

uint64_t feed_rejected(const struct feed *f)
{
    return f->st.malformed + f->fr.stats.oversized + f->fr.stats.truncated;
}
