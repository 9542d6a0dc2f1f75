/* xblast: the bench's X v2 stream emulator, in C so that it is not the
 * bottleneck (scripts/stream-emulator is Python, for behaviour tests).
 *
 *   xblast INPUT [RATE]
 *
 * Serves INPUT (one stream record per line, each beginning
 * {"data":{"id":"1PPPPPPPP...) as one chunked HTTP response per
 * connection on 127.0.0.1 (the port is printed: "listening on
 * 127.0.0.1:PORT"), over and over, writing the pass number into the eight
 * P digits so that every pass brings new posts (mentiond drops repeats).
 * RATE: posts per second (paced each millisecond); 0 or absent: as fast as
 * the socket takes them.  Connections are served one at a time; when one
 * ends, "sent RECORDS BYTES SECONDS" goes to stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "{\"data\":{\"id\":\"1"
#define PASS_DIGITS 8
#define WRITE_MAX (256u << 10)

static char *data;
static size_t len, *rec_off, nrec;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int load(const char *path)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 0;

    if (!f || fseek(f, 0, SEEK_END) != 0 || (len = (size_t)ftell(f)) == 0 || fseek(f, 0, SEEK_SET) != 0)
        return -1;
    data = malloc(len);
    if (!data || fread(data, 1, len, f) != len)
        return -1;
    fclose(f);
    for (size_t o = 0; o < len;) {
        char *nl = memchr(data + o, '\n', len - o);
        if (!nl || strncmp(data + o, PREFIX, strlen(PREFIX)) != 0) {
            fprintf(stderr, "xblast: %s: record %zu does not begin %s\n", path, nrec + 1, PREFIX);
            return -1;
        }
        if (nrec == cap) {
            cap = cap ? cap * 2 : 4096;
            rec_off = realloc(rec_off, (cap + 1) * sizeof *rec_off);
        }
        rec_off[nrec++] = o;
        o = (size_t)(nl - data) + 1;
    }
    rec_off[nrec] = len;
    return 0;
}

static void mark_pass(unsigned long pass)
{
    char digits[PASS_DIGITS + 1];
    snprintf(digits, sizeof digits, "%0*lu", PASS_DIGITS, pass % 100000000ul);
    for (size_t i = 0; i < nrec; i++)
        memcpy(data + rec_off[i] + strlen(PREFIX), digits, PASS_DIGITS);
}

/* One chunk of HTTP chunked encoding; -1 when the client went away. */
static int send_chunk(int fd, const char *p, size_t n)
{
    char head[32];
    struct iovec iov[3] = {{head, 0}, {(void *)p, n}, {"\r\n", 2}};
    size_t total;

    iov[0].iov_len = (size_t)snprintf(head, sizeof head, "%zx\r\n", n);
    total = iov[0].iov_len + n + 2;
    while (total) {
        ssize_t w = writev(fd, iov, 3);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        total -= (size_t)w;
        for (int i = 0; i < 3 && w; i++) {
            size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            w -= (ssize_t)k;
        }
    }
    return 0;
}

static void serve(int fd, double rate)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    char req[8192];
    size_t got = 0, r = 0;
    unsigned long long sent = 0, bytes = 0, pass = 0;
    double t0;

    while (got < sizeof req - 1) {      /* the request head, not looked at */
        ssize_t n = read(fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            return;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    if (write(fd, head, sizeof head - 1) != (ssize_t)(sizeof head - 1))
        return;
    t0 = now_s();
    mark_pass(pass);
    for (;;) {
        size_t first = r, last = r;
        if (rate > 0) {
            double due = (now_s() - t0) * rate;
            if ((double)sent >= due) {
                struct timespec ms = {0, 1000000};
                nanosleep(&ms, NULL);
                continue;
            }
            while (last < nrec && (double)(sent + (last - first)) < due &&
                   rec_off[last + 1] - rec_off[first] <= WRITE_MAX)
                last++;
        } else {
            while (last < nrec && rec_off[last + 1] - rec_off[first] <= WRITE_MAX)
                last++;
        }
        if (last == first)
            last++;                     /* one record over WRITE_MAX */
        if (send_chunk(fd, data + rec_off[first], rec_off[last] - rec_off[first]) != 0)
            break;
        sent += last - first;
        bytes += rec_off[last] - rec_off[first];
        r = last;
        if (r == nrec) {
            r = 0;
            mark_pass(++pass);
        }
    }
    printf("sent %llu %llu %.3f\n", sent, bytes, now_s() - t0);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    double rate = argc > 2 ? atof(argv[2]) : 0;
    int one = 1, ls;

    if (argc < 2 || load(argv[1]) != 0) {
        fprintf(stderr, "usage: xblast INPUT [POSTS_PER_SECOND]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ls = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 4) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0) {
        perror("xblast: listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        serve(fd, rate);
        close(fd);
    }
}
