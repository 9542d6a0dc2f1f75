/* spool: the disk tier behind the sink's memory buffer (README "Delivery").
 *
 * Alerts are appended to per-level segment files in spool_dir
 * ("critical-000000000000002a.spool"), each record with a CRC-32C, so a
 * reader can take them back level by level, most urgent first, in the
 * order they were written.  A segment is unlinked once every record in it
 * has been read back and settled (acknowledged by Redis or given up), so
 * what stays on disk is exactly what may still need sending.  Segments
 * left by an earlier run are scanned at open and replayed from the start;
 * records already delivered are harmless to resend (the enqueue script's
 * seen keys drop them).
 *
 * The total size is capped: a record that does not fit makes room by
 * deleting the oldest segment of the least urgent level below its own
 * (counting every alert in it that was never read back as dropped), and is
 * itself refused if nothing less urgent is on disk.
 *
 * Ownership: spool_append() copies what it writes and leaves the alert
 * with the caller; spool_read() returns a new alert the caller owns, whose
 * spool_seg names its segment so spool_settle() can account for it.
 *
 * One process per directory (flock on spool_dir/lock).  Not thread-safe:
 * the loop thread only.
 */
#ifndef MENTIOND_SPOOL_H
#define MENTIOND_SPOOL_H

#include "alert.h"
#include "level.h"

#include <stddef.h>
#include <stdint.h>

enum spool_fsync { SPOOL_FSYNC_NEVER, SPOOL_FSYNC_SECOND, SPOOL_FSYNC_ALWAYS };

struct spool_stats {
    uint64_t written[LEVEL_COUNT];      /* records appended */
    uint64_t read[LEVEL_COUNT];         /* records read back */
    uint64_t dropped[LEVEL_COUNT];      /* never read back: deleted to make room, or refused */
    uint64_t corrupt;                   /* records with a bad header or checksum, skipped */
    uint64_t write_errors;
    uint64_t recovered;                 /* records found at open, from an earlier run */
    uint64_t withdrawn;                 /* records blanked because their post was deleted */
};

enum spool_rc {
    SPOOL_OK = 0,
    SPOOL_FULL = -1,                    /* refused: no room and nothing less urgent */
    SPOOL_ERR = -2,                     /* write failed (logged); nothing written */
};

struct spool;

/* Segment size for a spool of max_bytes: small enough that making room
 * drops little at a time (1/16 of the cap), at most 4 MiB. */
uint64_t spool_segment_bytes(uint64_t max_bytes);

/* Open (creating) dir, take its lock, scan what an earlier run left.
 * NULL with err filled (naming dir) on failure. */
struct spool *spool_open(const char *dir, uint64_t max_bytes, uint64_t segment_bytes, enum spool_fsync policy,
                         char *err, size_t errlen);
/* Close the writers, delete what is settled; the rest stays for next time. */
void spool_close(struct spool *s);

/* Append a at its level.  kept = 1: the caller keeps a in memory and will
 * send it itself (it counts as read; settle it later with a->spool_seg);
 * kept = 0: it is disk-only until spool_read() returns it.  Sets
 * a->spool_seg on success. */
enum spool_rc spool_append(struct spool *s, struct alert *a, int kept);
/* The oldest unread record of level, as a new alert (or NULL: none). */
struct alert *spool_read(struct spool *s, int level);
/* a (read back, or appended with kept = 1) is done with: acknowledged,
 * deduplicated or dropped.  Harmless for an alert not on disk. */
void spool_settle(struct spool *s, const struct alert *a);
/* The post of alert id was deleted: every record of it on disk is blanked
 * in place (its text gone from the disk; reading skips it).  Returns how
 * many; *unread = 1 if one had not been read back (never sent). */
int spool_withdraw(struct spool *s, const char *id, int *unread);
/* Is a still on disk (its segment not deleted to make room)? */
int spool_holds(const struct spool *s, const struct alert *a);

/* Records on disk not yet read back at level (disk-only backlog). */
uint64_t spool_unread(const struct spool *s, int level);
/* Records on disk not yet settled, and bytes on disk. */
uint64_t spool_records(const struct spool *s);
uint64_t spool_bytes(const struct spool *s);
const struct spool_stats *spool_stats(const struct spool *s);
/* fdatasync the segments written since the last call (the per-second
 * policy's timer, and shutdown). */
void spool_sync(struct spool *s);

#endif
