/* decode_ndjson: generic feeds, one JSON object per record, whose fields are
 * mapped to the post by JSON pointers in the source section
 * (field.text = /message/body).  Only "id" and "text" are required.
 *
 * decode_sse: the same for server-sent events: the record is
 * "<event>\n<data>" (framing.h); events named in the source's "events"
 * list (default "message") carry a JSON object in their data, the others
 * are skipped and counted. */
#include "decode.h"
#include "framing.h"
#include "json.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct decoder {
    struct json_decoder jd;             /* first: json_decoder_new() */
    char *field[PF_COUNT];              /* JSON pointers (owned copies) */
    const char *val[PF_COUNT];
    int verified;
    long long followers;
    const char *reject;
    char *events;                       /* sse: ",name,name," */
};

static int nd_event(void *ctx, const struct json_event *ev)
{
    struct decoder *d = ctx;

    if (ev->depth == 0) {
        if (ev->type != JSON_MAP_START && ev->type != JSON_MAP_END) {
            *ev->reject = "record is not a JSON object";
            return 1;
        }
        return 0;
    }
    if (ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START ||
        ev->type == JSON_MAP_END || ev->type == JSON_ARRAY_END || ev->type == JSON_NULL)
        return 0;
    for (int i = 0; i < PF_COUNT; i++) {
        if (strcmp(ev->ptr, d->field[i]) != 0)
            continue;
        if (i == PF_author_verified) {
            d->verified = ev->type == JSON_BOOL ? ev->boolean : 0;
        } else if (i == PF_author_followers) {
            if (ev->type == JSON_NUMBER || ev->type == JSON_STRING)
                d->followers = strtoll(ev->val, NULL, 10);
        } else if (ev->type == JSON_STRING || ev->type == JSON_NUMBER) {
            d->val[i] = arena_strndup(&d->jd.arena, ev->val, ev->val_len);
            if (!d->val[i]) {
                *ev->reject = "record strings exceed the arena cap";
                return 1;
            }
        }
    }
    return 0;
}

static void nd_destroy(struct decoder *d);

static struct decoder *nd_create(const struct source_conf *sc)
{
    struct decoder *d = json_decoder_new(sizeof *d, sc, nd_event, 2);

    if (!d)
        return NULL;
    for (int i = 0; i < PF_COUNT; i++)
        if (!(d->field[i] = xstrdup_try(sc && sc->field[i] && *sc->field[i] ? sc->field[i]
                                                                            : post_field_defaults[i]))) {
            nd_destroy(d);
            return NULL;
        }
    return d;
}

static void nd_destroy(struct decoder *d)
{
    if (!d)
        return;
    free(d->events);
    for (int i = 0; i < PF_COUNT; i++)
        free(d->field[i]);
    json_decoder_free(&d->jd);
}

static enum decode_ret nd_decode(struct decoder *d, const char *rec, size_t len,
                                 decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    struct post p;

    arena_reset(&d->jd.arena);
    memset(d->val, 0, sizeof d->val);
    d->verified = 0;
    d->followers = -1;
    d->reject = NULL;
    if (json_reader_parse(d->jd.reader, rec, len, err, errlen) != 0)
        return DECODE_MALFORMED;
    if (d->reject) {
        snprintf(err, errlen, "%s", d->reject);
        return DECODE_MALFORMED;
    }
    if (!d->val[PF_id] || !d->val[PF_text]) {
        snprintf(err, errlen, "no %s at %s", d->val[PF_id] ? "text" : "id",
                 d->val[PF_id] ? d->field[PF_text] : d->field[PF_id]);
        return DECODE_MALFORMED;
    }
    post_clear(&p);
    p.id = d->val[PF_id];
    p.text = d->val[PF_text];
    p.lang = d->val[PF_lang];
    p.created_at = d->val[PF_created_at];
    p.url = d->val[PF_url];
    p.author.id = d->val[PF_author_id];
    p.author.handle = d->val[PF_author_handle];
    p.author.name = d->val[PF_author_name];
    p.author.followers = d->followers;
    p.author.verified = d->verified;
    p.conversation_id = d->val[PF_conversation_id];
    p.in_reply_to = d->val[PF_in_reply_to];
    p.is_reply = p.in_reply_to != NULL;
    p.controls = json_reader_take_controls(d->jd.reader);
    fn(ctx, &p);
    return DECODE_OK;
}

const struct decoder_ops decode_ndjson_ops = {
    .name = "ndjson",
    .create = nd_create,
    .destroy = nd_destroy,
    .decode = nd_decode,
};

static struct decoder *sse_create(const struct source_conf *sc)
{
    struct decoder *d = nd_create(sc);
    const char *ev = sc && sc->events ? sc->events : "message";
    size_t n = strlen(ev);

    if (!d)
        return NULL;
    /* ",a,b," with blanks removed, so a lookup is one strstr. */
    if (!(d->events = xmalloc_try(n + 3))) {
        nd_destroy(d);
        return NULL;
    }
    {
        char *w = d->events;
        *w++ = ',';
        for (const char *r = ev; *r; r++)
            if (*r != ' ' && *r != '\t')
                *w++ = *r;
        *w++ = ',';
        *w = '\0';
    }
    return d;
}

static enum decode_ret sse_decode(struct decoder *d, const char *rec, size_t len,
                                  decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    const char *nl = memchr(rec, '\n', len);
    char name[FRAMING_SSE_MAX_EVENT + 3];
    size_t elen;

    if (!nl) {
        snprintf(err, errlen, "not an SSE event record");
        return DECODE_MALFORMED;
    }
    elen = (size_t)(nl - rec);
    if (elen > FRAMING_SSE_MAX_EVENT)
        elen = FRAMING_SSE_MAX_EVENT;
    snprintf(name, sizeof name, ",%.*s,", (int)elen, rec);
    if (!strstr(d->events, name)) {
        snprintf(err, errlen, "event \"%.*s\" is not in events", (int)elen, rec);
        return DECODE_SKIP;
    }
    return nd_decode(d, nl + 1, len - (size_t)(nl + 1 - rec), fn, ctx, err, errlen);
}

const struct decoder_ops decode_sse_ops = {
    .name = "sse",
    .create = sse_create,
    .destroy = nd_destroy,
    .decode = sse_decode,
};
