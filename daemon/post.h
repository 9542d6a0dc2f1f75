/* post: the normalised mention that flows from a decoder to the sink.
 *
 * Every decoder turns its service's payload into struct post; nothing after
 * the decoder knows which service a post came from except source_name and
 * source_type.  String fields point into an arena owned by the decoder that
 * filled them and are valid until that decoder's next record; NULL means the
 * payload did not carry the field.
 */
#ifndef MENTIOND_POST_H
#define MENTIOND_POST_H

#include <stddef.h>
#include <stdint.h>

struct post_author {
    const char *id;
    const char *handle;         /* without '@' */
    const char *name;
    const char *bio;
    long long followers;        /* -1 if unknown */
    int verified;
    const char *verified_type;  /* X: "blue" (paid), "business", "government", "none" */
    const char *created_at;     /* when the account was made, as the source writes it */
};

struct post {
    const char *source_name;    /* set by the source, not the decoder */
    const char *source_type;
    const char *id;
    const char *text;
    const char *lang;
    const char *created_at;
    const char *url;
    const char *conversation_id;
    const char *in_reply_to;    /* id of the post this replies to */
    const char *referenced_text; /* text of the quoted or retweeted post */
    const char *referenced_id;
    const char *referenced_author; /* handle of the retweeted/quoted author */
    const char *referenced_author_id;
    const char *referenced_name;
    long long referenced_followers; /* -1 if unknown */
    const char *to_handle;      /* handle of the account replied to */
    const char *const *urls;    /* expanded URLs from the entities */
    int nurls;
    const char *const *rule_tags; /* the stream's own rules it matched (X's matching_rules tags) */
    int nrule_tags;
    int nmentions;              /* from the entities (-1: not given) */
    int nhashtags;
    int has_media;
    struct post_author author;
    int is_retweet;
    int is_quote;
    int is_reply;
    int is_edit;                /* a new version of a post (Mastodon status.update) */
    int deleted;                /* a deletion notice: only id (and author) are set */
    int backfill;               /* it came from asking for what was missed (a catch-up) */
    unsigned controls;          /* control characters replaced in its strings (json.h) */
    uint64_t received_ms;       /* wall clock when its record arrived */
    uint64_t received_us_mono;  /* monotonic, for latency */
};

void post_clear(struct post *p);

/* arena: bump allocator for one record's strings, with a cap on the total.
 * arena_reset() keeps the first block for reuse. */
struct arena_block;
struct arena {
    struct arena_block *head;
    size_t used_total;
    size_t cap;
    int nomem;                  /* a block could not be allocated (until reset) */
};

void arena_init(struct arena *a, size_t cap);
void arena_reset(struct arena *a);
void arena_free(struct arena *a);
/* Copy n bytes and a NUL; NULL when the cap would be exceeded or without
 * memory (a->nomem set). */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* n bytes aligned for any pointer or integer, or NULL as above. */
void *arena_alloc(struct arena *a, size_t n);

/* A copy of src whose strings live in a (source_name and source_type stay
 * borrowed): a post that outlives its decoder's record.  0, or -1 when the
 * arena is full or out of memory (dst then partly filled). */
int post_copy(struct post *dst, const struct post *src, struct arena *a);

#endif
