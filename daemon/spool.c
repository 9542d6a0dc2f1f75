/* spool: segment files of checksummed alert records; see spool.h.
 *
 * File:   "MNTSPL01" then records.
 * Record: magic u32 | body length u32 | CRC-32C of the body u32 | body
 * Body:   version u8 (1) | kind u8 | known u8 | level u8 | score i32 |
 *         received_us u64 | lengths u32 x5 (id, source, author or
 *         0xffffffff for none, queue, json) | the five strings
 * Integers little-endian.  A record is written with one write(2) on an
 * O_APPEND descriptor, so a crash leaves at most a torn last record, which
 * the checksum catches.  A record whose post was deleted is rewritten in
 * place (spool_withdraw): kind REC_WITHDRAWN, its strings but the id
 * blanked, the checksum made anew; reading skips it.
 */
#include "spool.h"
#include "log.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAGIC "MNTSPL01"
#define FILE_HDR 8
#define REC_MAGIC 0x52544e4du           /* "MNTR" */
#define REC_HDR 12
#define BODY_FIXED 36
#define BODY_MAX (64u << 20)            /* far above any alert; a bigger length is corruption */
#define NO_AUTHOR 0xffffffffu
#define SCAN_CHUNK 65536
#define IDLE_ROTATE_BYTES 65536         /* a settled writer this big is retired */
#define REC_WITHDRAWN 0xeeu             /* kind of a record whose post was deleted: skipped */
/* Which alert ids may be on disk: a Bloom filter of 2^26 bits (8 MiB,
 * made at the first record), three probes; forgotten when the spool is
 * empty.  A deletion reads the segments only when its id may be there (a
 * public stream brings many deletions, of posts mostly never alerted). */
#define BLOOM_BITS (1u << 26)

struct seg {
    uint64_t id;
    int fd;                             /* the level's writer (O_APPEND), else -1 */
    int dirty;                          /* written since the last fdatasync */
    int this_run;                       /* written by this process: received_us is ours */
    uint64_t size;
    uint64_t nrec, nread, nsettled;
};

struct lvl {
    struct seg *v;                      /* by id, oldest first */
    int n, cap;
    uint64_t roff;                      /* next record in the first segment with unread */
    uint64_t unread;
};

struct spool {
    char *dir;
    int lockfd, dirfd;
    uint64_t max_bytes, seg_bytes, bytes, next_id;
    enum spool_fsync policy;
    int dir_dirty;
    struct lvl lv[LEVEL_COUNT];
    int rfd;                            /* read descriptor, cached for segment rid */
    uint64_t rid;
    unsigned char *buf;                 /* record scratch, read and write */
    uint64_t *bloom;                    /* alert ids that may be on disk (BLOOM_BITS), or NULL */
    uint64_t bloom_n;
    size_t bufcap;
    struct spool_stats st;
};

/* ---- CRC-32C (Castagnoli), table-driven ---- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;

    if (!crc_table[1])
        crc_init();
    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int buf_reserve(struct spool *s, size_t n)
{
    unsigned char *nb;

    if (n <= s->bufcap)
        return 0;
    if (!(nb = xrealloc_try(s->buf, n)))
        return -1;
    s->buf = nb;
    s->bufcap = n;
    return 0;
}

/* ---- which ids may be on disk ---- */

static void bloom_add(struct spool *s, const unsigned char *id, size_t n)
{
    uint64_t h = hash_bytes(id, n);

    if (!s->bloom && !(s->bloom = xcalloc_try(BLOOM_BITS / 64, sizeof *s->bloom)))
        return;
    for (int k = 0; k < 3; k++, h = h >> 21 | h << 43)
        s->bloom[(h % BLOOM_BITS) / 64] |= 1ULL << (h % 64);
    s->bloom_n++;
}

/* 0: id is surely not on disk; 1: it may be (or nothing is known). */
static int bloom_maybe(const struct spool *s, const char *id)
{
    uint64_t h = hash_bytes(id, strlen(id));

    if (!s->bloom)
        return s->bloom_n == 0 ? 0 : 1;
    for (int k = 0; k < 3; k++, h = h >> 21 | h << 43)
        if (!(s->bloom[(h % BLOOM_BITS) / 64] & (1ULL << (h % 64))))
            return 0;
    return 1;
}

