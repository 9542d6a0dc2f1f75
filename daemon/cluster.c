/* cluster: hash slots, routing keys and redirects; see cluster.h. */
#include "cluster.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial 0, as the cluster
 * specification's reference code. */
static uint16_t crc16(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;

    while (n--) {
        crc ^= (uint16_t)(*p++ << 8);
        for (int i = 0; i < 8; i++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int cluster_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len), *close;

    if (open && (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key))) && close > open + 1)
        return crc16((const unsigned char *)open + 1, (size_t)(close - open - 1)) % CLUSTER_SLOTS;
    return crc16((const unsigned char *)key, len) % CLUSTER_SLOTS;
}

#define KEY_EVAL (-3)                   /* numkeys at argv[2], the first key at argv[3] */

/* Per command mentiond sends that is not routed by argv[1]. */
static const struct {
    const char *name;
    int key;
} commands[] = {
    {"EVAL", KEY_EVAL},
    {"EVALSHA", KEY_EVAL},
    {"XGROUP", 2},                      /* XGROUP CREATE <key> ... */
    {"SCRIPT", CLUSTER_EVERY_NODE},
    {"ASKING", CLUSTER_KEYLESS},
    {"AUTH", CLUSTER_KEYLESS},
    {"CLUSTER", CLUSTER_KEYLESS},
    {"DEBUG", CLUSTER_KEYLESS},
    {"INFO", CLUSTER_KEYLESS},
    {"PING", CLUSTER_KEYLESS},
    {"SELECT", CLUSTER_KEYLESS},
    {"TIME", CLUSTER_KEYLESS},
};

int cluster_command_key(int argc, const char *const *argv)
{
    int key = 1;

    if (argc < 1)
        return CLUSTER_KEYLESS;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcasecmp(argv[0], commands[i].name) == 0) {
            key = commands[i].key;
            break;
        }
    if (key == KEY_EVAL)
        key = argc > 3 && atoi(argv[2]) > 0 ? 3 : CLUSTER_KEYLESS;
    return key >= argc ? CLUSTER_KEYLESS : key;
}

/* "<slot> <host>:<port>" (the host may hold colons: IPv6). */
static int parse_target(const char *s, struct cluster_target *t)
{
    char *end;
    const char *colon;
    long slot = strtol(s, &end, 10), port;
    size_t hl;

    if (end == s || *end != ' ' || slot < 0 || slot >= CLUSTER_SLOTS)
        return -1;
    s = end + 1;
    if (!(colon = strrchr(s, ':')) || (hl = (size_t)(colon - s)) >= sizeof t->host)
        return -1;
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end && *end != ' ' && *end != '\r' && *end != '\n') || port < 1 || port > 65535)
        return -1;
    t->slot = (int)slot;
    memcpy(t->host, s, hl);
    t->host[hl] = '\0';
    t->port = (int)port;
    return 0;
}

enum cluster_redirect cluster_parse_error(const char *err, struct cluster_target *t)
{
    if (strncmp(err, "MOVED ", 6) == 0)
        return parse_target(err + 6, t) == 0 ? CLUSTER_MOVED : CLUSTER_NONE;
    if (strncmp(err, "ASK ", 4) == 0)
        return parse_target(err + 4, t) == 0 ? CLUSTER_ASK : CLUSTER_NONE;
    if (strncmp(err, "TRYAGAIN", 8) == 0)
        return CLUSTER_TRYAGAIN;
    if (strncmp(err, "CLUSTERDOWN", 11) == 0)
        return CLUSTER_DOWN;
    return CLUSTER_NONE;
}
