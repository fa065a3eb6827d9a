/*
 * wsflood — many idle WebSocket watchers in one single-threaded epoll loop.
 *
 * Why C: a Python receiver tops out far below the 100k+ frames/s a fan-out
 * benchmark produces, so the load tool would measure itself. This client
 * does the RFC 6455 minimum (upgrade, masked client frames, 7/16/64-bit
 * lengths, fragments, ping/close), subscribes every connection to one lot
 * and, per `bid` frame, only scans for "seq", "price" and "lot" — no JSON
 * parsing, no per-event storage.
 *
 * Protocol with the driver (bench/fanout.py), one line each on stdout:
 *   READY <ready> <failed>        all connections subscribed (or given up)
 *   PROGRESS <bid_frames>         every 200 ms while the count changes
 *   RESULT {json}                 on exit: see print_result()
 * It exits after stdin reaches EOF (or reads a line "stop"), on SIGTERM or
 * SIGINT, or --duration seconds after READY.
 *
 * Per seq it keeps the receiver count, first/last receive time
 * (CLOCK_MONOTONIC ns, comparable with Python's time.monotonic_ns()) and a
 * log-linear histogram of receive times relative to that seq's first
 * receipt, so the driver can compute per-delivery latency against the ack
 * time it measured. Per connection it keeps the last seq/price for the
 * order and final-price checks.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Histogram: values < 64 us exact, then 32 sub-buckets per power of two (~3%). */
#define SUB_BITS 5
#define SUB (1 << SUB_BITS)
#define LINEAR (2 * SUB)
#define MAX_EXP 40
#define NBUCKETS (LINEAR + (MAX_EXP - SUB_BITS - 1) * SUB)

#define TAG_STDIN 0xFFFFFFF0u
#define TAG_SIGNAL 0xFFFFFFF1u

enum { ST_QUEUED, ST_CONNECTING, ST_HANDSHAKE, ST_SUBSCRIBING, ST_READY, ST_DEAD };

typedef struct {
    int fd;
    uint8_t state;
    uint8_t attempts;
    uint8_t frag_op;     /* opcode of a fragmented message in progress, 0 if none */
    uint16_t lot;
    int64_t last_seq;    /* from the snapshot, then every bid frame */
    int64_t last_price;
    int64_t started_ns;  /* when the current attempt began (for timeouts) */
    char *in;            /* unparsed inbound bytes (usually empty) */
    uint32_t in_len, in_cap;
    char *frag;          /* payload of a fragmented message */
    uint32_t frag_len, frag_cap;
    char *out;           /* outbound bytes the socket did not take yet */
    uint32_t out_len, out_cap;
} conn_t;

typedef struct {
    uint32_t count;
    int64_t first_ns, last_ns;
    uint32_t *hist;      /* NBUCKETS, allocated on the seq's first receipt */
} seqstat_t;

typedef struct {
    const char *id;
    size_t id_len;
    uint32_t ready;              /* subscribed watchers of this lot */
    uint64_t gaps, dups, wrong_lot;
    seqstat_t *seqs;             /* indexed by seq */
    int64_t seq_cap;
} lot_t;

static struct {
    const char *host, *path;
    int port, conns, batch, retries;
    double duration, timeout;
    int lot_offset;
} opt = {"127.0.0.1", "/ws", 0, 1000, 200, 5, 0, 15, 0};

static conn_t *conns;
static lot_t *lots;
static int nlots;
static int epfd;
static struct sockaddr_in addr;
static char handshake[512];
static int handshake_len;

static int *queue;               /* FIFO of connection indices to (re)start */
static int64_t *queue_at;        /* not before this time */
static int q_head, q_tail;       /* ring of capacity opt.conns + 1 */
static int inflight, n_ready, n_failed, n_opened;
static uint64_t n_retries, closed_in_run, bid_frames, other_frames, error_frames;
static uint64_t extra_snapshots, bytes_in;
static int64_t first_frame_ns, last_frame_ns, t_start_ns, t_ready_ns;
static int ready_announced;
static uint32_t rng = 2463534242u;
static char rbuf[1 << 16];

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *msg) {
    perror(msg);
    exit(2);
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n);
    if (!p) die("realloc");
    return p;
}

