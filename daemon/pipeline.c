/* pipeline: feeds, matching, scoring, encoding; see pipeline.h. */
#include "pipeline.h"
#include "log.h"
#include "pii.h"
#include "scorer.h"
#include "util.h"
#include "spend.h"
#include "workers.h"

#include <stdlib.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Table sizes: bounded memory (about 30 MB in all); under pressure the
 * oldest history is forgotten first. */
#define SEEN_SLOTS 131072
#define AUTHOR_SLOTS 32768
#define SHARE_SLOTS 32768
#define CANNED_SLOTS 4096
#define COMPLAINT_SLOTS 32768
#define IMP_ACCOUNT_SLOTS 4096
#define SEEN_ALERTED 1u
#define SEEN_DELETED 2u
#define CANNED_RAISED 1u
#define SHARES_VIRAL 1u

static void pipeline_stop_workers(struct pipeline *pl);
static void feed_note_post(struct feed *f, const struct post *p);
static void own_forms_make(struct pipeline *pl);
static void user_part(const char *handle, char *out, size_t len);
static void masks_init(struct pl_masks *m);
static void masks_free(struct pl_masks *m);

void pipeline_init(struct pipeline *pl, const struct config *cfg, const struct ruleset *rs,
                   alert_sink_fn sink, void *sink_ctx)
{
    memset(pl, 0, sizeof *pl);
    pl->cfg = cfg;
    pl->sink = sink;
    pl->sink_ctx = sink_ctx;
    match_ctx_init(&pl->mc);
    match_ctx_init(&pl->mc_own);
    match_ctx_init(&pl->lexmc);
    tokens_init(&pl->canned_tk);
    masks_init(&pl->masked);
    pl->jw = jw_new();
    if (!pl->jw)
        abort();
    window_init(&pl->authors, AUTHOR_SLOTS, (uint64_t)cfg->repeat_window * 1000, 1);
    window_init(&pl->shares, SHARE_SLOTS, (uint64_t)cfg->spread_window * 1000, 0);
    window_init(&pl->seen, SEEN_SLOTS, (uint64_t)cfg->dedup_window * 1000, 0);
    window_init(&pl->canned, CANNED_SLOTS, (uint64_t)cfg->canned_window * 1000, 1);
    window_init(&pl->complainers, COMPLAINT_SLOTS, (uint64_t)cfg->imp_window * 1000, 1);
    window_init(&pl->complaints, COMPLAINT_SLOTS, (uint64_t)cfg->imp_window * 1000, 1);
    window_init(&pl->imp_accounts, IMP_ACCOUNT_SLOTS, (uint64_t)cfg->imp_window * 1000, 0);
    tokens_init(&pl->imp_tk);
    own_forms_make(pl);
    pipeline_set_rules(pl, rs);
}

void pipeline_free(struct pipeline *pl)
{
    pipeline_stop_workers(pl);
    match_ctx_free(&pl->mc);
    match_ctx_free(&pl->mc_own);
    free(pl->in_ref);
    match_ctx_free(&pl->lexmc);
    tokens_free(&pl->canned_tk);
    masks_free(&pl->masked);
    window_free(&pl->authors);
    window_free(&pl->shares);
    window_free(&pl->seen);
    window_free(&pl->canned);
    window_free(&pl->complainers);
    window_free(&pl->complaints);
    window_free(&pl->imp_accounts);
    tokens_free(&pl->imp_tk);
    free(pl->own_forms);
    pl->own_forms = NULL;
    jw_free(pl->jw);
    free(pl->rule_matches);
    pl->jw = NULL;
    pl->rule_matches = NULL;
}

void pipeline_set_rules(struct pipeline *pl, const struct ruleset *rs)
{
    pipeline_drain(pl);                 /* results in flight index the old rules */
    pl->rs = rs;
    free(pl->rule_matches);
    pl->rule_matches = xcalloc((size_t)(rs ? rs->n : 0) + 1, sizeof *pl->rule_matches);
}

/* New window lengths apply to entries as they roll over. */
void pipeline_set_config(struct pipeline *pl, const struct config *cfg)
{
    pipeline_drain(pl);
    pl->cfg = cfg;
    pl->authors.span_ms = (uint64_t)cfg->repeat_window * 1000;
    pl->shares.span_ms = (uint64_t)cfg->spread_window * 1000;
    pl->seen.span_ms = (uint64_t)cfg->dedup_window * 1000;
    pl->canned.span_ms = (uint64_t)cfg->canned_window * 1000;
    pl->complainers.span_ms = pl->complaints.span_ms = pl->imp_accounts.span_ms = (uint64_t)cfg->imp_window * 1000;
    own_forms_make(pl);
}

void pipeline_set_observer(struct pipeline *pl, const struct pipeline_observer *o)
{
    if (o)
        pl->obs = *o;
    else
        memset(&pl->obs, 0, sizeof pl->obs);
}

static void key_of(char *out, size_t len, const char *a, const char *b)
{
    snprintf(out, len, "%s:%s", a ? a : "", b ? b : "");
}


/* One of the brand's own accounts posted: not a mention.  If it sends the
 * same reply (text without the leading @handles, normalised) to several
 * different people within the window, raise one canned_reply alert. */
static void watch_own_post(struct pipeline *pl, struct post *p, uint64_t now)
{
    const struct config *cfg = pl->cfg;
    const char *t = p->text, *to = p->to_handle;
    char key[WINDOW_KEY_MAX], first[64] = "";
    struct window_entry *e;
    int known = 0;
    uint64_t h;

    pl->st.own_posts++;
    while (*t == '@' || *t == ' ') {          /* leading @mentions are the recipients */
        size_t n = strcspn(t, " ");
        if (*t == '@' && !first[0])
            snprintf(first, sizeof first, "%.*s", (int)(n - 1 < sizeof first ? n - 1 : sizeof first - 1), t + 1);
        t += n;
        t += strspn(t, " ");
    }
    if (!to)
        to = first[0] ? first : NULL;
    if (!to || text_tokenize(&pl->canned_tk, t, strlen(t), 1) != 0 || pl->canned_tk.nw < 3)
        return;                 /* not a reply, or too short to be a template */
    h = hash_bytes(pl->canned_tk.folded.data, pl->canned_tk.folded.len);
    snprintf(key, sizeof key, "%s:%016llx", p->author.handle, (unsigned long long)h);
    e = window_get(&pl->canned, key, now);
    for (uint32_t i = 0; i < e->nids; i++)
        known |= strcasecmp(e->ids[i], to) == 0;
    if (known)
        return;
    if (window_add(e, to, now) < (uint32_t)cfg->canned_count || (e->flags & CANNED_RAISED))
        return;
    e->flags |= CANNED_RAISED;
    {
        const char *rcpt[WINDOW_IDS];
        struct alert *a;
        for (uint32_t i = 0; i < e->nids; i++)
            rcpt[i] = e->ids[i];
        uint64_t real = now_real_ms();
        /* the window's clock is monotonic; first_seen is wall-clock time */
        a = alert_build_canned(pl->jw, cfg->name, cfg->canned_queue, LEVEL_HIGH, p, rcpt, (int)e->nids,
                               real - (now - e->start_ms), real);
        if (!a) {
            pl->st.encode_failed++;
            return;
        }
        pl->st.canned_replies++;
        log_msg(LOG_NOTICE, "canned reply: @%s sent the same reply to %u people; alert %s", p->author.handle,
                e->count, a->id);
        pl->sink(pl->sink_ctx, a);
    }
}

