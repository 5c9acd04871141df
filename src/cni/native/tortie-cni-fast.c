/*
 * tortie-cni-fast: an optional native front for the tortie CNI plugins.
 *
 * Node's start-up alone (~75-100 ms) is several times a reference plugin's
 * whole ADD, so the fastest path must not start Node at all. This program
 * does only what src/cni/thin-client.ts does: it forwards the CNI call (the
 * CNI_* and TORTIE_* variables and the configuration on stdin) to the agent's
 * unix socket in the protocol of src/cni/protocol.ts, and prints the reply.
 * When no agent listens (no socket, connection refused) or the call is one it
 * does not forward, it execs the Node plugin (FALLBACK, set at build time)
 * with the same stdin and TORTIE_CNI_STANDALONE=1, so behaviour is identical
 * with or without it. Built by src/cni/native.ts (buildFastClient).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef FALLBACK
#error "build with -DFALLBACK=\"/path/to/bin/tortie-cni\""
#endif
#ifndef PLUGIN
#define PLUGIN "tortie"
#endif

extern char **environ;

static char *in_buf;
static size_t in_len;

static void read_stdin(void) {
    size_t cap = 65536;
    in_buf = malloc(cap);
    if (!in_buf) exit(1);
    for (;;) {
        if (in_len == cap) {
            cap *= 2;
            in_buf = realloc(in_buf, cap);
            if (!in_buf) exit(1);
        }
        ssize_t n = read(0, in_buf + in_len, cap - in_len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        in_len += (size_t)n;
    }
}

/* Hands the call to the Node plugin: stdin replayed from a memfd. */
static void fallback(void) {
    int fd = memfd_create("tortie-cni-stdin", 0);
    if (fd >= 0) {
        size_t off = 0;
        while (off < in_len) {
            ssize_t n = write(fd, in_buf + off, in_len - off);
            if (n <= 0) break;
            off += (size_t)n;
        }
        lseek(fd, 0, SEEK_SET);
        dup2(fd, 0);
        close(fd);
    }
    setenv("TORTIE_CNI_STANDALONE", "1", 1);
    char *argv[] = {FALLBACK, NULL};
    execv(FALLBACK, argv);
    printf("{\"cniVersion\":\"1.1.0\",\"code\":100,\"msg\":\"cannot run %s\",\"details\":\"%s\"}\n", FALLBACK,
           strerror(errno));
    exit(1);
}

/* "agent_socket": "..." from the configuration; NULL if absent, "" if it cannot be read simply. */
static char *agent_socket(void) {
    static char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *key = "\"agent_socket\"";
    char *p = memmem(in_buf, in_len, key, strlen(key));
    if (!p) return NULL;
    char *end = in_buf + in_len;
    p += strlen(key);
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p >= end || *p++ != ':') return "";
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p >= end || *p++ != '"') return "";
    size_t n = 0;
    while (p < end && *p != '"') {
        if (*p == '\\' || n + 1 >= sizeof(path)) return "";
        path[n++] = *p++;
    }
    path[n] = 0;
    return path;
}

static int write_all(int fd, const char *b, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void retry_error(const char *why) {
    printf("{\"cniVersion\":\"1.1.0\",\"code\":11,\"msg\":\"agent call failed\",\"details\":\"%s\"}\n", why);
    exit(1);
}

int main(void) {
    const char *cmd = getenv("CNI_COMMAND");
    if (!cmd || !*cmd || strcmp(cmd, "VERSION") == 0) fallback();
    if (getenv("TORTIE_CNI_STANDALONE") && strcmp(getenv("TORTIE_CNI_STANDALONE"), "1") == 0) {
        read_stdin();
        fallback();
    }
    read_stdin();
    const char *sock = agent_socket();
    if (!sock) sock = getenv("TORTIE_AGENT_SOCKET");
    if (!sock) sock = "/run/tortie/agent.sock";
    if (!*sock) fallback();

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof(addr.sun_path)) fallback();
    strcpy(addr.sun_path, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fallback();
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTSOCK) fallback();
        retry_error("cannot connect to the agent socket");
    }

    /* Request: header, forwarded variables, empty string, configuration. */
    char head[] = "TCNI1 " PLUGIN;
    if (write_all(fd, head, sizeof(head)) < 0) retry_error("write failed");
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "CNI_", 4) == 0 || strncmp(*e, "TORTIE_", 7) == 0) {
            if (write_all(fd, *e, strlen(*e) + 1) < 0) retry_error("write failed");
        }
    }
    if (write_all(fd, "", 1) < 0 || write_all(fd, in_buf, in_len) < 0) retry_error("write failed");
    shutdown(fd, SHUT_WR);

    /* Reply: "<exit> <stdout bytes>\n" stdout stderr. */
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    if (!out) exit(1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            out = realloc(out, cap);
            if (!out) exit(1);
        }
        ssize_t n = read(fd, out + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) retry_error("read failed");
        if (n == 0) break;
        len += (size_t)n;
    }
    char *nl = memchr(out, '\n', len);
    int code;
    size_t olen;
    if (!nl || sscanf(out, "%d %zu", &code, &olen) != 2) retry_error("bad reply from the agent");
    char *body = nl + 1;
    size_t blen = len - (size_t)(body - out);
    if (olen > blen) retry_error("truncated reply from the agent");
    write_all(1, body, olen);
    write_all(2, body + olen, blen - olen);
    return code;
}