/* ---- names ---- */

static void seg_path(const struct spool *s, int level, uint64_t id, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s-%016llx.spool", s->dir, level_names[level], (unsigned long long)id);
}

/* "high-000000000000002a.spool" -> level and id; -1 if not a segment name. */
static int seg_name_parse(const char *name, int *level, uint64_t *id)
{
    for (int l = 0; l < LEVEL_COUNT; l++) {
        size_t n = strlen(level_names[l]);
        const char *p = name + n;
        char *end;

        if (strncmp(name, level_names[l], n) != 0 || *p != '-' || strlen(p + 1) != 16 + 6)
            continue;
        if (strcmp(p + 17, ".spool") != 0)
            return -1;
        errno = 0;
        *id = strtoull(p + 1, &end, 16);
        if (errno || end != p + 17 || *id == 0)
            return -1;
        *level = l;
        return 0;
    }
    return -1;
}

/* ---- encode / decode ---- */

static size_t slen(const char *p) { return p ? strlen(p) : 0; }

/* The whole record for a in s->buf; its length, or 0 if too big. */
static size_t rec_encode(struct spool *s, const struct alert *a)
{
    size_t lens[5] = {slen(a->id), slen(a->source), slen(a->author_id), slen(a->queue), a->len};
    size_t body = BODY_FIXED, off;
    unsigned char *p;

    for (int i = 0; i < 5; i++)
        body += lens[i];
    if (body > BODY_MAX || buf_reserve(s, REC_HDR + body))
        return 0;
    p = s->buf;
    put32(p, REC_MAGIC);
    put32(p + 4, (uint32_t)body);
    p += REC_HDR;
    p[0] = 1;
    p[1] = (unsigned char)a->kind;
    p[2] = (unsigned char)(a->known != 0);
    p[3] = (unsigned char)a->level;
    put32(p + 4, (uint32_t)a->score);
    put32(p + 8, (uint32_t)a->received_us);
    put32(p + 12, (uint32_t)(a->received_us >> 32));
    for (int i = 0; i < 5; i++)
        put32(p + 16 + 4 * i, i == 2 && !a->author_id ? NO_AUTHOR : (uint32_t)lens[i]);
    off = BODY_FIXED;
    memcpy(p + off, a->id, lens[0]);
    off += lens[0];
    if (lens[1])
        memcpy(p + off, a->source, lens[1]);
    off += lens[1];
    if (lens[2])
        memcpy(p + off, a->author_id, lens[2]);
    off += lens[2];
    memcpy(p + off, a->queue ? a->queue : "", lens[3]);
    off += lens[3];
    memcpy(p + off, a->json, lens[4]);
    put32(s->buf + 8, crc32c(p, body));
    return REC_HDR + body;
}

static char *take_str(const unsigned char **p, uint32_t n)
{
    char *out = xstrndup((const char *)*p, n);
    *p += n;
    return out;
}

/* A body whose checksum matched: NULL only if its fields are inconsistent. */
static struct alert *rec_decode(const unsigned char *b, size_t body)
{
    uint32_t lens[5];
    uint64_t total = BODY_FIXED;
    const unsigned char *p;
    struct alert *a;

    if (body < BODY_FIXED || b[0] != 1 || b[1] > ALERT_DELETED || b[3] >= LEVEL_COUNT)
        return NULL;
    for (int i = 0; i < 5; i++) {
        lens[i] = get32(b + 16 + 4 * i);
        total += i == 2 && lens[i] == NO_AUTHOR ? 0 : lens[i];
    }
    if (total != body || lens[0] == 0)
        return NULL;
    a = xcalloc(1, sizeof *a);
    a->kind = (enum alert_kind)b[1];
    a->known = b[2];
    a->level = b[3];
    a->score = (int32_t)get32(b + 4);
    a->received_us = (uint64_t)get32(b + 8) | (uint64_t)get32(b + 12) << 32;
    p = b + BODY_FIXED;
    a->id = take_str(&p, lens[0]);
    a->source = take_str(&p, lens[1]);
    a->author_id = lens[2] == NO_AUTHOR ? NULL : take_str(&p, lens[2]);
    a->queue = take_str(&p, lens[3]);
    a->len = lens[4];
    a->json = take_str(&p, lens[4]);
    return a;
}