static void masks_init(struct pl_masks *m)
{
    for (int i = 0; i < MASK_FIELDS; i++)
        buf_init(&m->f[i], i == MASK_TEXT || i == MASK_REF_TEXT ? TEXT_MAX_FOLDED : 4096);
}

static void masks_free(struct pl_masks *m)
{
    for (int i = 0; i < MASK_FIELDS; i++)
        buf_free(&m->f[i]);
}

/* pl_post.masked[i] for a field left out because it could not be masked. */
static const char mask_dropped[] = "";

/* The fields masking covers, in the order of MASK_*. */
static const char **mask_field(struct post *p, int i)
{
    switch (i) {
    case MASK_TEXT: return &p->text;
    case MASK_NAME: return &p->author.name;
    case MASK_REF_TEXT: return &p->referenced_text;
    default: return &p->referenced_name;
    }
}

/* Mask card and account numbers in the text and the author's name, and in
 * the referenced post's (the alert carries it too); the post then points at
 * the masked copies in m.  The kinds found (pii.h), or -1 on a text that
 * cannot be masked. */
static int mask_fields(const struct config *cfg, struct post *p, struct pl_masks *m)
{
    int found = 0;

    for (int i = 0; i < MASK_FIELDS; i++) {
        const char **f = mask_field(p, i);
        int k = *f ? pii_mask(*f, strlen(*f), &cfg->accounts, &m->f[i]) : 0;
        if (k < 0 && i == MASK_TEXT)
            return -1;
        if (k < 0)
            *f = NULL;                  /* what cannot be masked is not shown */
        if (k > 0) {
            *f = m->f[i].data;
            found |= k;
        }
    }
    return found;
}

static int mask_post(struct pipeline *pl, struct post *p)
{
    return mask_fields(pl->cfg, p, &pl->masked);
}

/* The observer hears that the post key is viral; share is one of its
 * shares: a retweet carries the original's text, a quote or reply only
 * its own, masked here. */
static void report_viral(struct pipeline *pl, const char *key, const struct post *share, uint32_t n)
{
    const char *text = share->is_retweet && share->referenced_text ? share->referenced_text : share->text;
    int f = text ? pii_mask(text, strlen(text), &pl->cfg->accounts, &pl->masked.f[MASK_TEXT]) : 0;

    pl->st.viral++;
    if (f < 0)
        return;
    pl->obs.viral(pl->obs.ctx, key, share, f ? pl->masked.f[MASK_TEXT].data : text, n);
}

void pipeline_report_viral(struct pipeline *pl, const char *key, const struct post *share, uint32_t shares)
{
    if (pl->obs.viral && pl->cfg->viral_shares)
        report_viral(pl, key, share, shares);
}

/* One more share of the post `key`.  Past viral_shares, an alerted post is
 * reported once to the observer (the window's flag).  In a fleet the
 * fleet counts it, and says when it is viral. */
static void count_share(struct pipeline *pl, struct post *p, const char *key, uint64_t now)
{
    struct window_entry *sh = window_get(&pl->shares, key, now), *seen;
    uint32_t n = window_add(sh, NULL, now);

    if (pl->fleet_share) {
        pl->fleet_share(pl->fleet_ctx, key, p);
        return;
    }
    if (!pl->obs.viral || !pl->cfg->viral_shares || n < (uint64_t)pl->cfg->viral_shares ||
        (sh->flags & SHARES_VIRAL))
        return;
    seen = window_find(&pl->seen, key, now);
    if (!seen || !(seen->flags & SEEN_ALERTED))
        return;                 /* only what matched a rule is ours to page on */
    sh->flags |= SHARES_VIRAL;
    report_viral(pl, key, p, n);
}

void pipeline_set_fleet(struct pipeline *pl, pipeline_share_fn fn, void *ctx)
{
    pl->fleet_share = fn;
    pl->fleet_ctx = ctx;
}

void pipeline_fleet_shares(struct pipeline *pl, const char *key, uint32_t shares)
{
    uint64_t now = now_mono_ms();
    struct window_entry *sh = window_get(&pl->shares, key, now);

    window_get(&pl->seen, key, now)->flags |= SEEN_ALERTED;
    if (shares > sh->count)             /* the fleet's count includes this member's */
        sh->count = shares;
}

/* A deletion notice.  Posts this process saw and did not alert need
 * nothing; for the rest a "deleted" record goes to the sink, which withdraws
 * the alert if it has not left yet, or follows it on its queue (the enqueue
 * script finds the queue from the seen key, so this also works for alerts
 * sent before a restart).  The post is remembered as deleted so a late or
 * redelivered copy is not alerted. */
static void pipeline_deleted(struct pipeline *pl, struct post *p, uint64_t now)
{
    char key[WINDOW_KEY_MAX];
    struct window_entry *seen;
    struct alert *a;
    int known;

    pl->st.deletions++;
    key_of(key, sizeof key, p->source_type, p->id);
    seen = window_find(&pl->seen, key, now);
    known = seen && (seen->flags & SEEN_ALERTED);
    if (seen && seen->count && !known) {
        seen->flags |= SEEN_DELETED;
        return;
    }
    seen = window_get(&pl->seen, key, now);
    if (!seen->count)
        window_add(seen, NULL, now);
    seen->flags |= SEEN_DELETED;
    a = alert_build_deleted(pl->jw, pl->cfg->name, p, now_real_ms());
    if (!a) {
        pl->st.encode_failed++;
        return;
    }
    a->known = known;
    pl->st.deletions_forwarded++;
    pl->sink(pl->sink_ctx, a);
}

