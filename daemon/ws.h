/* ws: the client side of the WebSocket protocol (RFC 6455), without I/O.
 *
 * Everything here is pure so that it can be unit-tested and fuzzed; the
 * transport (ws_client.c) feeds it the bytes a server sends and writes out
 * what it encodes.
 *
 *  - URLs: ws://host[:port]/path?query and wss://..., IPv6 in brackets.
 *  - Handshake: the GET with a random Sec-WebSocket-Key, and the check of
 *    the server's answer (101, Upgrade: websocket, Connection: Upgrade,
 *    Sec-WebSocket-Accept = base64(SHA-1(key + GUID)), no extension or
 *    subprotocol we did not ask for).
 *  - Frames from the server: unmasked (a masked one is a protocol error),
 *    RSV bits zero (we negotiate no extension), known opcodes only, control
 *    frames short and unfragmented and allowed between the fragments of a
 *    message, continuation only inside a message, 64-bit lengths with the
 *    top bit clear, text messages valid UTF-8, close payloads with a valid
 *    code.  A protocol error names the stream offset and the close code to
 *    send (1002, 1007).
 *  - A data message larger than max_message is not an error: its bytes are
 *    skipped as they arrive (memory never grows past the cap), and it is
 *    reported once through on_oversize, like an oversized line elsewhere.
 *  - Frames to the server: always masked with a fresh random key.
 *
 * Owner: whoever embeds struct ws_parser; ws_parser_free() releases it.
 */
#ifndef MENTIOND_WS_H
#define MENTIOND_WS_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

enum ws_opcode { WS_CONT = 0x0, WS_TEXT = 0x1, WS_BINARY = 0x2, WS_CLOSE = 0x8, WS_PING = 0x9, WS_PONG = 0xA };

/* Close codes (RFC 6455 7.4.1) we send or test for. */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_NO_STATUS 1005
#define WS_CLOSE_BAD_DATA 1007
#define WS_CLOSE_TOO_BIG 1009

#define WS_MAX_CONTROL 125
#define WS_KEY_LEN 24                   /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28                /* base64 of a SHA-1 */
#define WS_MAX_HANDSHAKE (16u * 1024u)  /* response head cap */

struct ws_url {
    int tls;                            /* wss */
    char host[256];
    int port;
    char target[8192];                  /* path and query, at least "/" */
};

/* Parse url into u.  Returns 0, or -1 with err saying why. */
int ws_url_parse(const char *url, struct ws_url *u, char *err, size_t errlen);

/* A fresh random Sec-WebSocket-Key (NUL-terminated).  Returns 0 or -1. */
int ws_key_new(char key[WS_KEY_LEN + 1]);
/* The Sec-WebSocket-Accept a server must answer for key. */
void ws_accept_for(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* The opening GET; protocol is the subprotocol asked for
 * (Sec-WebSocket-Protocol) or NULL; headers are extra "Name: value" lines
 * (NULL-terminated list, or NULL).  Returns 0 or -1 if out's cap was hit. */
int ws_handshake_request(struct buf *out, const struct ws_url *u, const char *key, const char *user_agent,
                         const char *protocol, const char *const *headers);
/* Check the server's response head (status line and headers up to the
 * blank line).  The server may choose the subprotocol asked for (protocol)
 * or none, nothing else.  Returns 0 if the upgrade succeeded; otherwise -1,
 * with *status the HTTP status (0 if there was no valid status line) and
 * err saying why. */
int ws_handshake_check(const char *head, size_t len, const char *key, const char *protocol, long *status,
                       char *err, size_t errlen);
/* The Content-Length of a response head, or -1 if it has none: the body
 * of a refused upgrade (an XRPC error) is read up to it. */
long ws_head_content_length(const char *head, size_t len);

struct ws_stats {
    uint64_t frames;
    uint64_t messages;
    uint64_t oversized;
    uint64_t pings;
    uint64_t pongs;
};

struct ws_parser {
    size_t max_message;
    uint64_t offset;                    /* bytes consumed: where an error is */
    /* current frame */
    unsigned char hdr[14];
    size_t hlen, hneed;
    int in_payload;
    int fin, opcode;
    uint64_t frame_len;                 /* payload bytes of this frame */
    uint64_t remaining;                 /* of which still to come */
    /* current data message */
    int msg_opcode;                     /* WS_TEXT/WS_BINARY while one is open, else 0 */
    int msg_skip;                       /* over max_message: bytes dropped */
    uint64_t msg_size;
    struct buf msg;
    /* current control frame */
    unsigned char ctl[WS_MAX_CONTROL];
    size_t ctl_len;
    /* error */
    int close_code;
    char err[160];
    struct ws_stats st;
};

struct ws_parser_cbs {
    /* A whole data message (WS_TEXT or WS_BINARY); the pointer is valid
     * during the call.  Return non-zero to stop feeding. */
    int (*on_message)(void *ctx, int opcode, const char *p, size_t n);
    /* A data message over max_message was skipped; size is its length. */
    void (*on_oversize)(void *ctx, uint64_t size);
    /* A ping, pong or close (payload as sent, at most 125 bytes).  Return
     * non-zero to stop feeding. */
    int (*on_control)(void *ctx, int opcode, const unsigned char *p, size_t n);
};

void ws_parser_init(struct ws_parser *p, size_t max_message);
void ws_parser_free(struct ws_parser *p);
/* Feed bytes received from the server.  Returns 0 when all were consumed,
 * 1 if a callback stopped it, -1 on a protocol error (p->err, p->close_code;
 * the connection must be failed). */
int ws_parser_feed(struct ws_parser *p, const char *data, size_t n, const struct ws_parser_cbs *cb, void *ctx);

/* Close payload: the code (WS_CLOSE_NO_STATUS if none) and a printable copy
 * of the reason. */
int ws_close_code(const unsigned char *p, size_t n, char *reason, size_t reasonlen);

/* Append one masked client frame (FIN set).  mask NULL: a random key.
 * Returns 0, or -1 (cap hit, control payload over 125 bytes). */
int ws_frame_encode(struct buf *out, int opcode, const void *payload, size_t n, const unsigned char *mask);
/* A close frame with code and reason. */
int ws_close_encode(struct buf *out, int code, const char *reason);

/* 1 if p[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int ws_utf8_valid(const unsigned char *p, size_t n);

#endif