/* ---- reading segment files ---- */

static int read_at(int fd, void *p, size_t n, uint64_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, (char *)p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* The first offset > from holding the record magic, or size if none. */
static uint64_t resync(struct spool *s, int fd, uint64_t from, uint64_t size)
{
    unsigned char magic[4];
    uint64_t pos = from + 1;

    put32(magic, REC_MAGIC);
    if (buf_reserve(s, SCAN_CHUNK))
        return size;
    while (pos + REC_HDR <= size) {
        size_t n = size - pos < SCAN_CHUNK ? (size_t)(size - pos) : SCAN_CHUNK;
        unsigned char *hit;

        if (read_at(fd, s->buf, n, pos))
            return size;
        if ((hit = memmem(s->buf, n, magic, 4)))
            return pos + (uint64_t)(hit - s->buf);
        pos += n - 3;                   /* a magic may straddle chunks */
    }
    return size;
}

/* The next good record at or after *off: its body in s->buf, its length
 * returned, *off at its start.  Bad records are skipped (reported when
 * report is set); -1 at the end. */
static long long rec_next(struct spool *s, int fd, const char *path, uint64_t *off, uint64_t size, int report)
{
    unsigned char h[REC_HDR];

    while (*off < size) {
        const char *why = NULL;
        uint32_t len = 0;

        if (*off + REC_HDR > size) {
            why = "truncated header";
        } else if (read_at(fd, h, REC_HDR, *off)) {
            why = "read error";
        } else if (get32(h) != REC_MAGIC) {
            why = "no record magic";
        } else if ((len = get32(h + 4)) > BODY_MAX || len < BODY_FIXED) {
            why = "impossible length";
        } else if (*off + REC_HDR + len > size) {
            why = "truncated record";
        } else if (buf_reserve(s, len) || read_at(fd, s->buf, len, *off + REC_HDR)) {
            why = "read error";
        } else if (crc32c(s->buf, len) != get32(h + 8)) {
            why = "checksum mismatch";
        } else {
            return len;
        }
        if (report) {
            s->st.corrupt++;
            log_limited(LOG_WARNING, "spool: %s: offset %llu: %s; skipped to the next record", path,
                        (unsigned long long)*off, why);
        }
        *off = resync(s, fd, *off, size);
    }
    return -1;
}

/* ---- segment bookkeeping ---- */

static struct seg *seg_add(struct lvl *v, uint64_t id)
{
    struct seg *g;

    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->v = xrealloc(v->v, (size_t)v->cap * sizeof *v->v);
    }
    g = &v->v[v->n++];
    memset(g, 0, sizeof *g);
    g->id = id;
    g->fd = -1;
    return g;
}

static struct seg *seg_find(const struct lvl *v, uint64_t id)
{
    for (int i = 0; i < v->n; i++)
        if (v->v[i].id == id)
            return &v->v[i];
    return NULL;
}

/* The segment the reader is in: the first with unread records. */
static struct seg *seg_reading(struct lvl *v)
{
    for (int i = 0; i < v->n; i++)
        if (v->v[i].nread < v->v[i].nrec)
            return &v->v[i];
    return NULL;
}

static void seg_remove(struct spool *s, int level, struct seg *g)
{
    struct lvl *v = &s->lv[level];
    char path[4096];
    uint64_t lost = g->nrec - g->nread;

    seg_path(s, level, g->id, path, sizeof path);
    if (g->fd >= 0)
        close(g->fd);
    if (s->rfd >= 0 && s->rid == g->id) {
        close(s->rfd);
        s->rfd = -1;
    }
    if (unlink(path) && errno != ENOENT)
        log_limited(LOG_WARNING, "spool: cannot delete %s: %s", path, strerror(errno));
    s->dir_dirty = 1;
    s->bytes -= g->size;
    if (lost) {
        /* It held the reader: the next segment is unread from its start. */
        v->unread -= lost;
        v->roff = FILE_HDR;
        s->st.dropped[level] += lost;
    }
    memmove(g, g + 1, (size_t)(v->v + v->n - (g + 1)) * sizeof *g);
    v->n--;
}

