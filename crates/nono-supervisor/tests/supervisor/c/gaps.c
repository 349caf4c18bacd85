/* Probes for the supervisor's gap brokers (procfs, metadata, pathname Unix sockets): each
 * mode makes one kind of call and prints "<op>: ok" or "<op>: <errno name>"; the race modes
 * flip a path in memory from a second thread while the main thread repeats the call.
 * Built by tests/supervisor/cprog.rs with gcc at test time. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <stddef.h>

static const char *name(int e) {
    switch (e) {
    case 0: return "ok";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOTSUP: return "ENOTSUP";
    case ELOOP: return "ELOOP";
    case EXDEV: return "EXDEV";
    case EPROTOTYPE: return "EPROTOTYPE";
    default: return strerror(e);
    }
}

static void report(const char *op, int rc) { printf("%s: %s\n", op, name(rc < 0 ? errno : 0)); }

/* The flipped buffer (a sockaddr_un, so connect can take it by pointer) and its two values. */
static struct sockaddr_un sbuf = {.sun_family = AF_UNIX};
#define buf sbuf.sun_path
static const char *good, *bad;
static atomic_int stop;

static void *flipper(void *arg) {
    (void)arg;
    size_t lg = strlen(good) + 1, lb = strlen(bad) + 1;
    while (!atomic_load(&stop)) {
        memcpy(buf, bad, lb);
        memcpy(buf, good, lg);
    }
    return NULL;
}

static pthread_t start_flipper(const char *g, const char *b) {
    good = g;
    bad = b;
    strcpy(buf, g);
    pthread_t t;
    pthread_create(&t, NULL, flipper, NULL);
    return t;
}

