/* Escape probe: a tiny interpreter of attack steps, run inside (and, as the control,
 * outside) the nono sandbox by tests/escape. Usage: probe OP NAME ARGS... [OP NAME ARGS...]
 * Every step prints one line `NAME=ok` or `NAME=<ERRNO NAME>` (e.g. `NAME=EACCES`); steps
 * that read print `NAME.data=<bytes, newlines as \n>` as well. Exit status 0 unless the
 * command line is malformed (2). Nothing here is destructive on success except where the
 * test asked for it on a scratch file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/sysmacros.h>
#include <sys/timex.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>
#include <poll.h>

/* struct pidfd_info as of Linux 6.13 (PIDFD_INFO_SIZE_VER0: 64 bytes); linux/pidfd.h of older
 * headers lacks it. */
struct pidfd_info_v0 {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t spare0;
};
#define PIDFD_GET_INFO_V0 _IOWR(0xFF, 11, struct pidfd_info_v0)
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

extern char **environ;

static void result(const char *name, long ret) {
    if (ret < 0) {
        const char *e = strerrorname_np(errno);
        printf("%s=%s\n", name, e ? e : "E?");
    } else {
        printf("%s=ok\n", name);
    }
    fflush(stdout);
}

static void result_errno(const char *name, int err) {
    errno = err;
    result(name, err ? -1 : 0);
}

static void data(const char *name, const char *buf, ssize_t n) {
    printf("%s.data=", name);
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') fputs("\\n", stdout);
        else if (buf[i] == '\r') fputs("\\r", stdout);
        else putchar(buf[i]);
    }
    putchar('\n');
    fflush(stdout);
}

static void sub(char *out, size_t len, const char *a, const char *b) {
    snprintf(out, len, "%s.%s", a, b);
}

/* Read what an open fd holds (up to 4 KiB) and print it. */
static void dump_fd(const char *name, int fd) {
    char buf[4096];
    char n2[256];
    ssize_t n = read(fd, buf, sizeof buf);
    sub(n2, sizeof n2, name, "read");
    result(n2, n);
    if (n > 0) data(name, buf, n);
}

static void op_open(const char *name, const char *path, int flags, const char *payload) {
    int fd = open(path, flags | O_CLOEXEC, 0644);
    result(name, fd);
    if (fd < 0) return;
    if ((flags & O_ACCMODE) == O_RDONLY) dump_fd(name, fd);
    else if (payload && write(fd, payload, strlen(payload)) < 0) perror("write");
    close(fd);
}

/* A netlink request only CAP_NET_ADMIN may make, with no effect if it is made:
 * RTM_NEWLINK on lo (ifindex 1) changing nothing. Sent with sendto and an address (the
 * call the supervisor brokers); the kernel's answer comes back as an NLMSG_ERROR ack. */
static void nl_setlink(const char *name) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) { result(name, fd); return; }
    struct { struct nlmsghdr h; struct ifinfomsg i; } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = RTM_NEWLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = 1;
    req.i.ifi_family = AF_UNSPEC;
    req.i.ifi_index = 1;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        result(name, -1);
        close(fd);
        return;
    }
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < (ssize_t)(sizeof(struct nlmsghdr) + sizeof(struct nlmsgerr))) {
        result(name, -1);
        close(fd);
        return;
    }
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    int err = h->nlmsg_type == NLMSG_ERROR ? ((struct nlmsgerr *)NLMSG_DATA(h))->error : -EPROTO;
    result_errno(name, -err);
    close(fd);
}

/* connect() of a NETLINK_ROUTE socket to a unicast peer: CAP_NET_ADMIN only. */
static void nl_connect(const char *name) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) { result(name, fd); return; }
    struct sockaddr_nl peer = {.nl_family = AF_NETLINK, .nl_pid = 0x7fff1234};
    result(name, connect(fd, (struct sockaddr *)&peer, sizeof peer));
    close(fd);
}

/* /proc/self/pagemap: the entry of a page this program touched. NAME=pfn if it shows a page
 * frame number (only to an opener with CAP_SYS_ADMIN), NAME=nopfn if not, or the errno. */
static void pagemap(const char *name) {
    static volatile char page[8192];
    page[4096] = 1;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) { result(name, fd); return; }
    uint64_t entry = 0;
    long ps = sysconf(_SC_PAGESIZE);
    off_t at = (off_t)(((uintptr_t)&page[4096]) / (uintptr_t)ps) * 8;
    if (pread(fd, &entry, sizeof entry, at) != (ssize_t)sizeof entry) { result(name, -1); close(fd); return; }
    close(fd);
    printf("%s=%s\n", name, (entry & ((1ULL << 55) - 1)) ? "pfn" : "nopfn");
    fflush(stdout);
}

/* open(path, 3): access mode 3, neither read nor write; then fchmod through it. */
static void mode3_chmod(const char *name, const char *path, const char *mode) {
    char n2[256];
    int fd = open(path, 3 | O_CLOEXEC);
    sub(n2, sizeof n2, name, "open");
    result(n2, fd);
    if (fd < 0) { result(name, -1); return; }
    result(name, fchmod(fd, (mode_t)strtol(mode, NULL, 8)));
    close(fd);
}

static long x86_int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