static void seg_maybe_remove(struct spool *s, int level, struct seg *g)
{
    if (g->nread == g->nrec && g->nsettled >= g->nrec &&
        (g->fd < 0 || (g->size >= IDLE_ROTATE_BYTES && s->lv[level].unread == 0)))
        seg_remove(s, level, g);
}

/* Delete the oldest segment of the least urgent level below level's;
 * -1 if there is none. */
static int make_room(struct spool *s, int level)
{
    for (int l = LEVEL_COUNT - 1; l > level; l--) {
        struct lvl *v = &s->lv[l];
        char path[4096];

        if (!v->n)
            continue;
        seg_path(s, l, v->v[0].id, path, sizeof path);
        log_limited(LOG_WARNING, "spool: full (%llu bytes): deleting %s with %llu %s alerts not yet sent "
                    "(%llu %s alerts dropped so far)", (unsigned long long)s->max_bytes, path,
                    (unsigned long long)(v->v[0].nrec - v->v[0].nread), level_names[l],
                    (unsigned long long)(s->st.dropped[l] + v->v[0].nrec - v->v[0].nread), level_names[l]);
        seg_remove(s, l, &v->v[0]);
        return 0;
    }
    return -1;
}

static void dir_sync(struct spool *s)
{
    if (s->dir_dirty && s->dirfd >= 0) {
        fsync(s->dirfd);
        s->dir_dirty = 0;
    }
}

/* Take in a segment left by an earlier run: count its good records.
 * Empty ones are deleted; files that are not segments are left alone. */
static void seg_scan(struct spool *s, int level, uint64_t id)
{
    char path[4096], magic[FILE_HDR];
    struct stat sb;
    uint64_t off = FILE_HDR, n = 0;
    long long len;
    struct seg *g;
    int fd;

    seg_path(s, level, id, path, sizeof path);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb)) {
        log_msg(LOG_WARNING, "spool: cannot read %s: %s; left in place", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    if ((uint64_t)sb.st_size < FILE_HDR || read_at(fd, magic, FILE_HDR, 0) ||
        memcmp(magic, FILE_MAGIC, FILE_HDR) != 0) {
        log_msg(LOG_WARNING, "spool: %s is not a mentiond spool segment; left in place", path);
        close(fd);
        return;
    }
    while ((len = rec_next(s, fd, path, &off, (uint64_t)sb.st_size, 1)) >= 0) {
        uint32_t idl = get32(s->buf + 16);
        if ((uint64_t)len >= BODY_FIXED + (uint64_t)idl)
            bloom_add(s, s->buf + BODY_FIXED, idl);
        else
            s->bloom_n++;               /* unknown: every deletion looks */
        off += REC_HDR + (uint64_t)len;
        n++;
    }
    close(fd);
    if (!n) {
        unlink(path);
        s->dir_dirty = 1;
        return;
    }
    g = seg_add(&s->lv[level], id);
    g->size = (uint64_t)sb.st_size;
    g->nrec = n;
    s->bytes += g->size;
    s->lv[level].unread += n;
    s->st.recovered += n;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int spool_load_dir(struct spool *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    struct dirent *e;
    uint64_t max_id = 0;

    if (!d) {
        snprintf(err, errlen, "spool_dir %s: %s", s->dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d))) {
        int level;
        uint64_t id;

        if (seg_name_parse(e->d_name, &level, &id) == 0) {
            seg_scan(s, level, id);
            if (id > max_id)
                max_id = id;
        }
    }
    closedir(d);
    for (int l = 0; l < LEVEL_COUNT; l++) {
        if (s->lv[l].n > 1)             /* qsort(NULL, 0) is undefined */
            qsort(s->lv[l].v, (size_t)s->lv[l].n, sizeof *s->lv[l].v, seg_cmp);
        s->lv[l].roff = FILE_HDR;
    }
    s->next_id = max_id + 1;
    return 0;
}

/* ---- public ---- */

uint64_t spool_segment_bytes(uint64_t max_bytes)
{
    uint64_t n = max_bytes / 16;
    return n > (4u << 20) ? 4u << 20 : n < 4096 ? 4096 : n;
}

struct spool *spool_open(const char *dir, uint64_t max_bytes, uint64_t segment_bytes, enum spool_fsync policy,
                         char *err, size_t errlen)
{
    struct spool *s = xcalloc(1, sizeof *s);
    char path[4096];

    s->dir = xstrdup(dir);
    s->max_bytes = max_bytes;
    s->seg_bytes = segment_bytes;
    s->policy = policy;
    s->lockfd = s->dirfd = s->rfd = -1;
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(err, errlen, "spool_dir %s: cannot create: %s", dir, strerror(errno));
        goto fail;
    }
    if ((s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "spool_dir %s: %s", dir, strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof path, "%s/lock", dir);
    if ((s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "spool_dir %s: cannot create the lock file: %s", dir, strerror(errno));
        goto fail;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB)) {
        snprintf(err, errlen, "spool_dir %s is in use by another mentiond (%s)", dir,
                 errno == EWOULDBLOCK ? "locked" : strerror(errno));
        goto fail;
    }
    if (spool_load_dir(s, err, errlen))
        goto fail;
    if (s->st.recovered)
        log_msg(LOG_NOTICE, "spool: %llu alerts left in %s by an earlier run (critical %llu, high %llu, "
                "normal %llu, low %llu); they are sent first, most urgent first",
                (unsigned long long)s->st.recovered, dir, (unsigned long long)s->lv[0].unread,
                (unsigned long long)s->lv[1].unread, (unsigned long long)s->lv[2].unread,
                (unsigned long long)s->lv[3].unread);
    dir_sync(s);
    return s;
fail:
    spool_close(s);
    return NULL;
}