static void append(char **buf, uint32_t *len, uint32_t *cap, const char *data, size_t n) {
    if (*len + n > *cap) {
        uint32_t c = *cap ? *cap : 1024;
        while (c < *len + n) c *= 2;
        *buf = xrealloc(*buf, c);
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
}

static int bucket_of(uint64_t us) {
    if (us < LINEAR) return (int)us;
    int e = 63 - __builtin_clzll(us);
    if (e >= MAX_EXP) return NBUCKETS - 1;
    return LINEAR + (e - SUB_BITS - 1) * SUB + (int)((us >> (e - SUB_BITS)) & (SUB - 1));
}

/* ---- connection lifecycle ---------------------------------------------- */

static void enqueue(int i, int64_t at) {
    queue[q_tail] = i;
    queue_at[q_tail] = at;
    q_tail = (q_tail + 1) % (opt.conns + 1);
}

static void release(conn_t *c) {
    if (c->fd >= 0) close(c->fd);  /* close() also removes it from epoll */
    c->fd = -1;
    c->in_len = c->frag_len = c->out_len = 0;
    c->frag_op = 0;
}

/* A connection failed before it was subscribed: retry it, or give up. */
static void fail(int i) {
    conn_t *c = &conns[i];
    release(c);
    inflight--;
    if (c->attempts <= opt.retries) {
        n_retries++;
        c->state = ST_QUEUED;
        enqueue(i, now_ns() + 100000000LL * c->attempts);
    } else {
        c->state = ST_DEAD;
        n_failed++;
    }
}

/* The server closed (or broke) a subscribed connection. */
static void lost(int i) {
    conn_t *c = &conns[i];
    release(c);
    c->state = ST_DEAD;
    lots[c->lot].ready--;
    n_ready--;
    closed_in_run++;
}

static void watch(conn_t *c, int i, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)i};
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0) die("epoll_ctl");
}

/* Write now what the socket takes; keep the rest and wait for EPOLLOUT. */
static int send_bytes(int i, const char *data, size_t n) {
    conn_t *c = &conns[i];
    if (c->out_len == 0) {
        ssize_t w = write(c->fd, data, n);
        if (w < 0 && errno != EAGAIN) return -1;
        if (w < 0) w = 0;
        data += w;
        n -= (size_t)w;
        if (n == 0) return 0;
        watch(c, i, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }
    append(&c->out, &c->out_len, &c->out_cap, data, n);
    return 0;
}

/* Client frames must be masked (RFC 6455 5.3). */
static int send_frame(int i, int opcode, const char *payload, size_t n) {
    char f[14 + 256];
    if (n > 256) return -1;
    size_t h = 0;
    f[h++] = (char)(0x80 | opcode);
    if (n < 126) {
        f[h++] = (char)(0x80 | n);
    } else {
        f[h++] = (char)(0x80 | 126);
        f[h++] = (char)(n >> 8);
        f[h++] = (char)n;
    }
    rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
    memcpy(f + h, &rng, 4);
    const unsigned char *mask = (unsigned char *)f + h;
    h += 4;
    for (size_t k = 0; k < n; k++) f[h + k] = (char)(payload[k] ^ mask[k & 3]);
    return send_bytes(i, f, h + n);
}

static void start(int i) {
    conn_t *c = &conns[i];
    c->attempts++;
    c->started_ns = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket (raise the open-file limit?)");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    inflight++;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        fail(i);
        return;
    }
    c->state = ST_CONNECTING;
    watch(c, i, EPOLLOUT, EPOLL_CTL_ADD);
}

static void start_queued(int64_t now) {
    while (inflight < opt.batch && q_head != q_tail && queue_at[q_head] <= now) {
        int i = queue[q_head];
        q_head = (q_head + 1) % (opt.conns + 1);
        start(i);
    }
}

/* Attempts stuck in connect/handshake/subscribe (an overloaded server) are retried. */
static void check_timeouts(int64_t now) {
    int64_t limit = (int64_t)(opt.timeout * 1e9);
    for (int i = 0; i < opt.conns; i++) {
        conn_t *c = &conns[i];
        if (c->state >= ST_CONNECTING && c->state <= ST_SUBSCRIBING && now - c->started_ns > limit)
            fail(i);
    }
}

/* ---- cheap JSON scanning ------------------------------------------------ */