/* ---- impersonation: look-alikes of own accounts answering customers ---- */

/* What the check of one post found, until its alert is built. */
struct imp_hit {
    int own;                            /* index into own_list */
    int by_name;                        /* the display name, not the handle, looks like it */
    char victim[WINDOW_ID_MAX];         /* "" if none seen */
    char victim_post[WINDOW_ID_MAX];
    unsigned asks;
    struct imp_evidence ev;
};

static int handle_in(const struct handle_list *l, const char *handle)
{
    for (int i = 0; handle && i < l->n; i++)
        if (strcasecmp(l->lower[i], handle) == 0)
            return 1;
    return 0;
}

/* "type:handle" in lower case, for the windows. */
static void handle_key(char *out, size_t len, const char *type, const char *handle)
{
    size_t n;

    key_of(out, len, type, handle);
    for (n = strlen(type ? type : "") + 1; out[n]; n++)
        out[n] = (char)tolower((unsigned char)out[n]);
}

/* Each @handle of text (without '@') to fn until it returns 1; 1 then. */
static int each_mention(const char *text, int (*fn)(void *, const char *), void *ctx)
{
    char h[WINDOW_ID_MAX];

    for (const char *p = text ? strchr(text, '@') : NULL; p; p = strchr(p + 1, '@')) {
        size_t n = 0;
        if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;                   /* an e-mail address */
        while ((isalnum((unsigned char)p[1 + n]) || p[1 + n] == '_' || p[1 + n] == '.') && n + 1 < sizeof h)
            n++;
        while (n && p[n] == '.')        /* a full stop after the handle */
            n--;
        if (!n)
            continue;
        memcpy(h, p + 1, n);
        h[n] = '\0';
        if (fn(ctx, h))
            return 1;
    }
    return 0;
}

static int mention_is_own(void *ctx, const char *h)
{
    return handle_in(ctx, h);
}

/* A customer wrote to an own handle (a reply to it, or an @mention of it):
 * remembered by handle and by post for impersonation_window. */
static void watch_complaint(struct pipeline *pl, const struct post *p, uint64_t now)
{
    const struct handle_list *own = &pl->cfg->own_list;
    char key[WINDOW_KEY_MAX];

    if (!p->author.handle || !p->id ||
        !(handle_in(own, p->to_handle) || each_mention(p->text, mention_is_own, (void *)own)))
        return;
    handle_key(key, sizeof key, p->source_type, p->author.handle);
    window_add(window_get(&pl->complainers, key, now), p->id, now);
    key_of(key, sizeof key, p->source_type, p->id);
    window_add(window_get(&pl->complaints, key, now), p->author.handle, now);
}

/* The entry of key if it was added to within the window. */
static struct window_entry *recent(struct window *w, const char *key, uint64_t now)
{
    struct window_entry *e = window_find(w, key, now);

    return e && e->nids && now - e->last_ms <= w->span_ms ? e : NULL;
}

struct victim_ctx {
    struct pipeline *pl;
    const char *type;
    uint64_t now;
    struct imp_hit *ih;
};

static int mention_is_victim(void *ctx, const char *h)
{
    struct victim_ctx *vc = ctx;
    char key[WINDOW_KEY_MAX];
    struct window_entry *e;

    handle_key(key, sizeof key, vc->type, h);
    if (!(e = recent(&vc->pl->complainers, key, vc->now)))
        return 0;
    str_copy(vc->ih->victim, h, sizeof vc->ih->victim);
    str_copy(vc->ih->victim_post, e->ids[0], sizeof vc->ih->victim_post);
    return 1;
}

/* Whom the post answers of those who wrote to an own handle: the post it
 * replies to, the account it replies to, or one it mentions. */
static void find_victim(struct pipeline *pl, const struct post *p, uint64_t now, struct imp_hit *ih)
{
    struct victim_ctx vc = {pl, p->source_type, now, ih};
    char key[WINDOW_KEY_MAX];
    struct window_entry *e;

    if (p->in_reply_to) {
        key_of(key, sizeof key, p->source_type, p->in_reply_to);
        if ((e = recent(&pl->complaints, key, now))) {
            str_copy(ih->victim, e->ids[0], sizeof ih->victim);
            str_copy(ih->victim_post, p->in_reply_to, sizeof ih->victim_post);
            return;
        }
    }
    if (p->to_handle && mention_is_victim(&vc, p->to_handle))
        return;
    each_mention(p->text, mention_is_victim, &vc);
}

/* The own handles' comparison forms, once per configuration, so a post
 * costs the folding of its author's handle (and name) only.  Without
 * memory, none: impersonation is not checked until the next reload. */
static void own_forms_make(struct pipeline *pl)
{
    const struct handle_list *own = &pl->cfg->own_list;

    free(pl->own_forms);
    pl->own_forms = own->n ? xcalloc_try((size_t)own->n, sizeof *pl->own_forms) : NULL;
    for (int i = 0; pl->own_forms && i < own->n; i++) {
        user_part(own->shown[i], pl->own_forms[i].user, sizeof pl->own_forms[i].user);
        imp_form(&pl->imp_tk, pl->own_forms[i].user, &pl->own_forms[i].f);
    }
}

/* A Mastodon account's user name (anna@example.social -> anna): handles
 * compare by it, since the same account is written with and without its
 * instance depending on where it is seen from. */
static void user_part(const char *handle, char *out, size_t len)
{
    const char *at = handle[0] ? strchr(handle + 1, '@') : NULL;

    snprintf(out, len, "%.*s", (int)(at ? (size_t)(at - handle) : strlen(handle)), handle);
}

/* Does the author look like an own account (and is neither one of them
 * nor allowed), and whom does the post answer or what does it ask?  1 if
 * it makes an impersonation alert.  A post that is not from a look-alike
 * is watched as a possible complaint instead. */
