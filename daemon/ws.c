/* ws: RFC 6455 client framing and handshake; see ws.h.  The one module
 * that uses libcrypto (SHA-1 and base64 for the handshake, random keys). */
#include "ws.h"
#include "util.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- URLs and handshake ------------------------------------------------ */

int ws_url_parse(const char *url, struct ws_url *u, char *err, size_t errlen)
{
    const char *h, *end, *colon, *slash;
    size_t hl;

    memset(u, 0, sizeof *u);
    if (strncasecmp(url, "ws://", 5) == 0) {
        h = url + 5;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        h = url + 6;
        u->tls = 1;
    } else {
        snprintf(err, errlen, "not a ws:// or wss:// URL");
        return -1;
    }
    slash = h + strcspn(h, "/?#");
    if (*h == '[') {                    /* [IPv6] */
        end = memchr(h, ']', (size_t)(slash - h));
        if (!end) {
            snprintf(err, errlen, "unterminated [IPv6] host");
            return -1;
        }
        hl = (size_t)(end - h - 1);
        memcpy(u->host, h + 1, hl < sizeof u->host ? hl : 0);
        colon = end + 1 < slash && end[1] == ':' ? end + 1 : NULL;
        h++;
    } else {
        colon = memchr(h, ':', (size_t)(slash - h));
        hl = (size_t)((colon ? colon : slash) - h);
        if (hl < sizeof u->host)
            memcpy(u->host, h, hl);
    }
    if (hl == 0 || hl >= sizeof u->host || memchr(h, '@', (size_t)(slash - h))) {
        snprintf(err, errlen, hl == 0 ? "no host" : hl >= sizeof u->host ? "host name too long"
                                                                          : "user info in a WebSocket URL");
        return -1;
    }
    u->port = u->tls ? 443 : 80;
    if (colon) {
        char *e;
        long port = strtol(colon + 1, &e, 10);
        if (e != slash || port < 1 || port > 65535) {
            snprintf(err, errlen, "bad port");
            return -1;
        }
        u->port = (int)port;
    }
    if (*slash == '#' || strchr(slash, '#')) {
        snprintf(err, errlen, "a fragment is not allowed in a WebSocket URL");
        return -1;
    }
    if (snprintf(u->target, sizeof u->target, "%s%s", *slash == '/' ? "" : "/", slash) >=
        (int)sizeof u->target) {
        snprintf(err, errlen, "path and query too long");
        return -1;
    }
    return 0;
}

int ws_key_new(char key[WS_KEY_LEN + 1])
{
    unsigned char raw[16];

    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    return 0;
}

void ws_accept_for(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char in[128];
    int n = snprintf(in, sizeof in, "%s%s", key, WS_GUID);

    if (n < 0 || n >= (int)sizeof in || EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha1(), NULL) != 1) {
        out[0] = '\0';
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

int ws_handshake_request(struct buf *out, const struct ws_url *u, const char *key, const char *user_agent,
                         const char *protocol, const char *const *headers)
{
    int def = u->port == (u->tls ? 443 : 80);
    int v6 = strchr(u->host, ':') != NULL;
    int r = buf_printf(out, "GET %s HTTP/1.1\r\nHost: %s%s%s", u->target, v6 ? "[" : "", u->host, v6 ? "]" : "");

    if (!r && !def)
        r = buf_printf(out, ":%d", u->port);
    if (!r)
        r = buf_printf(out, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                            "Sec-WebSocket-Version: 13\r\nUser-Agent: %s\r\n",
                       key, user_agent ? user_agent : "mentiond");
    if (!r && protocol)
        r = buf_printf(out, "Sec-WebSocket-Protocol: %s\r\n", protocol);
    for (int i = 0; !r && headers && headers[i]; i++)
        r = buf_printf(out, "%s\r\n", headers[i]);
    if (!r)
        r = buf_printf(out, "\r\n");
    return r ? -1 : 0;
}

/* Does a comma-separated header value hold token (case-insensitive)? */
static int has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);

    while (n) {
        size_t l = 0, e;
        while (n && (*v == ' ' || *v == '\t' || *v == ','))
            v++, n--;
        while (l < n && v[l] != ',')
            l++;
        e = l;
        while (e && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e == tl && strncasecmp(v, token, tl) == 0)
            return 1;
        v += l;
        n -= l;
    }
    return 0;
}