/* Pointer just past `"key":` and any blanks, or NULL. */
static const char *after_key(const char *p, size_t n, const char *key, size_t klen) {
    const char *end = p + n;
    while ((p = memmem(p, (size_t)(end - p), key, klen)) != NULL) {
        p += klen;
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p < end && *p == ':') {
            p++;
            while (p < end && (*p == ' ' || *p == '\t')) p++;
            return p;
        }
    }
    return NULL;
}

static int64_t int_at(const char *p, const char *end) {
    int64_t v = 0;
    if (!p) return -1;
    while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
    return v;
}

#define KEY(s) s, sizeof(s) - 1

/* The largest value of `"key":N` in the message (the lot's seq/price in a snapshot). */
static int64_t max_int(const char *p, size_t n, const char *key, size_t klen) {
    const char *end = p + n;
    int64_t best = -1;
    while ((p = after_key(p, (size_t)(end - p), key, klen)) != NULL) {
        int64_t v = int_at(p, end);
        if (v > best) best = v;
    }
    return best;
}

static void record_bid(int i, const char *p, size_t n, int64_t t) {
    conn_t *c = &conns[i];
    lot_t *lot = &lots[c->lot];
    const char *end = p + n;
    const char *l = after_key(p, n, KEY("\"lot\""));
    if (!l || l + lot->id_len + 2 > end || *l != '"' || memcmp(l + 1, lot->id, lot->id_len) != 0 ||
        l[1 + lot->id_len] != '"') {
        lot->wrong_lot++;
        return;
    }
    int64_t seq = int_at(after_key(p, n, KEY("\"seq\"")), end);
    if (seq < 0) return;
    if (seq <= c->last_seq) lot->dups++;
    else if (seq != c->last_seq + 1) lot->gaps++;
    if (seq > c->last_seq) {
        c->last_seq = seq;
        c->last_price = int_at(after_key(p, n, KEY("\"price\"")), end);
    }
    if (seq >= lot->seq_cap) {
        int64_t cap = lot->seq_cap ? lot->seq_cap : 1024;
        while (cap <= seq) cap *= 2;
        lot->seqs = xrealloc(lot->seqs, (size_t)cap * sizeof(seqstat_t));
        memset(lot->seqs + lot->seq_cap, 0, (size_t)(cap - lot->seq_cap) * sizeof(seqstat_t));
        lot->seq_cap = cap;
    }
    seqstat_t *s = &lot->seqs[seq];
    if (!s->hist) {
        s->hist = calloc(NBUCKETS, sizeof(uint32_t));
        if (!s->hist) die("calloc");
        s->first_ns = t;
    }
    s->count++;
    s->last_ns = t;
    s->hist[bucket_of((uint64_t)(t - s->first_ns) / 1000)]++;
    bid_frames++;
    if (!first_frame_ns) first_frame_ns = t;
    last_frame_ns = t;
}

static void on_text(int i, const char *p, size_t n, int64_t t) {
    conn_t *c = &conns[i];
    const char *end = p + n;
    const char *ty = after_key(p, n, KEY("\"type\""));
    if (!ty || *ty != '"') {
        other_frames++;
        return;
    }
    ty++;
    size_t tl = 0;
    while (ty + tl < end && ty[tl] != '"') tl++;
    if (tl == 3 && memcmp(ty, "bid", 3) == 0) {
        if (c->state == ST_READY) record_bid(i, p, n, t);
        return;
    }
    if (tl == 8 && memcmp(ty, "snapshot", 8) == 0) {
        c->last_seq = max_int(p, n, KEY("\"seq\""));
        if (c->last_seq < 0) c->last_seq = 0;
        c->last_price = max_int(p, n, KEY("\"price\""));
        if (c->state == ST_SUBSCRIBING) {
            c->state = ST_READY;
            inflight--;
            n_ready++;
            lots[c->lot].ready++;
        } else {
            extra_snapshots++;
        }
        return;
    }
    if (tl == 5 && memcmp(ty, "error", 5) == 0) {
        error_frames++;
        if (c->state == ST_SUBSCRIBING) fail(i);
        return;
    }
    other_frames++;
}

/* ---- inbound bytes ------------------------------------------------------ */