static int check_impersonation(struct pipeline *pl, const struct post *p, uint64_t now, struct imp_hit *ih)
{
    const struct config *cfg = pl->cfg;
    const struct handle_list *own = &cfg->own_list;

    char cand[WINDOW_ID_MAX];
    struct imp_form hf, nf;

    memset(ih, 0, sizeof *ih);
    ih->own = -1;
    if (!own->n || !pl->own_forms || !p->author.handle || handle_in(&cfg->imp_allow, p->author.handle))
        return 0;
    user_part(p->author.handle, cand, sizeof cand);
    imp_form(&pl->imp_tk, cand, &hf);
    for (int i = 0; i < own->n && ih->own < 0; i++)
        if (strcasecmp(pl->own_forms[i].user, cand) != 0 && imp_alike(&pl->own_forms[i].f, &hf))
            ih->own = i;
    if (ih->own < 0 && p->author.name) {
        imp_form(&pl->imp_tk, p->author.name, &nf);
        for (int i = 0; i < own->n && ih->own < 0; i++)
            if (imp_alike(&pl->own_forms[i].f, &nf)) {
                ih->own = i;
                ih->by_name = 1;
            }
    }
    if (ih->own < 0) {
        watch_complaint(pl, p, now);
        return 0;
    }
    find_victim(pl, p, now, ih);
    ih->asks = imp_asks(&pl->imp_tk, p->text, p->urls, p->nurls, &ih->ev);
    return ih->victim[0] || ih->asks;
}

/* The impersonation alert for a post check_impersonation() flagged; its
 * text masked like any alert's (masked = 1 when already done), the phone
 * numbers and links kept whole in its evidence. */
static void raise_impersonation(struct pipeline *pl, struct post *p, const struct imp_hit *ih, const char *rule_queue,
                                int masked, uint64_t now)
{
    const struct config *cfg = pl->cfg;
    const char *own = cfg->own_list.shown[ih->own];
    const char *queue = cfg->imp_queue[0] ? cfg->imp_queue : rule_queue ? rule_queue : "default";
    static const struct { unsigned ask; enum imp_reason r; } asks[] = {
        {IMP_ASK_PHONE, IMP_R_PHONE}, {IMP_ASK_LINK, IMP_R_LINK}, {IMP_ASK_DM, IMP_R_DM}, {IMP_ASK_CARD, IMP_R_CARD},
    };
    enum imp_reason kinds[IMP_R_COUNT];        /* each kind at most once */
    const char *reasons[IMP_R_COUNT];
    char like[WINDOW_KEY_MAX * 2], key[WINDOW_KEY_MAX];
    struct imp_report r = {.imitates = own, .ev = &ih->ev};
    struct alert *a;
    int n = 0;

    if (!masked && mask_post(pl, p) < 0) {
        pl->st.encode_failed++;
        return;
    }
    r.age_days = imp_account_age_days(p->author.created_at, now_real_ms());
    snprintf(like, sizeof like, "%s:%s~%s", imp_reason_names[ih->by_name ? IMP_R_LOOKALIKE_NAME : IMP_R_LOOKALIKE],
             own, ih->by_name ? p->author.name : p->author.handle);
    kinds[n] = ih->by_name ? IMP_R_LOOKALIKE_NAME : IMP_R_LOOKALIKE;
    reasons[n++] = like;
    if (cfg->imp_new_days > 0 && r.age_days >= 0 && r.age_days < cfg->imp_new_days)
        kinds[n++] = IMP_R_NEW_ACCOUNT;
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++)
        if (ih->asks & asks[i].ask)
            kinds[n++] = asks[i].r;
    if (!ih->victim[0])
        kinds[n++] = IMP_R_NO_VICTIM;
    for (int i = 1; i < n; i++)
        reasons[i] = imp_reason_names[kinds[i]];
    r.reasons = reasons;
    r.nreasons = n;
    if (ih->victim[0]) {
        r.victim_handle = ih->victim;
        r.victim_post = ih->victim_post;
    }
    handle_key(key, sizeof key, p->source_type, p->author.handle);
    r.account_alerts = window_add(window_get(&pl->imp_accounts, key, now), NULL, now);
    a = alert_build_impersonation(pl->jw, cfg->name, queue, ih->victim[0] ? LEVEL_CRITICAL : LEVEL_HIGH, p, &r,
                                  now_real_ms());
    if (!a) {
        pl->st.encode_failed++;
        return;
    }
    for (int i = 0; i < n; i++)
        pl->st.impersonation[kinds[i]]++;
    log_msg(LOG_NOTICE, "impersonation: @%s looks like @%s%s%s%s; alert %s (%u from this account)", p->author.handle,
            own, ih->victim[0] ? " and answers @" : " and asks for contact details", ih->victim[0] ? ih->victim : "",
            ih->victim[0] ? ", who wrote to it" : "", a->id, r.account_alerts);
    pl->sink(pl->sink_ctx, a);
}

/* A post decoded and matched on a worker thread, with what it found. */
struct pl_post {
    struct post p;              /* strings in the job's arena */
    int n;                      /* matcher_match() */
    int pii;                    /* mask_fields(), when n > 0 */
    const char *masked[MASK_FIELDS];            /* NULL: nothing masked */
    size_t ids_off;             /* rules, terms, lexicon rules, lexicon terms */
    int nterms, nlex, nlexterms;                /* nlex -1: lexicons not matched */
    const uint32_t *ids;        /* set when the job is collected */
};

/* The match step: done here, or on a worker (pre). */
static int run_match(struct pipeline *pl, struct post *p, const struct pl_post *pre)
{
    if (!pre)
        return matcher_match(&pl->mc, pl->rs->m, p);
    if (pre->n > 0 && matcher_import(&pl->mc, pl->rs->m, pre->ids, pre->n, pre->nterms) != 0)
        return MATCHER_NOMEM;
    return pre->n;
}

/* A retweet or quote is matched with the post it shares (as X does); for
 * each rule that matched, whether the post's own text would have matched
 * it too, or only the shared one: matches[].in.  Only posts that alert
 * carry a shared text through here, so the second match is rare.  NULL
 * when every match is in the text (or without memory to say). */