int ws_handshake_check(const char *head, size_t len, const char *key, const char *protocol, long *status,
                       char *err, size_t errlen)
{
    const char *p = head, *end = head + len, *eol;
    char accept[WS_ACCEPT_LEN + 1];
    int upgrade = 0, connection = 0, accept_ok = 0;

    *status = 0;
    eol = memchr(p, '\n', len);
    if (!eol || len < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0 || p[9] < '1' || p[9] > '5' || p[10] < '0' ||
        p[10] > '9' || p[11] < '0' || p[11] > '9') {
        snprintf(err, errlen, "no HTTP/1.1 status line in the handshake response");
        return -1;
    }
    *status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (*status != 101) {
        snprintf(err, errlen, "HTTP %ld instead of 101 Switching Protocols", *status);
        return -1;
    }
    ws_accept_for(key, accept);
    for (p = eol + 1; p < end; p = eol + 1) {
        const char *colon, *v;
        size_t nl, vl;

        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        nl = (size_t)(eol - p);
        if (nl && p[nl - 1] == '\r')
            nl--;
        if (nl == 0)
            break;
        colon = memchr(p, ':', nl);
        if (!colon)
            continue;
        v = colon + 1;
        vl = (size_t)(p + nl - v);
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
#define IS(name) ((size_t)(colon - p) == sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0)
        if (IS("Upgrade"))
            upgrade = has_token(v, vl, "websocket");
        else if (IS("Connection"))
            connection = has_token(v, vl, "upgrade");
        else if (IS("Sec-WebSocket-Accept"))
            accept_ok = vl == WS_ACCEPT_LEN && memcmp(v, accept, WS_ACCEPT_LEN) == 0;
        else if (IS("Sec-WebSocket-Protocol") && protocol && vl == strlen(protocol) &&
                 memcmp(v, protocol, vl) == 0)
            ;                           /* the one we asked for */
        else if (IS("Sec-WebSocket-Extensions") || IS("Sec-WebSocket-Protocol")) {
            snprintf(err, errlen, "the server chose %.*s we did not ask for", (int)(colon - p), p);
            return -1;
        }
#undef IS
    }
    if (!upgrade || !connection || !accept_ok) {
        snprintf(err, errlen, "handshake response without %s",
                 !upgrade ? "Upgrade: websocket" : !connection ? "Connection: Upgrade"
                                                               : "a matching Sec-WebSocket-Accept");
        return -1;
    }
    return 0;
}

long ws_head_content_length(const char *head, size_t len)
{
    static const char name[] = "\nContent-Length:";
    const char *end = head + len;
    long n;

    for (const char *p = head; p + sizeof name - 1 < end; p++) {
        if (*p != '\n' || strncasecmp(p, name, sizeof name - 1) != 0)
            continue;
        p += sizeof name - 1;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p == end || *p < '0' || *p > '9')
            return -1;
        for (n = 0; p < end && *p >= '0' && *p <= '9' && n < 100000000; p++)
            n = n * 10 + (*p - '0');
        return n;
    }
    return -1;
}

/* ---- frames from the server ------------------------------------------- */

void ws_parser_init(struct ws_parser *p, size_t max_message)
{
    memset(p, 0, sizeof *p);
    p->max_message = max_message;
    buf_init(&p->msg, max_message);
    p->hneed = 2;
}

void ws_parser_free(struct ws_parser *p)
{
    buf_free(&p->msg);
}

int ws_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static int fail(struct ws_parser *p, int code, const char *why)
{
    p->close_code = code;
    snprintf(p->err, sizeof p->err, "WebSocket protocol error at stream offset %llu: %s",
             (unsigned long long)p->offset, why);
    return -1;
}