/* Parse the HTTP upgrade answer; returns bytes consumed, 0 if incomplete, -1 on refusal. */
static ssize_t on_handshake(int i, const char *p, size_t n) {
    const char *e = memmem(p, n, "\r\n\r\n", 4);
    if (!e) return n > 8192 ? -1 : 0;
    if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) return -1;
    conn_t *c = &conns[i];
    char msg[256];
    const lot_t *lot = &lots[c->lot];
    int m = snprintf(msg, sizeof msg, "{\"op\":\"subscribe\",\"lot\":\"%.*s\"}", (int)lot->id_len, lot->id);
    c->state = ST_SUBSCRIBING;
    if (send_frame(i, 1, msg, (size_t)m) < 0) return -1;
    return e + 4 - p;
}

/* Handle one complete message; returns -1 when the connection must go. */
static int on_message(int i, int op, const char *p, size_t n, int64_t t) {
    switch (op) {
    case 1: on_text(i, p, n, t); return 0;
    case 9: return send_frame(i, 10, p, n > 125 ? 125 : n);
    case 8: send_frame(i, 8, p, n >= 2 ? 2 : 0); return -1;
    default: return 0;  /* binary, pong: ignored */
    }
}

/* Parse as many frames as `p` holds; returns bytes consumed or -1 to drop. */
static ssize_t on_frames(int i, const char *p, size_t n, int64_t t) {
    conn_t *c = &conns[i];
    size_t off = 0;
    while (c->state >= ST_SUBSCRIBING && c->state <= ST_READY && n - off >= 2) {
        const unsigned char *h = (const unsigned char *)p + off;
        int fin = h[0] & 0x80, op = h[0] & 0x0f, masked = h[1] & 0x80;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (n - off < 4) break;
            len = ((uint64_t)h[2] << 8) | h[3];
            hl = 4;
        } else if (len == 127) {
            if (n - off < 10) break;
            len = 0;
            for (int k = 2; k < 10; k++) len = (len << 8) | h[k];
            hl = 10;
        }
        if (masked) hl += 4;
        if (len > (1u << 30)) return -1;
        if (n - off < hl + len) break;
        char *pl = (char *)p + off + hl;
        if (masked)
            for (uint64_t k = 0; k < len; k++) pl[k] ^= (char)h[hl - 4 + (k & 3)];
        off += hl + len;
        if (op >= 8) {                       /* control frames may interleave fragments */
            if (on_message(i, op, pl, len, t) < 0) return -1;
        } else if (op != 0 && fin) {
            if (on_message(i, op, pl, len, t) < 0) return -1;
        } else {
            if (op != 0) { c->frag_op = (uint8_t)op; c->frag_len = 0; }
            append(&c->frag, &c->frag_len, &c->frag_cap, pl, len);
            if (fin && c->frag_op) {
                int fop = c->frag_op;
                c->frag_op = 0;
                if (on_message(i, fop, c->frag, c->frag_len, t) < 0) return -1;
            }
        }
    }
    return (ssize_t)off;
}

static ssize_t consume(int i, char *p, size_t n, int64_t t) {
    conn_t *c = &conns[i];
    size_t off = 0;
    if (c->state == ST_HANDSHAKE) {
        ssize_t k = on_handshake(i, p, n);
        if (k <= 0) return k;
        off = (size_t)k;
    }
    ssize_t k = on_frames(i, p + off, n - off, t);
    return k < 0 ? -1 : (ssize_t)off + k;
}

static void drop(int i) {
    if (conns[i].state == ST_READY) lost(i);
    else if (conns[i].state != ST_DEAD && conns[i].state != ST_QUEUED) fail(i);
}

static void on_readable(int i) {
    conn_t *c = &conns[i];
    ssize_t r = read(c->fd, rbuf, sizeof rbuf);
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) {
        drop(i);
        return;
    }
    int64_t t = now_ns();
    bytes_in += (uint64_t)r;
    ssize_t used;
    if (c->in_len) {
        append(&c->in, &c->in_len, &c->in_cap, rbuf, (size_t)r);
        used = consume(i, c->in, c->in_len, t);
        if (used > 0 && c->fd >= 0) {
            memmove(c->in, c->in + used, c->in_len - (size_t)used);
            c->in_len -= (uint32_t)used;
        }
    } else {
        used = consume(i, rbuf, (size_t)r, t);
        if (used >= 0 && c->fd >= 0 && used < r)
            append(&c->in, &c->in_len, &c->in_cap, rbuf + used, (size_t)(r - used));
    }
    if (used < 0) drop(i);
}