static int unix_connect(const char *path) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: gaps MODE ARGS...\n");
        return 2;
    }
    const char *mode = argv[1], *p = argv[2];
    if (!strcmp(mode, "read")) {
        /* read PATH: print the first line */
        int fd = open(p, O_RDONLY);
        report("open", fd);
        if (fd >= 0) {
            char b[512];
            ssize_t n = read(fd, b, sizeof b - 1);
            if (n > 0) {
                b[n] = 0;
                for (ssize_t i = 0; i < n; i++)
                    if (b[i] == 0) b[i] = '\n';
                printf("content: %s\n", b);
            }
        }
        return 0;
    }
    if (!strcmp(mode, "race-open")) {
        /* race-open GOOD BAD ITER MARKER: count opens that returned MARKER */
        int iter = atoi(argv[4]);
        const char *marker = argv[5];
        pthread_t t = start_flipper(p, argv[3]);
        int opened = 0, leaked = 0, other = 0;
        for (int i = 0; i < iter; i++) {
            int fd = open(buf, O_RDONLY);
            if (fd < 0) continue;
            opened++;
            char b[4096];
            ssize_t n = read(fd, b, sizeof b - 1);
            close(fd);
            if (n <= 0) continue;
            b[n] = 0;
            for (ssize_t j = 0; j < n; j++)
                if (b[j] == 0) b[j] = '\n';
            if (strstr(b, marker)) leaked++;
            else if (strncmp(b, "Name:", 5)) other++;
        }
        atomic_store(&stop, 1);
        pthread_join(t, NULL);
        printf("opened=%d leaked=%d other=%d\n", opened, leaked, other);
        return 0;
    }
    if (!strcmp(mode, "race-chmod")) {
        /* race-chmod GOOD BAD ITER: ITER calls, and on until one has failed (the flipped
         * path was seen; on a loaded machine the flipper may not run for a while), at most
         * ten times as many */
        int iter = atoi(argv[4]);
        pthread_t t = start_flipper(p, argv[3]);
        int ok = 0, failed = 0;
        for (int i = 0; i < iter || (failed == 0 && i < 10 * iter); i++) {
            if (chmod(buf, (i & 1) ? 0600 : 0640) == 0) ok++;
            else failed++;
        }
        atomic_store(&stop, 1);
        pthread_join(t, NULL);
        printf("chmod ok=%d\n", ok);
        return 0;
    }
    if (!strcmp(mode, "race-connect")) {
        /* race-connect GOOD BAD ITER */
        int iter = atoi(argv[4]);
        pthread_t t = start_flipper(p, argv[3]);
        int ok = 0;
        for (int i = 0; i < iter; i++) {
            int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            /* the sockaddr itself is the flipped buffer; a byte is sent through every
             * connection that succeeds, so a listener can tell it was really reached */
            if (connect(s, (struct sockaddr *)&sbuf, sizeof sbuf) == 0) {
                ok++;
                /* the granted listener may have closed it already: EPIPE is fine */
                (void)send(s, "x", 1, MSG_NOSIGNAL);
            }
            close(s);
        }
        atomic_store(&stop, 1);
        pthread_join(t, NULL);
        printf("connect ok=%d\n", ok);
        return 0;
    }
    if (!strcmp(mode, "connect")) {
        report("connect", unix_connect(p));
        return 0;
    }
    if (!strcmp(mode, "connect-abstract")) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path + 1, p, sizeof a.sun_path - 2);
        report("connect", connect(s, (struct sockaddr *)&a,
                                  offsetof(struct sockaddr_un, sun_path) + 1 + strlen(p)));
        return 0;
    }
    if (!strcmp(mode, "sendto")) {
        int s = socket(AF_UNIX, SOCK_DGRAM, 0);
        report("socket", s);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, p, sizeof a.sun_path - 1);
        report("sendto", (int)sendto(s, "hello", 5, 0, (struct sockaddr *)&a, sizeof a));
        return 0;
    }
    if (!strcmp(mode, "sendmsg") || !strcmp(mode, "pair-sendmsg")) {
        /* sendmsg PATH: a datagram socket (or one end of a datagram socketpair, where the
         * explicit address wins over the peer) sends "hello" to PATH with msg_name. */
        int sv[2] = {-1, -1};
        int rc;
        if (!strcmp(mode, "sendmsg")) {
            rc = sv[0] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            report("socket", rc);
        } else {
            rc = socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv);
            report("socketpair", rc);
        }
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, p, sizeof a.sun_path - 1);
        char data[] = "hello";
        struct iovec iov = {.iov_base = data, .iov_len = 5};
        struct msghdr m = {.msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &iov, .msg_iovlen = 1};
        report("sendmsg", (int)sendmsg(sv[0], &m, 0));
        return 0;
    }
    if (!strcmp(mode, "meta")) {
        /* meta PATH: every metadata call on PATH */
        struct timespec ts[2] = {{1000000, 0}, {1000000, 0}};
        struct timeval tv[2] = {{2000000, 0}, {2000000, 0}};
        report("chmod", chmod(p, 0604));
        report("fchmodat", fchmodat(AT_FDCWD, p, 0606, 0));
        report("chown", chown(p, 1234, 1234));
        report("lchown", lchown(p, 1235, 1235));
        report("fchownat", fchownat(AT_FDCWD, p, 1236, 1236, 0));
        report("utimensat", utimensat(AT_FDCWD, p, ts, 0));
        report("utimes", utimes(p, tv));
        report("setxattr", setxattr(p, "user.nono", "v1", 2, 0));
        report("lsetxattr", lsetxattr(p, "user.nono2", "v2", 2, 0));
        report("removexattr", removexattr(p, "user.nono2"));
        int ro = open(p, O_RDONLY | O_CLOEXEC);
        report("open-ro", ro);
        if (ro >= 0) {
            report("fchmod-ro", fchmod(ro, 0602));
            report("fchown-ro", fchown(ro, 1237, 1237));
            report("fsetxattr-ro", fsetxattr(ro, "user.nono3", "v3", 2, 0));
            report("futimens-ro", futimens(ro, ts));
        }
        int op = open(p, O_PATH | O_CLOEXEC);
        report("open-opath", op);
        if (op >= 0) {
            report("fchmodat2-empty", (int)syscall(452, op, "", 0601, AT_EMPTY_PATH));
            report("fchownat-empty", fchownat(op, "", 1238, 1238, AT_EMPTY_PATH));
            char pp[64];
            snprintf(pp, sizeof pp, "/proc/self/fd/%d", op);
            report("chmod-procfd", chmod(pp, 0607));
        }
        return 0;
    }
    if (!strcmp(mode, "bench")) {
        /* bench OP PATH ITER: nanoseconds per call of OP (chmod, open, connect) on PATH */
        const char *what = p, *path = argv[3];
        int iter = atoi(argv[4]), fails = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < iter; i++) {
            int rc;
            if (!strcmp(what, "chmod")) {
                rc = chmod(path, (i & 1) ? 0600 : 0644);
            } else if (!strcmp(what, "open")) {
                rc = open(path, O_RDONLY | O_CLOEXEC);
                if (rc >= 0) rc = close(rc);
            } else {
                rc = unix_connect(path);
            }
            if (rc < 0) fails++;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
        printf("%s %s: %.0f ns/call (%d calls, %d failed)\n", what, path, ns / iter, iter, fails);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