static const unsigned char *referenced_hits(struct pipeline *pl, const struct post *p)
{
    struct post own;
    int n = pl->mc.nhits, m;

    if (!p->referenced_text)
        return NULL;
    if ((size_t)n > pl->in_ref_alloc) {
        unsigned char *grown = xrealloc_try(pl->in_ref, (size_t)n);
        if (!grown)
            return NULL;
        pl->in_ref = grown;
        pl->in_ref_alloc = (size_t)n;
    }
    own = *p;
    own.referenced_text = NULL;
    own.referenced_author = NULL;       /* retweets_of: is about the shared post */
    m = matcher_match(&pl->mc_own, pl->rs->m, &own);
    for (int i = 0; i < n; i++) {
        int alone = 0;
        for (int k = 0; k < m && !alone; k++)
            alone = pl->mc_own.hits[k].rule == pl->mc.hits[i].rule;
        pl->in_ref[i] = !alone;
    }
    return pl->in_ref;
}

/* Personal data masked, then the lexicons matched on what is left. */
static int run_mask_lexicons(struct pipeline *pl, struct post *p, const struct pl_post *pre)
{
    int pii;

    if (!pre) {
        if ((pii = mask_post(pl, p)) >= 0 && pl->rs->lex && matcher_match(&pl->lexmc, pl->rs->lex->m, p) < 0)
            pl->lexmc.nhits = 0;
        return pii;
    }
    if (pre->pii < 0)
        return -1;
    for (int i = 0; i < MASK_FIELDS; i++)
        if (pre->masked[i])
            *mask_field(p, i) = pre->masked[i] == mask_dropped ? NULL : pre->masked[i];
    if (pl->rs->lex && (pre->nlex < 0 || matcher_import(&pl->lexmc, pl->rs->lex->m, pre->ids + pre->n + pre->nterms,
                                                        pre->nlex, pre->nlexterms) != 0))
        pl->lexmc.nhits = 0;
    return pre->pii;
}

static void post_run(struct pipeline *pl, struct post *p, const struct pl_post *pre)
{
    const struct config *cfg = pl->cfg;
    uint64_t now = now_mono_ms();
    char key[WINDOW_KEY_MAX], orig[WINDOW_KEY_MAX], aid[WINDOW_ID_MAX];
    struct window_entry *seen, *sh = NULL, *au = NULL;
    struct score_input in = {0};
    struct alert_context cx = {0};
    const char *ids[WINDOW_IDS];
    struct score sc;
    struct alert *a;
    struct imp_hit ih;
    int n, imp;

    if (p->deleted) {
        pipeline_deleted(pl, p, now);
        return;
    }
    pl->st.posts++;
    pl->st.controls_replaced += p->controls;
    if (p->controls)
        log_limited(LOG_NOTICE, "post %s from %s: %u control characters replaced (shown as U+FFFD)",
                    p->id ? p->id : "?", p->source_name ? p->source_name : "?", p->controls);
    /* Shares of a post are counted whether or not they match anything. */
    if ((p->is_retweet || p->is_quote) && p->referenced_id) {
        key_of(orig, sizeof orig, p->source_type, p->referenced_id);
        count_share(pl, p, orig, now);
    } else if (p->is_reply && p->in_reply_to) {
        char parent[WINDOW_KEY_MAX];
        key_of(parent, sizeof parent, p->source_type, p->in_reply_to);
        count_share(pl, p, parent, now);
    }
    if (cfg->own_list.n && handle_in(&cfg->own_list, p->author.handle)) {
        watch_own_post(pl, p, now);
        return;
    }
    /* One alert per post, whichever source or connection brought it. */
    key_of(key, sizeof key, p->source_type, p->id);
    /* An edit is looked at again unless its post was alerted or deleted. */
    if ((seen = window_find(&pl->seen, key, now)) && seen->count &&
        (!p->is_edit || (seen->flags & (SEEN_ALERTED | SEEN_DELETED)))) {
        pl->st.duplicates++;
        return;
    }
    seen = window_get(&pl->seen, key, now);
    window_add(seen, NULL, now);
    /* A retweet of a post already alerted adds to that post's shares. */
    if (p->is_retweet && p->referenced_id) {
        struct window_entry *o = window_find(&pl->seen, orig, now);
        if (o && (o->flags & SEEN_ALERTED)) {
            pl->st.shares_folded++;
            return;
        }
    }
    imp = check_impersonation(pl, p, now, &ih);
    n = run_match(pl, p, pre);
    if (n == MATCHER_NOMEM) {
        pl->st.nomem++;
        log_limited(LOG_ERR, "source %s: post %s: out of memory matching it; dropped", p->source_name, p->id);
        return;
    }
    if (n < 0) {
        pl->st.bad_text++;
        log_limited(LOG_WARNING, "source %s: post %s: text is not valid UTF-8; dropped",
                    p->source_name, p->id);
        return;
    }
    if (n == 0) {
        pl->st.unmatched++;
        if (imp)
            raise_impersonation(pl, p, &ih, NULL, 0, now);
        return;
    }
    pl->st.matched++;
    for (int i = 0; i < n; i++)
        pl->rule_matches[pl->mc.hits[i].rule]++;
    cx.in_referenced = referenced_hits(pl, p);
    if ((in.pii = run_mask_lexicons(pl, p, pre)) < 0) {
        pl->st.encode_failed++;
        return;
    }
    if (in.pii)
        pl->st.pii_masked++;
    if (p->author.id) {
        key_of(aid, sizeof aid, p->source_name, p->author.id);
        au = window_get(&pl->authors, aid, now);
        cx.author_recent = au->count;
        for (uint32_t i = 0; i < au->nids; i++)
            ids[i] = au->ids[i];
        cx.author_ids = ids;
        cx.nids = (int)au->nids;
    }
    in.author_alerts = cx.author_recent + 1;
    sh = window_find(&pl->shares, (p->is_retweet || p->is_quote) && p->referenced_id ? orig : key, now);
    in.shares = cx.shares = sh ? sh->count : 0;
    cx.pii = in.pii;
    scorer_score(cfg, pl->rs, &pl->mc, pl->rs->lex ? &pl->lexmc : NULL, p, &in, &sc);
    a = alert_build(pl->jw, cfg->name, pl->rs, &pl->mc, &sc, p, &cx, now_real_ms());
    if (!a) {
        pl->st.encode_failed++;
        log_limited(LOG_WARNING, "source %s: post %s: alert could not be encoded; dropped",
                    p->source_name, p->id);
        return;
    }
    if (pl->fleet_share && alert_set_marks(a, key, p->is_retweet && p->referenced_id ? orig : NULL) != 0)
        log_limited(LOG_WARNING, "source %s: post %s: no memory for its fleet marks; the other members' "
                    "alerts of it are not checked", p->source_name, p->id);
    seen->flags |= SEEN_ALERTED;
    if (p->is_retweet && p->referenced_id)
        window_get(&pl->seen, orig, now)->flags |= SEEN_ALERTED;
    if (au)
        window_add(au, a->id, now);
    log_msg(LOG_DEBUG, "alert %s -> %s/%s score %d", a->id, a->queue, level_names[a->level], a->score);
    if (pl->obs.matched)
        pl->obs.matched(pl->obs.ctx, &pl->mc, p, a->queue);
    if (imp)                            /* before the sink owns a: its queue is borrowed */
        raise_impersonation(pl, p, &ih, a->queue, 1, now);
    pl->sink(pl->sink_ctx, a);
}