static void on_writable(int i) {
    conn_t *c = &conns[i];
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            fail(i);
            return;
        }
        n_opened++;
        c->state = ST_HANDSHAKE;
        watch(c, i, EPOLLIN, EPOLL_CTL_MOD);
        if (send_bytes(i, handshake, (size_t)handshake_len) < 0) fail(i);
        return;
    }
    ssize_t w = write(c->fd, c->out, c->out_len);
    if (w < 0 && errno != EAGAIN) {
        drop(i);
        return;
    }
    if (w > 0) {
        memmove(c->out, c->out + w, c->out_len - (size_t)w);
        c->out_len -= (uint32_t)w;
    }
    if (c->out_len == 0) watch(c, i, EPOLLIN, EPOLL_CTL_MOD);
}

/* ---- result ------------------------------------------------------------- */

/* One JSON line; per lot the seq aggregates with sparse [bucket, count] histograms. */
static void print_result(void) {
    int64_t now = now_ns();
    printf("RESULT {\"conns\":%d,\"opened\":%d,\"ready\":%d,\"failed\":%d,\"retries\":%llu,"
           "\"closed_in_run\":%llu,\"connect_s\":%.3f,\"bid_frames\":%llu,\"other_frames\":%llu,"
           "\"error_frames\":%llu,\"extra_snapshots\":%llu,\"bytes_in\":%llu,"
           "\"first_frame_ns\":%lld,\"last_frame_ns\":%lld,\"hist\":{\"linear\":%d,\"sub_bits\":%d},"
           "\"lots\":[",
           opt.conns, n_opened, n_ready, n_failed, (unsigned long long)n_retries,
           (unsigned long long)closed_in_run,
           ((t_ready_ns ? t_ready_ns : now) - t_start_ns) / 1e9, (unsigned long long)bid_frames,
           (unsigned long long)other_frames, (unsigned long long)error_frames,
           (unsigned long long)extra_snapshots, (unsigned long long)bytes_in,
           (long long)first_frame_ns, (long long)last_frame_ns, LINEAR, SUB_BITS);
    for (int l = 0; l < nlots; l++) {
        lot_t *lot = &lots[l];
        printf("%s{\"id\":\"%.*s\",\"watchers\":%u,\"gaps\":%llu,\"dups\":%llu,\"wrong_lot\":%llu,\"final\":[",
               l ? "," : "", (int)lot->id_len, lot->id, lot->ready, (unsigned long long)lot->gaps,
               (unsigned long long)lot->dups, (unsigned long long)lot->wrong_lot);
        /* Distinct (last_seq, last_price) of the lot's live watchers: one entry when all agree. */
        enum { MAXF = 8 };
        int64_t fs[MAXF], fp[MAXF];
        uint32_t fc[MAXF], other = 0;
        int nf = 0;
        for (int i = 0; i < opt.conns; i++) {
            conn_t *c = &conns[i];
            if (c->lot != l || c->state != ST_READY) continue;
            int k = 0;
            while (k < nf && !(fs[k] == c->last_seq && fp[k] == c->last_price)) k++;
            if (k < nf) fc[k]++;
            else if (nf < MAXF) { fs[nf] = c->last_seq; fp[nf] = c->last_price; fc[nf++] = 1; }
            else other++;
        }
        for (int k = 0; k < nf; k++)
            printf("%s[%lld,%lld,%u]", k ? "," : "", (long long)fs[k], (long long)fp[k], fc[k]);
        printf("],\"final_other\":%u,\"seqs\":[", other);
        int first = 1;
        for (int64_t s = 0; s < lot->seq_cap; s++) {
            seqstat_t *st = &lot->seqs[s];
            if (!st->count) continue;
            printf("%s[%lld,%u,%lld,%lld,[", first ? "" : ",", (long long)s, st->count,
                   (long long)st->first_ns, (long long)st->last_ns);
            first = 0;
            int fb = 1;
            for (int b = 0; b < NBUCKETS; b++) {
                if (!st->hist[b]) continue;
                printf("%s%d,%u", fb ? "" : ",", b, st->hist[b]);
                fb = 0;
            }
            printf("]]");
        }
        printf("]}");
    }
    printf("]}\n");
    fflush(stdout);
}

/* ---- main --------------------------------------------------------------- */