/* The writer of level with room for n more bytes, created if need be. */
static struct seg *seg_writer(struct spool *s, int level, uint64_t n)
{
    struct lvl *v = &s->lv[level];
    struct seg *g = v->n ? &v->v[v->n - 1] : NULL;
    char path[4096];
    int fd;

    if (g && g->fd >= 0) {
        if (g->size + n <= s->seg_bytes || g->size == FILE_HDR)
            return g;
        if (g->dirty && s->policy != SPOOL_FSYNC_NEVER)
            fdatasync(g->fd);
        close(g->fd);
        g->fd = -1;
        seg_maybe_remove(s, level, g);
    }
    seg_path(s, level, s->next_id, path, sizeof path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, FILE_MAGIC, FILE_HDR) != FILE_HDR) {
        log_limited(LOG_ERR, "spool: cannot create %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return NULL;
    }
    g = seg_add(v, s->next_id++);
    g->fd = fd;
    g->size = FILE_HDR;
    g->this_run = 1;
    s->bytes += FILE_HDR;
    s->dir_dirty = 1;
    if (s->policy == SPOOL_FSYNC_ALWAYS)
        dir_sync(s);
    return g;
}

enum spool_rc spool_append(struct spool *s, struct alert *a, int kept)
{
    struct lvl *v = &s->lv[a->level];
    size_t n = rec_encode(s, a);
    struct seg *g;
    ssize_t w;

    if (!n) {
        s->st.write_errors++;
        log_limited(LOG_ERR, "spool: alert %s is too big to spool", a->id);
        return SPOOL_ERR;
    }
    while (s->bytes + n + FILE_HDR > s->max_bytes)
        if (make_room(s, a->level))
            return SPOOL_FULL;
    if (!(g = seg_writer(s, a->level, n))) {
        s->st.write_errors++;
        return SPOOL_ERR;
    }
    do
        w = write(g->fd, s->buf, n);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)n) {
        s->st.write_errors++;
        log_limited(LOG_ERR, "spool: cannot write to %s: %s", s->dir, w < 0 ? strerror(errno) : "short write");
        if (w > 0 && ftruncate(g->fd, (off_t)g->size))
            log_limited(LOG_ERR, "spool: cannot undo a short write in %s: %s", s->dir, strerror(errno));
        return SPOOL_ERR;
    }
    if (kept && v->unread == 0) {
        g->nread++;
    } else {
        if (v->unread == 0)
            v->roff = g->size;
        v->unread++;
    }
    g->size += n;
    g->nrec++;
    s->bytes += n;
    s->st.written[a->level]++;
    bloom_add(s, (const unsigned char *)a->id, strlen(a->id));
    a->spool_seg = g->id;
    if (s->policy == SPOOL_FSYNC_ALWAYS)
        fdatasync(g->fd);
    else
        g->dirty = 1;
    return SPOOL_OK;
}