/* A raw syscall's -errno convention turned into libc's. */
static long raw_ret(long r) {
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static struct sockaddr_in loop4(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static struct sockaddr_in6 loop6(int port) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    a.sin6_addr = in6addr_loopback;
    return a;
}

/* socket(); connect() (stream) or sendto() (datagram) "ATTACK" to the loopback port. */
/* A thread that publishes its tid, then waits to be told to finish (for `sched_own`). */
struct tid_box {
    pid_t tid;
    pthread_mutex_t m;
    pthread_cond_t c;
    int done;
};

static void *report_tid(void *arg) {
    struct tid_box *b = arg;
    pthread_mutex_lock(&b->m);
    b->tid = (pid_t)syscall(SYS_gettid);
    pthread_cond_broadcast(&b->c);
    while (!b->done) pthread_cond_wait(&b->c, &b->m);
    pthread_mutex_unlock(&b->m);
    return NULL;
}

static void net_try(const char *name, int family, int type, int proto, int port) {
    char n2[256];
    int fd = socket(family, type | SOCK_CLOEXEC, proto);
    sub(n2, sizeof n2, name, "socket");
    result(n2, fd);
    if (fd < 0) return;
    struct sockaddr_in a4 = loop4(port);
    struct sockaddr_in6 a6 = loop6(port);
    struct sockaddr *sa = family == AF_INET6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4;
    socklen_t sl = family == AF_INET6 ? sizeof a6 : sizeof a4;
    if (type == SOCK_STREAM) {
        sub(n2, sizeof n2, name, "connect");
        int r = connect(fd, sa, sl);
        result(n2, r);
        if (r == 0) {
            sub(n2, sizeof n2, name, "send");
            result(n2, send(fd, "ATTACK", 6, MSG_NOSIGNAL));
        }
    } else {
        sub(n2, sizeof n2, name, "send");
        result(n2, sendto(fd, "ATTACK", 6, 0, sa, sl));
    }
    close(fd);
}

/* A datagram socket made some other way (fd), then a plain 64-bit sendto of "ATTACK". */
static void send_on(const char *name, long fd, int port) {
    char n2[256];
    sub(n2, sizeof n2, name, "socket");
    result(n2, fd);
    if (fd < 0) return;
    struct sockaddr_in a = loop4(port);
    sub(n2, sizeof n2, name, "send");
    result(n2, sendto((int)fd, "ATTACK", 6, 0, (struct sockaddr *)&a, sizeof a));
    close((int)fd);
}

/* A Unix datagram to the pathname socket PATH, the ways a sandboxed program could send one:
 * HOW 0: socket(SOCK_DGRAM) + sendmsg with msg_name; 1: socketpair(SOCK_DGRAM) + sendmsg with
 * msg_name from one end (an explicit address wins over the peer); 2: socket + sendto;
 * 3: socket(SOCK_RAW), which AF_UNIX makes a datagram socket, + sendmsg. Prints NAME.socket
 * (or NAME.socketpair) and NAME for the send; the payload is "ATTACK-NAME". */
static int dgram_try(const char *name, const char *path, int how) {
    char n2[256], payload[256];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) > sizeof sa.sun_path - 1) return -1;
    strcpy(sa.sun_path, path);
    snprintf(payload, sizeof payload, "ATTACK-%s", name);
    int sv[2] = {-1, -1};
    int r;
    if (how == 1) {
        r = socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv);
        sub(n2, sizeof n2, name, "socketpair");
    } else {
        r = sv[0] = socket(AF_UNIX, (how == 3 ? SOCK_RAW : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
        sub(n2, sizeof n2, name, "socket");
    }
    result(n2, r);
    if (r < 0) return 0;
    if (how == 2) {
        result(name, sendto(sv[0], payload, strlen(payload), 0, (struct sockaddr *)&sa, sizeof sa));
    } else {
        struct iovec iov = {.iov_base = payload, .iov_len = strlen(payload)};
        struct msghdr m = {.msg_name = &sa, .msg_namelen = sizeof sa, .msg_iov = &iov, .msg_iovlen = 1};
        result(name, sendmsg(sv[0], &m, 0));
    }
    close(sv[0]);
    if (sv[1] >= 0) close(sv[1]);
    return 0;
}

static int ns_flags(const char *s) {
    int f = 0;
    if (strstr(s, "user")) f |= CLONE_NEWUSER;
    if (strstr(s, "mnt")) f |= CLONE_NEWNS;
    if (strstr(s, "net")) f |= CLONE_NEWNET;
    if (strstr(s, "pid")) f |= CLONE_NEWPID;
    if (strstr(s, "ipc")) f |= CLONE_NEWIPC;
    if (strstr(s, "uts")) f |= CLONE_NEWUTS;
    if (strstr(s, "cgroup")) f |= CLONE_NEWCGROUP;
    return f;
}

static pid_t pid_arg(const char *s) {
    if (strcmp(s, "ppid") == 0) return getppid();
    return (pid_t)atoi(s);
}

static int usage(const char *op) {
    fprintf(stderr, "probe: bad arguments for %s\n", op);
    return 2;
}

#define NEED(k) do { if (i + (k) >= argc) return usage(op); } while (0)

int main(int argc, char **argv) {
    int i = 1;
    while (i < argc) {
        const char *op = argv[i];
        NEED(1);
        const char *name = argv[i + 1];
        const char *a = i + 2 < argc ? argv[i + 2] : NULL;
        const char *b = i + 3 < argc ? argv[i + 3] : NULL;
        char n2[256];
        if (!strcmp(op, "read")) { NEED(2); op_open(name, a, O_RDONLY, NULL); i += 3; }
        else if (!strcmp(op, "openr")) { NEED(2); int fd = open(a, O_RDONLY | O_CLOEXEC); result(name, fd); if (fd >= 0) close(fd); i += 3; }
        else if (!strcmp(op, "readat")) {
            /* openat(FD, REL) for reading: FD an inherited directory descriptor. */
            NEED(3);
            int fd = openat(atoi(a), b, O_RDONLY | O_CLOEXEC);
            result(name, fd);
            if (fd >= 0) { dump_fd(name, fd); close(fd); }
            i += 4;
        }
        else if (!strcmp(op, "readdir")) { NEED(2); int fd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC); result(name, fd); if (fd >= 0) close(fd); i += 3; }
        else if (!strcmp(op, "write")) { NEED(2); op_open(name, a, O_WRONLY | O_APPEND, "PWNED\n"); i += 3; }
        else if (!strcmp(op, "openw")) { NEED(2); op_open(name, a, O_WRONLY | O_APPEND, NULL); i += 3; }
        else if (!strcmp(op, "creat")) { NEED(2); op_open(name, a, O_WRONLY | O_CREAT | O_TRUNC, "PWNED\n"); i += 3; }
        else if (!strcmp(op, "rwcreat")) { NEED(2); op_open(name, a, O_RDWR | O_CREAT, "PWNED\n"); i += 3; }
        else if (!strcmp(op, "create")) { NEED(2); op_open(name, a, O_WRONLY | O_CREAT | O_EXCL, "PWNED\n"); i += 3; }
        else if (!strcmp(op, "trunc")) { NEED(2); op_open(name, a, O_WRONLY | O_TRUNC, NULL); i += 3; }
        else if (!strcmp(op, "rdtrunc")) { NEED(2); int fd = open(a, O_RDONLY | O_TRUNC | O_CLOEXEC); result(name, fd); if (fd >= 0) close(fd); i += 3; }
        else if (!strcmp(op, "truncate")) { NEED(2); result(name, truncate(a, 0)); i += 3; }
        else if (!strcmp(op, "ftruncate")) { NEED(2); int fd = open(a, O_RDONLY | O_CLOEXEC); sub(n2, sizeof n2, name, "open"); result(n2, fd); if (fd >= 0) { result(name, ftruncate(fd, 0)); close(fd); } i += 3; }
        else if (!strcmp(op, "chmod")) { NEED(3); result(name, chmod(a, (mode_t)strtol(b, NULL, 8))); i += 4; }
        else if (!strcmp(op, "create_mode")) {
            /* create PATH with MODE (octal) as given to open(O_CREAT); umask 0 first */
            NEED(3);
            umask(0);
            int fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)strtol(b, NULL, 8));
            result(name, fd);
            if (fd >= 0) close(fd);
            i += 4;
        }
        else if (!strcmp(op, "create_mode2")) {
            /* the same through openat2: the mode is in struct open_how, in memory */
            NEED(3);
            umask(0);
            struct { uint64_t flags, mode, resolve; } how = {
                O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (uint64_t)strtol(b, NULL, 8), 0};
            long fd = syscall(437 /* SYS_openat2 */, AT_FDCWD, a, &how, sizeof how);
            result(name, fd);
            if (fd >= 0) close((int)fd);
            i += 4;
        }
        else if (!strcmp(op, "symlink")) { NEED(3); result(name, symlink(a, b)); i += 4; }
        else if (!strcmp(op, "link")) { NEED(3); result(name, link(a, b)); i += 4; }
        else if (!strcmp(op, "rename")) { NEED(3); result(name, rename(a, b)); i += 4; }
        else if (!strcmp(op, "exchange")) { NEED(3); result(name, renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE)); i += 4; }
        else if (!strcmp(op, "mkdir")) { NEED(2); result(name, mkdir(a, 0755)); i += 3; }
        else if (!strcmp(op, "unlink")) { NEED(2); result(name, unlink(a)); i += 3; }
        else if (!strcmp(op, "mount_tmpfs")) { NEED(2); result(name, mount("none", a, "tmpfs", 0, NULL)); i += 3; }
        else if (!strcmp(op, "mount_bind")) { NEED(3); result(name, mount(a, b, NULL, MS_BIND, NULL)); i += 4; }
        else if (!strcmp(op, "umount")) { NEED(2); result(name, umount2(a, MNT_DETACH)); i += 3; }
        else if (!strcmp(op, "chroot")) { NEED(2); result(name, chroot(a)); i += 3; }
        else if (!strcmp(op, "open_tree")) { NEED(2); result(name, syscall(SYS_open_tree, AT_FDCWD, a, 1 /* OPEN_TREE_CLONE */)); i += 3; }
        else if (!strcmp(op, "opath_reopen")) {
            /* O_PATH is not checked by Landlock; the reopen through /proc/self/fd must be. */
            NEED(2);
            int fd = open(a, O_PATH | O_CLOEXEC);
            sub(n2, sizeof n2, name, "opath");
            result(n2, fd);
            if (fd >= 0) {
                char p[64];
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                op_open(name, p, O_RDONLY, NULL);
                close(fd);
            }
            i += 3;
        }
        else if (!strcmp(op, "reopen_write")) {
            /* open PATH read-only (allowed), then reopen that fd for writing via /proc/self/fd */
            NEED(2);
            int fd = open(a, O_RDONLY | O_CLOEXEC);
            sub(n2, sizeof n2, name, "open");
            result(n2, fd);
            if (fd >= 0) {
                char p[64];
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                op_open(name, p, O_WRONLY | O_APPEND, "PWNED\n");
                close(fd);
            }
            i += 3;
        }
        else if (!strcmp(op, "spine_at")) {
            /* A readable directory fd of DIR (under run: a carve-out spine the supervisor
             * opens for listing), then through it: read REL, mkdirat and create beside it. */
            NEED(3);
            int dfd = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            sub(n2, sizeof n2, name, "open");
            result(n2, dfd);
            if (dfd >= 0) {
                int fd = openat(dfd, b, O_RDONLY | O_CLOEXEC);
                sub(n2, sizeof n2, name, "read");
                result(n2, fd);
                if (fd >= 0) { dump_fd(n2, fd); close(fd); }
                sub(n2, sizeof n2, name, "mkdir");
                result(n2, mkdirat(dfd, "nono-planted-dir", 0755));
                fd = openat(dfd, "nono-planted-file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                sub(n2, sizeof n2, name, "create");
                result(n2, fd);
                if (fd >= 0) close(fd);
            }
            i += 4;
        }
        else if (!strcmp(op, "opath_at")) {
            /* openat() relative to an O_PATH fd of an outside directory. */
            NEED(3);
            int dfd = open(a, O_PATH | O_DIRECTORY | O_CLOEXEC);
            sub(n2, sizeof n2, name, "opath");
            result(n2, dfd);
            if (dfd >= 0) {
                int fd = openat(dfd, b, O_RDONLY | O_CLOEXEC);
                result(name, fd);
                if (fd >= 0) { dump_fd(name, fd); close(fd); }
                close(dfd);
            }
            i += 4;
        }
        else if (!strcmp(op, "ppid_read")) {
            /* Read PATH under /proc/<parent>/ (e.g. cwd/secret, root/etc/shadow). */
            NEED(2);
            char p[4096];
            snprintf(p, sizeof p, "/proc/%d/%s", (int)getppid(), a);
            op_open(name, p, O_RDONLY, NULL);
            i += 3;
        }
        else if (!strcmp(op, "readfd")) {
            NEED(2);
            int fd = atoi(a);
            sub(n2, sizeof n2, name, "fcntl");
            result(n2, fcntl(fd, F_GETFD));
            char buf[4096];
            ssize_t n = pread(fd, buf, sizeof buf, 0);
            if (n < 0 && errno == ESPIPE) n = read(fd, buf, sizeof buf);
            result(name, n);
            if (n > 0) data(name, buf, n);
            i += 3;
        }
        else if (!strcmp(op, "writefd")) { NEED(3); result(name, write(atoi(a), b, strlen(b))); i += 4; }
        else if (!strcmp(op, "tcp4")) { NEED(2); net_try(name, AF_INET, SOCK_STREAM, 0, atoi(a)); i += 3; }
        else if (!strcmp(op, "tcp6")) { NEED(2); net_try(name, AF_INET6, SOCK_STREAM, 0, atoi(a)); i += 3; }
        else if (!strcmp(op, "udp4")) { NEED(2); net_try(name, AF_INET, SOCK_DGRAM, 0, atoi(a)); i += 3; }
        else if (!strcmp(op, "udp6")) { NEED(2); net_try(name, AF_INET6, SOCK_DGRAM, 0, atoi(a)); i += 3; }
        else if (!strcmp(op, "tfo4")) {
            /* TCP Fast Open: sendto(MSG_FASTOPEN) connects and sends without connect(2). */
            NEED(2);
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sub(n2, sizeof n2, name, "socket");
            result(n2, fd);
            if (fd >= 0) {
                struct sockaddr_in sa = loop4(atoi(a));
                sub(n2, sizeof n2, name, "send");
                result(n2, sendto(fd, "ATTACK", 6, MSG_FASTOPEN | MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof sa));
                close(fd);
            }
            i += 3;
        }
        else if (!strcmp(op, "tcpat") || !strcmp(op, "tfoat") || !strcmp(op, "tfomsgat")) {
            /* TCP to ADDR:PORT (an IPv4 or IPv6 literal): connect + send, sendto(MSG_FASTOPEN),
             * or sendmsg(MSG_FASTOPEN) with msg_name (connects without connect(2) or sendto). */
            NEED(3);
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof ss);
            socklen_t sl;
            int fam;
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
                fam = AF_INET; s4->sin_family = AF_INET; s4->sin_port = htons(atoi(b)); sl = sizeof *s4;
            } else {
                inet_pton(AF_INET6, a, &s6->sin6_addr);
                fam = AF_INET6; s6->sin6_family = AF_INET6; s6->sin6_port = htons(atoi(b)); sl = sizeof *s6;
            }
            int fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sub(n2, sizeof n2, name, "socket");
            result(n2, fd);
            if (fd >= 0) {
                sub(n2, sizeof n2, name, "send");
                if (!strcmp(op, "tcpat")) {
                    int r = connect(fd, (struct sockaddr *)&ss, sl);
                    sub(n2, sizeof n2, name, "connect");
                    result(n2, r);
                    sub(n2, sizeof n2, name, "send");
                    if (r == 0) result(n2, send(fd, "ATTACK", 6, MSG_NOSIGNAL));
                } else if (!strcmp(op, "tfoat")) {
                    result(n2, sendto(fd, "ATTACK", 6, MSG_FASTOPEN | MSG_NOSIGNAL, (struct sockaddr *)&ss, sl));
                } else {
                    struct iovec iov = {.iov_base = "ATTACK", .iov_len = 6};
                    struct msghdr m = {.msg_name = &ss, .msg_namelen = sl, .msg_iov = &iov, .msg_iovlen = 1};
                    result(n2, sendmsg(fd, &m, MSG_FASTOPEN | MSG_NOSIGNAL));
                }
                close(fd);
            }
            i += 4;
        }
        else if (!strcmp(op, "mptcp4")) { NEED(2); net_try(name, AF_INET, SOCK_STREAM, IPPROTO_MPTCP, atoi(a)); i += 3; }
        else if (!strcmp(op, "bind4")) {
            NEED(1);
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sub(n2, sizeof n2, name, "socket");
            result(n2, fd);
            if (fd >= 0) {
                struct sockaddr_in sa = loop4(0);
                result(name, bind(fd, (struct sockaddr *)&sa, sizeof sa));
                close(fd);
            }
            i += 2;
        }
        else if (!strcmp(op, "icmp")) { NEED(1); net_try(name, AF_INET, SOCK_DGRAM, IPPROTO_ICMP, 0); i += 2; }
        else if (!strcmp(op, "raw")) { NEED(1); net_try(name, AF_INET, SOCK_RAW, IPPROTO_ICMP, 0); i += 2; }
        else if (!strcmp(op, "packet")) { NEED(1); int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)); result(name, fd); if (fd >= 0) close(fd); i += 2; }
        else if (!strcmp(op, "i386_socket")) {
            /* i386 socket(2) (nr 359) through int 0x80 from this 64-bit process. */
            NEED(2);
            send_on(name, raw_ret(x86_int80(359, AF_INET, SOCK_DGRAM, 0)), atoi(a));
            i += 3;
        }
        else if (!strcmp(op, "i386_socketcall")) {
            /* i386 socketcall(SYS_SOCKET, args) (nr 102); args must be 32-bit addressable. */
            NEED(2);
            unsigned int *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
            if (args == MAP_FAILED) { perror("mmap"); return 1; }
            args[0] = AF_INET; args[1] = SOCK_DGRAM; args[2] = 0;
            send_on(name, raw_ret(x86_int80(102, 1, (long)(uintptr_t)args, 0)), atoi(a));
            munmap(args, 4096);
            i += 3;
        }
        else if (!strcmp(op, "x32_socket")) {
            NEED(2);
            send_on(name, syscall(0x40000000L | SYS_socket, AF_INET, SOCK_DGRAM, 0), atoi(a));
            i += 3;
        }
        else if (!strcmp(op, "io_uring")) {
            NEED(1);
            struct io_uring_params p;
            memset(&p, 0, sizeof p);
            long fd = syscall(SYS_io_uring_setup, 4, &p);
            result(name, fd);
            if (fd >= 0) close((int)fd);
            i += 2;
        }
        else if (!strcmp(op, "kill")) { NEED(2); result(name, kill(pid_arg(a), SIGKILL)); i += 3; }
        else if (!strcmp(op, "abstract")) {
            /* connect to the abstract unix socket @NAME and send "ATTACK". */
            NEED(2);
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_un sa = {.sun_family = AF_UNIX};
            size_t l = strlen(a);
            if (l > sizeof sa.sun_path - 1) return usage(op);
            memcpy(sa.sun_path + 1, a, l);
            int r = connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + l));
            result(name, r);
            if (r == 0) send(fd, "ATTACK", 6, MSG_NOSIGNAL);
            close(fd);
            i += 3;
        }
        else if (!strcmp(op, "nl_setlink")) { NEED(1); nl_setlink(name); i += 2; }
        else if (!strcmp(op, "nl_connect")) { NEED(1); nl_connect(name); i += 2; }
        else if (!strcmp(op, "pagemap")) { NEED(1); pagemap(name); i += 2; }
        else if (!strcmp(op, "nodump")) {
            /* Make this process non-dumpable: a supervisor without CAP_SYS_PTRACE can no
               longer read its memory (the trapped calls' arguments). */
            NEED(1);
            result(name, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
            i += 2;
        }
        else if (!strcmp(op, "fchmodw")) {
            /* fchmod on a descriptor opened for writing (red team 30): the metadata broker
               works on its pidfd_getfd copy of it, not on a path. */
            NEED(3);
            int fd = open(a, O_WRONLY | O_CLOEXEC);
            sub(n2, sizeof n2, name, "open");
            result(n2, fd);
            if (fd < 0) result(name, -1);
            else { result(name, fchmod(fd, (mode_t)strtol(b, NULL, 8))); close(fd); }
            i += 4;
        }
        else if (!strcmp(op, "kstack")) { NEED(1); int fd = open("/proc/self/stack", O_RDONLY | O_CLOEXEC); if (fd < 0) result(name, fd); else { char b[4096]; result(name, read(fd, b, sizeof b)); close(fd); } i += 2; }
        else if (!strcmp(op, "mode3_chmod")) { NEED(3); mode3_chmod(name, a, b); i += 4; }
        else if (!strcmp(op, "unixpath")) {
            NEED(2);
            int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            struct sockaddr_un sa = {.sun_family = AF_UNIX};
            if (strlen(a) > sizeof sa.sun_path - 1) return usage(op);
            strcpy(sa.sun_path, a);
            int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
            result(name, r);
            if (r == 0) send(fd, "ATTACK", 6, MSG_NOSIGNAL);
            close(fd);
            i += 3;
        }
        else if (!strcmp(op, "dgram_sendmsg") || !strcmp(op, "dgram_pair") || !strcmp(op, "dgram_sendto") || !strcmp(op, "dgram_raw")) {
            NEED(2);
            int how = !strcmp(op, "dgram_sendmsg") ? 0 : !strcmp(op, "dgram_pair") ? 1 : !strcmp(op, "dgram_sendto") ? 2 : 3;
            if (dgram_try(name, a, how) < 0) return usage(op);
            i += 3;
        }
        else if (!strcmp(op, "ptrace_attach")) { NEED(2); result(name, ptrace(PTRACE_ATTACH, pid_arg(a), 0, 0)); i += 3; }
        else if (!strcmp(op, "ptrace_seize")) { NEED(2); result(name, ptrace(PTRACE_SEIZE, pid_arg(a), 0, 0)); i += 3; }
        else if (!strcmp(op, "procmem")) {
            NEED(2);
            char p[64];
            snprintf(p, sizeof p, "/proc/%d/mem", (int)pid_arg(a));
            int fd = open(p, O_RDONLY | O_CLOEXEC);
            sub(n2, sizeof n2, name, "read");
            result(n2, fd);
            if (fd >= 0) close(fd);
            fd = open(p, O_RDWR | O_CLOEXEC);
            sub(n2, sizeof n2, name, "rdwr");
            result(n2, fd);
            if (fd >= 0) close(fd);
            i += 3;
        }
        else if (!strcmp(op, "pidfd_getfd")) {
            /* copy descriptor FD out of process PID (needs ptrace rights over it). */
            NEED(3);
            long pfd = syscall(SYS_pidfd_open, pid_arg(a), 0);
            sub(n2, sizeof n2, name, "pidfd");
            result(n2, pfd);
            if (pfd >= 0) {
                long fd = syscall(SYS_pidfd_getfd, (int)pfd, atoi(b), 0);
                result(name, fd);
                if (fd >= 0) close((int)fd);
                close((int)pfd);
            }
            i += 4;
        }
        else if (!strcmp(op, "fds")) {
            /* the descriptors open above 2, e.g. `fds=ok fds.data=5,9` */
            char list[4096] = "";
            size_t len = 0;
            for (int fd = 3; fd < 4096; fd++)
                if (fcntl(fd, F_GETFD) >= 0 && len < sizeof list - 16)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", len ? "," : "", fd);
            result(name, 0);
            data(name, list, (ssize_t)len);
            i += 2;
        }
        else if (!strcmp(op, "mknod")) {
            /* mknod PATH c|b MAJOR MINOR: a device node (needs CAP_MKNOD: root). */
            if (i + 5 >= argc) return usage(op);
            mode_t type = argv[i + 3][0] == 'b' ? S_IFBLK : S_IFCHR;
            result(name, mknod(a, type | 0600, makedev(atoi(argv[i + 4]), atoi(argv[i + 5]))));
            i += 6;
        }
        else if (!strcmp(op, "prlimit")) {
            /* lower another process's open-file limit to 64 */
            NEED(2);
            struct rlimit rl = {64, 64};
            result(name, prlimit(pid_arg(a), RLIMIT_NOFILE, &rl, NULL));
            i += 3;
        }
        else if (!strcmp(op, "renice")) { NEED(2); result(name, setpriority(PRIO_PROCESS, (id_t)pid_arg(a), 19)); i += 3; }
        else if (!strcmp(op, "setaffinity")) {
            NEED(2);
            cpu_set_t cs;
            CPU_ZERO(&cs);
            CPU_SET(0, &cs);
            result(name, sched_setaffinity(pid_arg(a), sizeof cs, &cs));
            i += 3;
        }
        else if (!strcmp(op, "sched_idle")) {
            /* SCHED_IDLE: the target only runs when nothing else wants the CPU. */
            NEED(2);
            struct sched_param sp = {0};
            result(name, sched_setscheduler(pid_arg(a), SCHED_IDLE, &sp));
            i += 3;
        }
        else if (!strcmp(op, "ioprio_idle")) {
            /* ioprio_set(IOPRIO_WHO_PROCESS, pid, IOPRIO_CLASS_IDLE) */
            NEED(2);
            result(name, syscall(SYS_ioprio_set, 1, pid_arg(a), 3 << 13));
            i += 3;
        }
        else if (!strcmp(op, "ioprio_user")) {
            /* ioprio_set(IOPRIO_WHO_USER, 0 = this uid, IOPRIO_CLASS_IDLE): every process of the user */
            NEED(1);
            result(name, syscall(SYS_ioprio_set, 3, 0, 3 << 13));
            i += 2;
        }
        else if (!strcmp(op, "sched_own")) {
            /* The command's own threads and children stay its to schedule: pin a second thread
               by tid (as pthread_setaffinity_np does), the process by its pid, a forked child. */
            NEED(1);
            cpu_set_t cs;
            CPU_ZERO(&cs);
            CPU_SET(0, &cs);
            int ok = 1;
            pthread_t t;
            struct tid_box box = {0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
            if (pthread_create(&t, NULL, report_tid, &box) == 0) {
                pthread_mutex_lock(&box.m);
                while (!box.tid) pthread_cond_wait(&box.c, &box.m);
                pthread_mutex_unlock(&box.m);
                if (sched_setaffinity(box.tid, sizeof cs, &cs) != 0) ok = 0;
                pthread_mutex_lock(&box.m);
                box.done = 1;
                pthread_cond_signal(&box.c);
                pthread_mutex_unlock(&box.m);
                pthread_join(t, NULL);
            } else ok = 0;
            if (sched_setaffinity(getpid(), sizeof cs, &cs) != 0) ok = 0;
            pid_t c = fork();
            if (c == 0) { pause(); _exit(0); }
            if (c < 0 || sched_setaffinity(c, sizeof cs, &cs) != 0) ok = 0;
            if (c > 0) { kill(c, SIGKILL); waitpid(c, NULL, 0); }
            if (ok) result(name, 0); else result(name, -1);
            i += 2;
        }
        else if (!strcmp(op, "clock_offset0")) {
            /* clock_adjtime(ADJ_SETOFFSET) by 0 s: permission to step the host clock, no change */
            NEED(1);
            struct timex tx;
            memset(&tx, 0, sizeof tx);
            tx.modes = ADJ_SETOFFSET | ADJ_NANO;
            result(name, clock_adjtime(CLOCK_REALTIME, &tx));
            i += 2;
        }
        else if (!strcmp(op, "bpf")) {
            NEED(1);
            union bpf_attr attr;
            memset(&attr, 0, sizeof attr);
            attr.map_type = BPF_MAP_TYPE_ARRAY;
            attr.key_size = 4;
            attr.value_size = 4;
            attr.max_entries = 1;
            long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
            result(name, fd);
            if (fd >= 0) close((int)fd);
            i += 2;
        }
        else if (!strcmp(op, "perf")) {
            NEED(1);
            struct perf_event_attr pe;
            memset(&pe, 0, sizeof pe);
            pe.type = PERF_TYPE_SOFTWARE;
            pe.size = sizeof pe;
            pe.config = PERF_COUNT_SW_TASK_CLOCK;
            pe.disabled = 1;
            long fd = syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
            result(name, fd);
            if (fd >= 0) close((int)fd);
            i += 2;
        }
        else if (!strcmp(op, "keyctl")) {
            /* read the ID of the user's session keyring (shared with the user's other sessions) */
            NEED(1);
            result(name, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
            i += 2;
        }
        else if (!strcmp(op, "userfaultfd")) {
            NEED(1);
            long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
            result(name, fd);
            if (fd >= 0) close((int)fd);
            i += 2;
        }
        else if (!strcmp(op, "personality")) {
            /* READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE: weaken this process's own hardening */
            NEED(1);
            result(name, personality(READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE));
            i += 2;
        }
        else if (!strcmp(op, "sysv_create")) {
            /* a System V shared memory segment KEY holding TEXT, left behind on exit */
            NEED(3);
            int id = shmget((key_t)atoi(a), 4096, IPC_CREAT | 0600);
            result(name, id);
            if (id >= 0) {
                char *p = shmat(id, NULL, 0);
                if (p != (void *)-1) { strncpy(p, b, 4095); shmdt(p); }
            }
            i += 4;
        }
        else if (!strcmp(op, "sysv_rw")) {
            /* attach segment KEY, print what it holds, overwrite it with TEXT */
            NEED(3);
            int id = shmget((key_t)atoi(a), 0, 0);
            sub(n2, sizeof n2, name, "get");
            result(n2, id);
            if (id >= 0) {
                char *p = shmat(id, NULL, 0);
                result(name, p == (void *)-1 ? -1 : 0);
                if (p != (void *)-1) {
                    data(name, p, (ssize_t)strnlen(p, 4096));
                    strncpy(p, b, 4095);
                    shmdt(p);
                }
            }
            i += 4;
        }
        else if (!strcmp(op, "sysv_rm")) {
            NEED(2);
            int id = shmget((key_t)atoi(a), 0, 0);
            result(name, id < 0 ? -1 : shmctl(id, IPC_RMID, NULL));
            i += 3;
        }
        else if (!strcmp(op, "vm_read")) {
            NEED(2);
            static char local[8], remote[8];
            struct iovec l = {local, sizeof local}, r = {remote, sizeof remote};
            result(name, syscall(SYS_process_vm_readv, pid_arg(a), &l, 1, &r, 1, 0));
            i += 3;
        }
        else if (!strcmp(op, "tiocsti")) {
            /* push each byte of STRING into FD's input queue. */
            NEED(3);
            int fd = atoi(a), err = 0;
            for (const char *c = b; *c; c++)
                if (ioctl(fd, TIOCSTI, c) < 0) { err = errno; break; }
            result_errno(name, err);
            i += 4;
        }
        else if (!strcmp(op, "tiocsti_hi")) {
            /* the same request with bits above 32 set: the kernel truncates cmd to 32 bits. */
            NEED(3);
            int fd = atoi(a), err = 0;
            for (const char *c = b; *c; c++)
                if (syscall(SYS_ioctl, fd, (unsigned long)TIOCSTI | (1UL << 32), c) < 0) { err = errno; break; }
            result_errno(name, err);
            i += 4;
        }
        else if (!strcmp(op, "tioclinux")) {
            NEED(2);
            char sub_code = 3; /* TIOCL_PASTESEL: paste the console selection as input */
            result(name, ioctl(atoi(a), TIOCLINUX, &sub_code));
            i += 3;
        }
        else if (!strcmp(op, "devtty")) {
            /* open /dev/tty (the controlling terminal) and push STRING into it. */
            NEED(2);
            int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
            sub(n2, sizeof n2, name, "open");
            result(n2, fd);
            if (fd >= 0) {
                int err = 0;
                for (const char *c = a; *c; c++)
                    if (ioctl(fd, TIOCSTI, c) < 0) { err = errno; break; }
                result_errno(name, err);
                close(fd);
            }
            i += 3;
        }
        else if (!strcmp(op, "isatty")) { NEED(2); result(name, isatty(atoi(a)) ? 0 : -1); i += 3; }
        else if (!strcmp(op, "unshare")) { NEED(2); result(name, unshare(ns_flags(a))); i += 3; }
        else if (!strcmp(op, "clone")) {
            NEED(2);
            long r = syscall(SYS_clone, (long)ns_flags(a) | SIGCHLD, 0L, 0L, 0L, 0L);
            if (r == 0) _exit(0);
            result(name, r);
            if (r > 0) waitpid((pid_t)r, NULL, 0);
            i += 3;
        }
        else if (!strcmp(op, "clone3")) {
            NEED(2);
            struct clone_args ca;
            memset(&ca, 0, sizeof ca);
            ca.flags = (unsigned long long)ns_flags(a);
            ca.exit_signal = SIGCHLD;
            long r = syscall(SYS_clone3, &ca, sizeof ca);
            if (r == 0) _exit(0);
            result(name, r);
            if (r > 0) waitpid((pid_t)r, NULL, 0);
            i += 3;
        }
        else if (!strcmp(op, "setns")) {
            /* setns into the namespace file PATH (type from its name). */
            NEED(2);
            int fd = open(a, O_RDONLY | O_CLOEXEC);
            sub(n2, sizeof n2, name, "open");
            result(n2, fd);
            if (fd >= 0) { result(name, setns(fd, 0)); close(fd); }
            i += 3;
        }
        else if (!strcmp(op, "setns_pidfd")) {
            NEED(2);
            long pfd = syscall(SYS_pidfd_open, pid_arg(a), 0);
            sub(n2, sizeof n2, name, "pidfd");
            result(n2, pfd);
            if (pfd >= 0) { result(name, setns((int)pfd, CLONE_NEWNS)); close((int)pfd); }
            i += 3;
        }
        else if (!strcmp(op, "whiteout")) {
            /* renameat2(SRC, DST, RENAME_WHITEOUT): moves SRC and leaves a 0:0 char device */
            NEED(3);
            result(name, renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_WHITEOUT));
            i += 4;
        }
        else if (!strcmp(op, "pidfd_info")) {
            /* PIDFD_GET_INFO on PID: its parent and uid, what /proc/PID/status would show */
            NEED(2);
            long pfd = syscall(SYS_pidfd_open, pid_arg(a), 0);
            sub(n2, sizeof n2, name, "pidfd");
            result(n2, pfd);
            if (pfd >= 0) {
                struct pidfd_info_v0 info;
                memset(&info, 0, sizeof info);
                info.mask = 3; /* PIDFD_INFO_PID | PIDFD_INFO_CREDS */
                int r = ioctl((int)pfd, PIDFD_GET_INFO_V0, &info);
                result(name, r);
                if (r == 0) {
                    char d[128];
                    int n = snprintf(d, sizeof d, "pid=%u,ppid=%u,uid=%u", info.pid, info.ppid, info.ruid);
                    data(name, d, n);
                }
                close((int)pfd);
            }
            i += 3;
        }
        else if (!strcmp(op, "inotify")) {
            /* inotify_add_watch(PATH) for creations, opens and reads; then wait up to MS ms
               for events and print the names they carry (NAME.data=a,b,...) */
            NEED(3);
            int in = inotify_init1(IN_CLOEXEC);
            sub(n2, sizeof n2, name, "init");
            result(n2, in);
            if (in >= 0) {
                int wd = inotify_add_watch(in, a, IN_CREATE | IN_OPEN | IN_ACCESS | IN_MOVED_TO);
                result(name, wd);
                if (wd >= 0) {
                    char names[4096] = "";
                    size_t len = 0;
                    struct pollfd p = {.fd = in, .events = POLLIN};
                    int ms = atoi(b);
                    /* after the first event, collect what follows for 200 ms more */
                    while (poll(&p, 1, ms) > 0) {
                        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                        ssize_t n = read(in, buf, sizeof buf);
                        if (n <= 0) break;
                        for (char *q = buf; q < buf + n;) {
                            struct inotify_event *ev = (struct inotify_event *)q;
                            if (ev->len && len + ev->len + 2 < sizeof names)
                                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? "," : "", ev->name);
                            q += sizeof *ev + ev->len;
                        }
                        ms = 200;
                    }
                    data(name, names, (ssize_t)len);
                }
                close(in);
            }
            i += 4;
        }
        else if (!strcmp(op, "env")) {
            for (char **e = environ; *e; e++) printf("%s.var=%s\n", name, *e);
            fflush(stdout);
            i += 2;
        }
        else return usage(op);
    }
    return 0;
}