static void usage(void) {
    fprintf(stderr,
            "usage: wsflood --port P --lots ID[,ID...] [--host 127.0.0.1] [--path /ws]\n"
            "               [--conns N] [--lot-offset K] [--batch B] [--retries R]\n"
            "               [--timeout S] [--duration S]\n"
            "connection i watches lot (i + K) mod #lots\n");
    exit(2);
}

static void parse_lots(char *s) {
    for (char *p = s; *p; p++) nlots += *p == ',';
    nlots++;
    lots = calloc((size_t)nlots, sizeof(lot_t));
    int k = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (strlen(tok) > 200 || strchr(tok, '"') || strchr(tok, '\\')) usage();
        lots[k].id = tok;
        lots[k++].id_len = strlen(tok);
    }
    nlots = k;
    if (!nlots) usage();
}

int main(int argc, char **argv) {
    static struct option lo[] = {
        {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"path", 1, 0, 'u'}, {"conns", 1, 0, 'n'},
        {"lots", 1, 0, 'l'}, {"lot-offset", 1, 0, 'o'}, {"batch", 1, 0, 'b'},
        {"retries", 1, 0, 'r'}, {"timeout", 1, 0, 't'}, {"duration", 1, 0, 'd'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'u': opt.path = optarg; break;
        case 'n': opt.conns = atoi(optarg); break;
        case 'l': parse_lots(optarg); break;
        case 'o': opt.lot_offset = atoi(optarg); break;
        case 'b': opt.batch = atoi(optarg); break;
        case 'r': opt.retries = atoi(optarg); break;
        case 't': opt.timeout = atof(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        default: usage();
        }
    }
    if (!opt.port || !nlots || opt.conns <= 0 || opt.batch <= 0) usage();
    if (nlots > 65535) usage();

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) usage();
    /* A fixed key is fine: the benchmark does not check Sec-WebSocket-Accept. */
    handshake_len = snprintf(handshake, sizeof handshake,
                             "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n",
                             opt.path, opt.host, opt.port);

    conns = calloc((size_t)opt.conns, sizeof(conn_t));
    queue = calloc((size_t)opt.conns + 1, sizeof(int));
    queue_at = calloc((size_t)opt.conns + 1, sizeof(int64_t));
    if (!conns || !queue || !queue_at) die("calloc");
    for (int i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        conns[i].lot = (uint16_t)((i + opt.lot_offset) % nlots);
        enqueue(i, 0);
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1");
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = TAG_SIGNAL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
    ev.data.u32 = TAG_STDIN;
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);  /* fails for /dev/null: then only signals or --duration stop it */

    t_start_ns = now_ns();
    int64_t next_tick = t_start_ns, last_progress = -1;
    struct epoll_event evs[1024];
    for (;;) {
        int64_t now = now_ns();
        start_queued(now);
        if (now >= next_tick) {
            next_tick = now + 200000000LL;
            if (!ready_announced) check_timeouts(now);
            if (!ready_announced && n_ready + n_failed + (int)closed_in_run == opt.conns) {
                ready_announced = 1;
                t_ready_ns = now;
                printf("READY %d %d\n", n_ready, n_failed);
                fflush(stdout);
            } else if (ready_announced && (int64_t)bid_frames != last_progress) {
                last_progress = (int64_t)bid_frames;
                printf("PROGRESS %llu\n", (unsigned long long)bid_frames);
                fflush(stdout);
            }
            if (ready_announced && opt.duration > 0 && now - t_ready_ns > (int64_t)(opt.duration * 1e9))
                break;
        }
        int n = epoll_wait(epfd, evs, 1024, 50);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        int stop = 0;
        for (int k = 0; k < n; k++) {
            uint32_t tag = evs[k].data.u32;
            if (tag == TAG_SIGNAL) {
                stop = 1;
            } else if (tag == TAG_STDIN) {
                char line[256];
                ssize_t r = read(0, line, sizeof line);
                if (r <= 0 || memmem(line, (size_t)r, "stop", 4)) stop = 1;
            } else {
                conn_t *c = &conns[tag];
                if (c->fd < 0) continue;  /* closed earlier in this batch */
                if (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP) && (c->out_len || c->state == ST_CONNECTING))
                    on_writable((int)tag);
                else if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    on_readable((int)tag);
            }
        }
        if (stop) break;
    }
    print_result();
    return 0;
}