void pipeline_post(struct pipeline *pl, struct post *p)
{
    post_run(pl, p, NULL);
}

/* ---- worker threads: batches of records decoded and matched elsewhere ---- */

#define JOB_RECORDS 256                 /* a batch: one read, at most this many records */
#define JOB_BYTES (1u << 20)            /* ... or this many bytes (one record may be more) */
#define JOB_ARENA_CAP (256u << 20)      /* the batch's post copies */
#define JOB_IDS_MIN 1024

struct pl_rec {
    size_t off, len;            /* in the job's bytes */
    uint64_t stream_off;
    enum decode_ret ret;
    const char *err;            /* in the arena; NULL for DECODE_OK (or no room) */
    int post0, nposts;
};

struct pl_job {
    struct feed *feed;
    struct pl_job *next_free;
    uint64_t chunk_ms, chunk_us;
    int backfill;                       /* the feed's records are a catch-up */
    struct buf bytes;
    struct pl_rec *rec;
    int nrec, arec;
    struct pl_post *post;
    int npost, apost;
    uint32_t *ids;
    size_t nids, aids;
    struct arena arena;
    uint64_t lost;              /* posts that found no memory on the worker */
    int worker;                 /* the worker that decoded it */
};

/* Per worker thread; touched by that thread only. */
struct pl_worker {
    struct match_ctx mc, lexmc;
    struct pl_masks masked;
};

struct work_ctx {
    struct pl_job *j;
    struct pl_worker *wk;
    struct pipeline *pl;
};

/* Room for the ids of one match: export tells when there is too little. */
static int job_export(struct pl_job *j, const struct match_ctx *mc, const struct rule *rules, int *nterms)
{
    for (;;) {
        int n = j->aids > j->nids ? matcher_export(mc, rules, j->ids + j->nids, (int)(j->aids - j->nids), nterms) : -1;
        size_t na = j->aids ? j->aids * 2 : JOB_IDS_MIN;
        uint32_t *grown;
        if (n >= 0) {
            j->nids += (size_t)n;
            return n;
        }
        if (!(grown = xrealloc_try(j->ids, na * sizeof *grown)))
            return -1;
        j->ids = grown;
        j->aids = na;
    }
}

/* Worker thread: the rules match, then masking and the lexicons for posts
 * that matched, as post_run() would do them. */
static int work_match(struct work_ctx *c, struct pl_post *jp, const struct post *p)
{
    const struct ruleset *rs = c->pl->rs;
    struct post q;
    const char *was[MASK_FIELDS];
    int nt;

    jp->ids_off = c->j->nids;
    jp->nlex = -1;
    if (p->deleted || (jp->n = matcher_match(&c->wk->mc, rs->m, p)) <= 0)
        return 0;
    if (job_export(c->j, &c->wk->mc, rs->rules, &jp->nterms) < 0)
        return -1;
    q = *p;
    for (int i = 0; i < MASK_FIELDS; i++)
        was[i] = *mask_field(&q, i);    /* before masking, to see what it changed */
    if ((jp->pii = mask_fields(c->pl->cfg, &q, &c->wk->masked)) < 0)
        return 0;
    for (int i = 0; i < MASK_FIELDS; i++) {
        const char *m = *mask_field(&q, i);
        if (m == was[i])
            continue;
        if (!m)
            jp->masked[i] = mask_dropped;
        else if (!(jp->masked[i] = arena_strndup(&c->j->arena, m, strlen(m))))
            return -1;
    }
    if (rs->lex && matcher_match(&c->wk->lexmc, rs->lex->m, &q) >= 0) {
        if ((jp->nlex = job_export(c->j, &c->wk->lexmc, rs->lex->rules, &nt)) < 0)
            return -1;
        jp->nlex -= nt;
        jp->nlexterms = nt;
    }
    return 0;
}

static void work_post(void *ctx, struct post *p)
{
    struct work_ctx *c = ctx;
    struct pl_job *j = c->j;
    struct pl_post *jp;

    p->source_name = j->feed->name;
    p->source_type = j->feed->type;
    p->received_ms = j->chunk_ms;
    p->backfill = j->backfill;
    p->received_us_mono = j->chunk_us;
    if (j->npost == j->apost) {
        int na = j->apost ? j->apost * 2 : 64;
        struct pl_post *grown = xrealloc_try(j->post, (size_t)na * sizeof *grown);
        if (!grown) {
            j->lost++;
            return;
        }
        j->post = grown;
        j->apost = na;
    }
    jp = &j->post[j->npost];
    memset(jp, 0, sizeof *jp);
    if (post_copy(&jp->p, p, &j->arena) != 0 || work_match(c, jp, p) != 0) {
        j->lost++;
        return;
    }
    j->npost++;
}

static void job_work(void *job, int worker)
{
    struct pl_job *j = job;
    struct feed *f = j->feed;
    struct work_ctx c = {j, &f->pl->wk[worker], f->pl};
    char err[256];

    arena_reset(&j->arena);
    j->npost = 0;
    j->nids = 0;
    j->lost = 0;
    j->worker = worker;
    for (int i = 0; i < j->nrec; i++) {
        struct pl_rec *r = &j->rec[i];
        r->post0 = j->npost;
        r->ret = decoder_run(&f->wdec[worker], j->bytes.data + r->off, r->len, work_post, &c, err, sizeof err);
        r->nposts = j->npost - r->post0;
        r->err = r->ret == DECODE_OK ? NULL : arena_strndup(&j->arena, err, strlen(err));
    }
}