static int close_code_valid(int c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

int ws_close_code(const unsigned char *p, size_t n, char *reason, size_t reasonlen)
{
    size_t j = 0;

    if (reasonlen)
        reason[0] = '\0';
    if (n < 2)
        return WS_CLOSE_NO_STATUS;
    for (size_t i = 2; i < n && j + 1 < reasonlen; i++)
        reason[j++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    if (reasonlen)
        reason[j] = '\0';
    return p[0] << 8 | p[1];
}

/* The header is complete: check it and set up the payload. */
static int frame_start(struct ws_parser *p)
{
    const unsigned char *h = p->hdr;
    unsigned len7 = h[1] & 0x7F;
    uint64_t len = len7;

    if (len7 == 126)
        len = (uint64_t)h[2] << 8 | h[3];
    else if (len7 == 127) {
        len = 0;
        for (int i = 2; i < 10; i++)
            len = len << 8 | h[i];
        if (len >> 63)
            return fail(p, WS_CLOSE_PROTOCOL, "64-bit length with the top bit set");
    }
    p->remaining = p->frame_len = len;
    p->in_payload = 1;
    p->st.frames++;
    if (p->opcode & 0x8) {
        p->ctl_len = 0;
        return 0;
    }
    if (p->opcode == WS_CONT && !p->msg_opcode)
        return fail(p, WS_CLOSE_PROTOCOL, "continuation frame outside a message");
    if (p->opcode != WS_CONT && p->msg_opcode)
        return fail(p, WS_CLOSE_PROTOCOL, "new data frame inside a fragmented message");
    if (p->opcode != WS_CONT) {
        p->msg_opcode = p->opcode;
        p->msg_size = 0;
        p->msg_skip = 0;
        buf_reset(&p->msg);
    }
    p->msg_size += len;
    if (p->msg_size > p->max_message && !p->msg_skip) {
        p->msg_skip = 1;
        buf_reset(&p->msg);
    }
    return 0;
}

/* First two header bytes: what kind of frame and how long its header is. */
static int header_first(struct ws_parser *p)
{
    unsigned b0 = p->hdr[0], b1 = p->hdr[1], len7 = b1 & 0x7F;

    p->fin = (b0 & 0x80) != 0;
    p->opcode = (int)(b0 & 0x0F);
    if (b0 & 0x70)
        return fail(p, WS_CLOSE_PROTOCOL, "reserved bits set (no extension was negotiated)");
    if (b1 & 0x80)
        return fail(p, WS_CLOSE_PROTOCOL, "masked frame from the server");
    switch (p->opcode) {
    case WS_CONT:
    case WS_TEXT:
    case WS_BINARY:
        break;
    case WS_CLOSE:
    case WS_PING:
    case WS_PONG:
        if (!p->fin)
            return fail(p, WS_CLOSE_PROTOCOL, "fragmented control frame");
        if (len7 > WS_MAX_CONTROL)
            return fail(p, WS_CLOSE_PROTOCOL, "control frame over 125 bytes");
        break;
    default:
        return fail(p, WS_CLOSE_PROTOCOL, "unknown opcode");
    }
    p->hneed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    return 0;
}

static int control_end(struct ws_parser *p, const struct ws_parser_cbs *cb, void *ctx)
{
    if (p->opcode == WS_PING)
        p->st.pings++;
    else if (p->opcode == WS_PONG)
        p->st.pongs++;
    else if (p->ctl_len == 1)
        return fail(p, WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
    else if (p->ctl_len >= 2 && !close_code_valid(p->ctl[0] << 8 | p->ctl[1]))
        return fail(p, WS_CLOSE_PROTOCOL, "close frame with an invalid code");
    else if (p->ctl_len > 2 && !ws_utf8_valid(p->ctl + 2, p->ctl_len - 2))
        return fail(p, WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
    return cb->on_control && cb->on_control(ctx, p->opcode, p->ctl, p->ctl_len) ? 1 : 0;
}

/* A frame's payload is complete; direct is the whole message when it lay
 * in one fed chunk (no copy was made). */
static int frame_end(struct ws_parser *p, const char *direct, size_t dlen, const struct ws_parser_cbs *cb,
                     void *ctx)
{
    int stop = 0;

    p->hlen = 0;
    p->hneed = 2;
    p->in_payload = 0;
    if (p->opcode & 0x8)
        return control_end(p, cb, ctx);
    if (!p->fin)
        return 0;
    if (p->msg_skip) {
        p->st.oversized++;
        if (cb->on_oversize)
            cb->on_oversize(ctx, p->msg_size);
    } else {
        const char *m = direct ? direct : p->msg.data ? p->msg.data : "";
        size_t n = direct ? dlen : p->msg.len;
        if (p->msg_opcode == WS_TEXT && !ws_utf8_valid((const unsigned char *)m, n))
            return fail(p, WS_CLOSE_BAD_DATA, "text message is not UTF-8");
        p->st.messages++;
        stop = cb->on_message && cb->on_message(ctx, p->msg_opcode, m, n);
    }
    p->msg_opcode = 0;
    buf_reset(&p->msg);
    return stop ? 1 : 0;
}

int ws_parser_feed(struct ws_parser *p, const char *data, size_t n, const struct ws_parser_cbs *cb, void *ctx)
{
    int r;

    if (p->close_code)
        return -1;                      /* failed before: sticky */
    for (;;) {
        if (!p->in_payload) {
            while (n && p->hlen < p->hneed) {
                p->hdr[p->hlen++] = (unsigned char)*data++;
                n--;
                p->offset++;
                if (p->hlen == 2 && header_first(p) != 0)
                    return -1;
            }
            if (p->hlen < p->hneed)
                return 0;
            if (frame_start(p) != 0)
                return -1;
        }
        if (p->remaining) {
            size_t take = n < p->remaining ? n : (size_t)p->remaining;
            const char *direct = NULL;

            if (take == 0)
                return 0;
            if (p->opcode & 0x8) {
                memcpy(p->ctl + p->ctl_len, data, take);
                p->ctl_len += take;
            } else if (!p->msg_skip) {
                if (p->fin && p->opcode != WS_CONT && take == p->frame_len)
                    direct = data;      /* a whole one-frame message in this chunk: no copy */
                else if (buf_append(&p->msg, data, take) != BUF_OK) {
                    p->msg_skip = 1;    /* cannot happen below the cap; be safe */
                    buf_reset(&p->msg);
                }
            }
            data += take;
            n -= take;
            p->offset += take;
            p->remaining -= take;
            if (p->remaining)
                return 0;
            r = frame_end(p, direct, take, cb, ctx);
        } else {
            r = frame_end(p, NULL, 0, cb, ctx);
        }
        if (r)
            return r;
        if (!n)
            return 0;
    }
}

/* ---- frames to the server --------------------------------------------- */

int ws_frame_encode(struct buf *out, int opcode, const void *payload, size_t n, const unsigned char *mask)
{
    unsigned char h[14], key[4];
    size_t hl = 2, start;
    const unsigned char *src = payload;

    if ((opcode & 0x8) && n > WS_MAX_CONTROL)
        return -1;
    if (mask)
        memcpy(key, mask, 4);
    else if (RAND_bytes(key, 4) != 1)
        return -1;
    h[0] = (unsigned char)(0x80 | (opcode & 0x0F));
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n <= 0xFFFF) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(h + hl, key, 4);
    hl += 4;
    if (buf_append(out, h, hl) != BUF_OK)
        return -1;
    start = out->len;
    if (n && buf_append(out, payload, n) != BUF_OK) {
        out->len -= hl;
        out->data[out->len] = '\0';
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        out->data[start + i] = (char)(src[i] ^ key[i & 3]);
    return 0;
}

int ws_close_encode(struct buf *out, int code, const char *reason)
{
    unsigned char pl[WS_MAX_CONTROL];
    size_t rl = reason ? strlen(reason) : 0;

    if (rl > WS_MAX_CONTROL - 2)
        rl = WS_MAX_CONTROL - 2;
    pl[0] = (unsigned char)(code >> 8);
    pl[1] = (unsigned char)code;
    if (rl)
        memcpy(pl + 2, reason, rl);
    return ws_frame_encode(out, WS_CLOSE, pl, rl + 2, NULL);
}