struct alert *spool_read(struct spool *s, int level)
{
    struct lvl *v;
    struct seg *g;
    char path[4096];

    if (!s)
        return NULL;
    v = &s->lv[level];
    while (v->unread && (g = seg_reading(v))) {
        uint64_t off = v->roff < FILE_HDR ? FILE_HDR : v->roff;
        long long len;
        struct alert *a;

        seg_path(s, level, g->id, path, sizeof path);
        if (s->rfd < 0 || s->rid != g->id) {
            if (s->rfd >= 0)
                close(s->rfd);
            s->rid = g->id;
            if ((s->rfd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                log_limited(LOG_ERR, "spool: cannot read %s: %s", path, strerror(errno));
        }
        len = s->rfd < 0 ? -1 : rec_next(s, s->rfd, path, &off, g->size, g->this_run);
        a = len < 0 ? NULL : rec_decode(s->buf, (size_t)len);
        if (len < 0) {
            /* Fewer records than counted: the file changed under us. */
            uint64_t lost = g->nrec - g->nread;
            log_limited(LOG_ERR, "spool: %s: %llu records missing; counted as dropped", path,
                        (unsigned long long)lost);
            s->st.dropped[level] += lost;
            v->unread -= lost;
            g->nread = g->nsettled = g->nrec;
            v->roff = FILE_HDR;
            seg_maybe_remove(s, level, g);
            continue;
        }
        v->roff = off + REC_HDR + (uint64_t)len;
        g->nread++;
        v->unread--;
        if (g->nread == g->nrec)
            v->roff = FILE_HDR;         /* what follows is in the next segment */
        if (s->buf[1] == REC_WITHDRAWN) {  /* its post was deleted before it was sent */
            g->nsettled++;
            seg_maybe_remove(s, level, g);
            continue;
        }
        if (!a) {
            s->st.corrupt++;
            g->nsettled++;
            log_limited(LOG_WARNING, "spool: %s: offset %llu: a record with inconsistent fields; skipped",
                        path, (unsigned long long)off);
            seg_maybe_remove(s, level, g);
            continue;
        }
        if (!g->this_run)
            a->received_us = 0;         /* another process's clock */
        a->level = level;
        a->spool_seg = g->id;
        s->st.read[level]++;
        return a;
    }
    return NULL;
}

void spool_settle(struct spool *s, const struct alert *a)
{
    struct seg *g;

    if (!s || !a->spool_seg || !(g = seg_find(&s->lv[a->level], a->spool_seg)))
        return;
    g->nsettled++;
    seg_maybe_remove(s, a->level, g);
}

/* Blank one record in place: kind REC_WITHDRAWN, every string but the id
 * overwritten, a new checksum.  body is s->buf, at off in fd. */
static int rec_blank(struct spool *s, int fd, uint64_t off, uint32_t len)
{
    unsigned char h[4];
    uint32_t idlen = get32(s->buf + 16);

    s->buf[1] = REC_WITHDRAWN;
    memset(s->buf + BODY_FIXED + idlen, ' ', len - BODY_FIXED - idlen);
    put32(h, crc32c(s->buf, len));
    return pwrite(fd, s->buf, len, (off_t)(off + REC_HDR)) == (ssize_t)len &&
           pwrite(fd, h, 4, (off_t)(off + 8)) == 4 ? 0 : -1;
}

/* The records of alert id in one segment blanked; unread_from: the level's
 * ordinal of its first unread record, *k the ordinal where this segment
 * starts (moved past it); *unread set when a blanked one was unread. */
static int seg_withdraw(struct spool *s, int level, struct seg *g, const char *id, uint64_t unread_from,
                        uint64_t *k, int *unread)
{
    char path[4096];
    size_t idl = strlen(id);
    uint64_t off = FILE_HDR;
    long long len;
    int fd, n = 0;

    seg_path(s, level, g->id, path, sizeof path);
    if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
        *k += g->nrec;
        return 0;
    }
    while ((len = rec_next(s, fd, path, &off, g->size, 0)) >= 0) {
        if (s->buf[1] == ALERT_MENTION && get32(s->buf + 16) == idl && (size_t)len >= BODY_FIXED + idl &&
            memcmp(s->buf + BODY_FIXED, id, idl) == 0) {
            if (rec_blank(s, fd, off, (uint32_t)len) == 0) {
                n++;
                *unread |= *k >= unread_from;
                g->dirty = 1;
            } else {
                log_limited(LOG_ERR, "spool: %s: cannot blank the record of deleted %s: %s", path, id,
                            strerror(errno));
            }
        }
        off += REC_HDR + (uint64_t)len;
        (*k)++;
    }
    if (g->dirty && s->policy != SPOOL_FSYNC_NEVER)
        fdatasync(fd);
    close(fd);
    return n;
}

static int no_segments(const struct spool *s)
{
    for (int l = 0; l < LEVEL_COUNT; l++)
        if (s->lv[l].n)
            return 0;
    return 1;
}

int spool_withdraw(struct spool *s, const char *id, int *unread)
{
    int n = 0;

    *unread = 0;
    if (s && s->bloom_n && no_segments(s)) {            /* nothing on disk: start knowing afresh */
        if (s->bloom)
            memset(s->bloom, 0, BLOOM_BITS / 8);
        s->bloom_n = 0;
    }
    if (!s || !bloom_maybe(s, id))
        return 0;
    for (int l = 0; s && l < LEVEL_COUNT; l++) {
        struct lvl *v = &s->lv[l];
        uint64_t total = 0, k = 0;

        for (int i = 0; i < v->n; i++)
            total += v->v[i].nrec;
        for (int i = 0; i < v->n; i++)
            n += seg_withdraw(s, l, &v->v[i], id, total - v->unread, &k, unread);
    }
    s->st.withdrawn += (uint64_t)n;
    return n;
}

int spool_holds(const struct spool *s, const struct alert *a)
{
    return s && a->spool_seg && seg_find(&s->lv[a->level], a->spool_seg) != NULL;
}

uint64_t spool_unread(const struct spool *s, int level) { return s ? s->lv[level].unread : 0; }
uint64_t spool_bytes(const struct spool *s) { return s ? s->bytes : 0; }
const struct spool_stats *spool_stats(const struct spool *s) { return &s->st; }

uint64_t spool_records(const struct spool *s)
{
    uint64_t n = 0;

    for (int l = 0; s && l < LEVEL_COUNT; l++)
        for (int i = 0; i < s->lv[l].n; i++)
            n += s->lv[l].v[i].nrec - s->lv[l].v[i].nsettled;
    return n;
}

void spool_sync(struct spool *s)
{
    for (int l = 0; l < LEVEL_COUNT; l++)
        for (int i = 0; i < s->lv[l].n; i++) {
            struct seg *g = &s->lv[l].v[i];
            if (g->dirty && g->fd >= 0)
                fdatasync(g->fd);
            g->dirty = 0;
        }
    dir_sync(s);
}

void spool_close(struct spool *s)
{
    if (!s)
        return;
    if (s->policy != SPOOL_FSYNC_NEVER)
        spool_sync(s);
    for (int l = 0; l < LEVEL_COUNT; l++) {
        struct lvl *v = &s->lv[l];
        for (int i = v->n - 1; i >= 0; i--) {
            if (v->v[i].fd >= 0) {
                close(v->v[i].fd);
                v->v[i].fd = -1;
            }
            seg_maybe_remove(s, l, &v->v[i]);
        }
        free(v->v);
    }
    dir_sync(s);
    if (s->rfd >= 0)
        close(s->rfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    if (s->lockfd >= 0)
        close(s->lockfd);               /* releases the flock */
    free(s->buf);
    free(s->bloom);
    free(s->dir);
    free(s);
}