/* Counters and logs for one record, on the loop thread. */
static void feed_account(struct feed *f, enum decode_ret ret, const char *err, uint64_t offset, size_t len)
{
    switch (ret) {
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
}

/* Loop thread, in submission order: the stateful rest of each post. */
static void job_collect(void *ctx, void *job)
{
    struct pipeline *pl = ctx;
    struct pl_job *j = job;
    struct feed *f = j->feed;

    if (j->lost) {
        pl->st.nomem += j->lost;
        f->st.posts += j->lost;
        log_limited(LOG_ERR, "source %s: %llu posts found no memory to be decoded or matched; dropped", f->name,
                    (unsigned long long)j->lost);
    }
    for (int i = 0; i < j->nrec; i++) {
        const struct pl_rec *r = &j->rec[i];
        for (int k = r->post0; k < r->post0 + r->nposts; k++) {
            struct pl_post *jp = &j->post[k];
            jp->ids = j->ids ? j->ids + jp->ids_off : NULL;   /* no ids: nothing matched */
            feed_note_post(f, &jp->p);
            post_run(pl, &jp->p, jp);
        }
        feed_account(f, r->ret, r->err ? r->err : "(reason lost: out of memory)", r->stream_off, r->len);
    }
    j->nrec = 0;
    j->feed = NULL;
    j->next_free = pl->free_jobs;
    pl->free_jobs = j;
}

static void job_free(struct pl_job *j)
{
    buf_free(&j->bytes);
    arena_free(&j->arena);
    free(j->rec);
    free(j->post);
    free(j->ids);
}

int pipeline_start_workers(struct pipeline *pl, int n)
{
    int depth = 4 * n + 4;

    if (n <= 0 || pl->workers)
        return n <= 0 ? 0 : -1;
    pl->wk = xcalloc((size_t)n, sizeof *pl->wk);
    pl->jobs = xcalloc((size_t)depth + 1, sizeof *pl->jobs);
    pl->nwk = n;
    pl->njobs = depth + 1;
    for (int i = 0; i < n; i++) {
        match_ctx_init(&pl->wk[i].mc);
        match_ctx_init(&pl->wk[i].lexmc);
        masks_init(&pl->wk[i].masked);
    }
    /* One more job than the ring holds: the one being filled. */
    for (int i = 0; i <= depth; i++) {
        buf_init(&pl->jobs[i].bytes, (size_t)1 << 31);
        arena_init(&pl->jobs[i].arena, JOB_ARENA_CAP);
        pl->jobs[i].next_free = pl->free_jobs;
        pl->free_jobs = &pl->jobs[i];
    }
    if (!(pl->workers = workers_new(n, depth, job_work, job_collect, pl))) {
        pipeline_stop_workers(pl);
        return -1;
    }
    return 0;
}

static void pipeline_stop_workers(struct pipeline *pl)
{
    workers_free(pl->workers);          /* drains first */
    pl->workers = NULL;
    for (int i = 0; i < pl->nwk; i++) {
        match_ctx_free(&pl->wk[i].mc);
        match_ctx_free(&pl->wk[i].lexmc);
        masks_free(&pl->wk[i].masked);
    }
    for (int i = 0; i < pl->njobs; i++)
        job_free(&pl->jobs[i]);
    free(pl->wk);
    free(pl->jobs);
    pl->nwk = pl->njobs = 0;
    pl->wk = NULL;
    pl->jobs = NULL;
    pl->free_jobs = NULL;
}

int pipeline_worker_count(const struct pipeline *pl)
{
    return pl->workers ? workers_count(pl->workers) : 0;
}

int pipeline_workers_fd(const struct pipeline *pl)
{
    return pl->workers ? workers_fd(pl->workers) : -1;
}

int pipeline_pending(const struct pipeline *pl)
{
    return pl->workers ? workers_pending(pl->workers) : 0;
}

void pipeline_collect(struct pipeline *pl)
{
    if (pl->workers)
        workers_collect(pl->workers);
}

void pipeline_drain(struct pipeline *pl)
{
    if (pl->workers)
        workers_drain(pl->workers);
}

int feed_init(struct feed *f, const char *name, const char *type, const char *format,
              const struct source_conf *sc, struct pipeline *pl)
{
    int n = pipeline_worker_count(pl);

    memset(f, 0, sizeof *f);
    f->name = name;
    f->type = type;
    f->pl = pl;
    framer_init(&f->fr, sc ? (size_t)sc->max_record : FRAMING_DEFAULT_MAX_RECORD);
    if (sc)
        framer_set_mode(&f->fr, (enum framing_mode)sc->framing);
    if (decoder_open(&f->dec, format, sc) != 0) {
        framer_free(&f->fr);
        return -1;
    }
    /* A decoder that carries something from record to record (a hint from
     * the transport, a stream position) stays on this thread. */
    if (n && !f->dec.ops->hint && !f->dec.ops->position && (f->wdec = xcalloc_try((size_t)n, sizeof *f->wdec))) {
        for (int i = 0; i < n; i++)
            if (decoder_open(&f->wdec[i], format, sc) != 0) {
                while (i-- > 0)
                    decoder_close(&f->wdec[i]);
                free(f->wdec);
                f->wdec = NULL;
                break;                  /* no memory: decode inline */
            }
    }
    return 0;
}

void feed_free(struct feed *f)
{
    if (f->wdec) {
        pipeline_drain(f->pl);          /* no batch of ours left in flight */
        for (int i = 0; i < pipeline_worker_count(f->pl); i++)
            decoder_close(&f->wdec[i]);
        free(f->wdec);
        f->wdec = NULL;
    }
    framer_free(&f->fr);
    decoder_close(&f->dec);
}

/* An X post read, against the day's budget; the thresholds are said once. */
static void feed_spend(struct feed *f, const struct post *p)
{
    const struct spend *s = f->spend;

    switch (spend_read(f->spend, now_real_ms(), p->id, p->rule_tags, p->nrule_tags)) {
    case SPEND_WARN:
        log_msg(LOG_WARNING, "source %s: %d%% of the day's X budget read (%llu of %llu posts)", f->name,
                SPEND_WARN_PERCENT, (unsigned long long)s->read, (unsigned long long)s->budget);
        break;
    case SPEND_SPENT:
        log_msg(LOG_ERR, "source %s: the day's X budget is spent (%llu posts): its best_effort rules come off X "
                "until 00:00 UTC", f->name, (unsigned long long)s->budget);
        break;
    case SPEND_NONE:
        break;
    }
}

/* A post of the feed: counted, its own time kept (the source's lag), and
 * the highest numeric id (where a timeline is asked from). */
static void feed_note_post(struct feed *f, const struct post *p)
{
    uint64_t t, id = 0;
    const char *c = p->id;

    f->st.posts++;
    if (p->created_at && parse_iso8601_ms(p->created_at, &t) == 0)
        f->st.last_created_ms = t;
    if (!c || p->deleted)
        return;
    if (f->spend)
        feed_spend(f, p);
    for (; *c >= '0' && *c <= '9' && id < UINT64_MAX / 10 - 9; c++)
        id = id * 10 + (uint64_t)(*c - '0');
    if (!*c && id > f->st.max_id)
        f->st.max_id = id;
}

static void feed_on_post(void *ctx, struct post *p)
{
    struct feed *f = ctx;

    feed_note_post(f, p);
    p->source_name = f->name;
    p->source_type = f->type;
    p->received_ms = f->chunk_ms;
    p->backfill = f->backfill;
    p->received_us_mono = f->chunk_us;
    pipeline_post(f->pl, p);
}

static void feed_inline(struct feed *f, const char *rec, size_t len, uint64_t offset)
{
    char err[256];
    enum decode_ret ret = decoder_run(&f->dec, rec, len, feed_on_post, f, err, sizeof err);

    feed_account(f, ret, err, offset, len);
}

static void feed_submit(struct feed *f)
{
    struct pl_job *j = f->job;

    f->job = NULL;
    if (j && j->nrec)
        workers_submit(f->pl->workers, j);
    else if (j) {
        j->feed = NULL;
        j->next_free = f->pl->free_jobs;
        f->pl->free_jobs = j;
    }
}

/* Into the batch of this read; a record that finds no memory there is
 * decoded here, after everything before it. */
static void feed_queue(struct feed *f, const char *rec, size_t len, uint64_t offset)
{
    struct pipeline *pl = f->pl;
    struct pl_job *j = f->job;

    if (j && (j->nrec >= JOB_RECORDS || (j->nrec && j->bytes.len + len > JOB_BYTES)))
        feed_submit(f);
    if (!f->job) {
        if (!pl->free_jobs)
            pipeline_drain(pl);         /* cannot happen: one more job than the ring holds */
        j = f->job = pl->free_jobs;
        pl->free_jobs = j->next_free;
        j->feed = f;
        j->nrec = 0;
        j->chunk_ms = f->chunk_ms;
        j->backfill = f->backfill;
        j->chunk_us = f->chunk_us;
        buf_reset(&j->bytes);
    }
    j = f->job;
    if (j->nrec == j->arec) {
        int na = j->arec ? j->arec * 2 : 64;
        struct pl_rec *grown = xrealloc_try(j->rec, (size_t)na * sizeof *grown);
        if (grown) {
            j->rec = grown;
            j->arec = na;
        }
    }
    if (j->nrec < j->arec && buf_append(&j->bytes, rec, len) == BUF_OK) {
        j->rec[j->nrec].off = j->bytes.len - len;
        j->rec[j->nrec].len = len;
        j->rec[j->nrec].stream_off = offset;
        j->nrec++;
        return;
    }
    feed_submit(f);
    pipeline_drain(pl);
    feed_inline(f, rec, len, offset);
}

static int feed_on_record(void *ctx, const char *rec, size_t len, uint64_t offset)
{
    struct feed *f = ctx;

    if (f->wdec)
        feed_queue(f, rec, len, offset);
    else
        feed_inline(f, rec, len, offset);
    return 0;
}

void feed_bytes(struct feed *f, const char *p, size_t n)
{
    uint64_t over = f->fr.stats.oversized;

    f->chunk_ms = now_real_ms();
    f->chunk_us = now_mono_us();
    f->st.bytes += n;
    framer_feed(&f->fr, p, n, feed_on_record, f);
    feed_submit(f);
    if (f->fr.stats.oversized != over)
        log_limited(LOG_WARNING, "source %s: stream offset %llu: record over %zu bytes skipped (%llu so far); "
                    "raise the source's max_record if such records are real", f->name,
                    (unsigned long long)f->fr.oversized_at, f->fr.max_record,
                    (unsigned long long)f->fr.stats.oversized);
}

void feed_record(struct feed *f, const char *p, size_t n)
{
    uint64_t offset = f->st.bytes;

    f->chunk_ms = now_real_ms();
    f->chunk_us = now_mono_us();
    f->st.bytes += n;
    f->fr.stats.records++;
    feed_on_record(f, p, n, offset);
    feed_submit(f);
}

void feed_oversized(struct feed *f, uint64_t n)
{
    f->st.bytes += n;
    f->fr.stats.oversized++;
    log_limited(LOG_WARNING, "source %s: message of %llu bytes over %zu skipped (%llu so far)", f->name,
                (unsigned long long)n, f->fr.max_record, (unsigned long long)f->fr.stats.oversized);
}

void feed_finish(struct feed *f, int deliver_partial)
{
    uint64_t trunc = f->fr.stats.truncated;

    framer_finish(&f->fr, deliver_partial, feed_on_record, f);
    feed_submit(f);
    if (f->wdec)
        pipeline_drain(f->pl);          /* the source reads the counters next */
    if (f->fr.stats.truncated != trunc)
        log_limited(LOG_WARNING, "source %s: connection ended inside a record; partial record dropped",
                    f->name);
}

uint64_t feed_rejected(const struct feed *f)
{
    return f->st.malformed + f->fr.stats.oversized + f->fr.stats.truncated + f->fr.stats.garbage;
}

void feed_counts(const struct feed *f, struct feed_counts *out)
{
    *out = (struct feed_counts){
        .bytes = f->st.bytes,
        .records = f->fr.stats.records,
        .keepalives = f->fr.stats.keepalives,
        .posts = f->st.posts,
        .control = f->st.control,
        .rejected = feed_rejected(f),
        .malformed = f->st.malformed,
        .oversized = f->fr.stats.oversized,
        .truncated = f->fr.stats.truncated,
        .not_a_post = f->st.skipped,
        .bad_length = f->fr.stats.garbage,
    };
}

const struct pipeline_stats *pipeline_stats(const struct pipeline *pl)
{
    return &pl->st;
}

uint64_t pipeline_rule_matches(const struct pipeline *pl, int i)
{
    return pl->rule_matches[i];
}
