/* syscalls.c: attempts named syscalls and prints what the kernel answered, for the seccomp
 * integration tests (tests/sandbox/seccomp.rs compiles it with gcc at test time).
 *
 *   syscalls NAME...            one line per NAME: "NAME ret=R errno=E" (E = 0 on success)
 *   syscalls --open KIND:PATH.. one line per path: "KIND:PATH fd=F errno=E data=FIRST-LINE"
 *                               KIND is openat, open or openat2
 *
 * Every call is made with arguments that are harmless even if the call is allowed and the
 * program runs as root (bad magic numbers, nonexistent paths, fds of -1, /dev/null), because
 * the tests also run some of them unsandboxed to show that the filter makes the difference.
 * Names match DenyEntry::label() in src/linux/seccomp/filter.rs, plus extra probes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#define NR_open_tree_attr 467
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define X32_SYSCALL_BIT 0x40000000L

static int devnull(void) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror("open /dev/null");
        exit(3);
    }
    return fd;
}

/* raw clone(flags) used like fork: the child exits at once. */
static long clone_flags(unsigned long flags) {
    long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    return r;
}

#if defined(__x86_64__)
/* An i386 syscall from this 64-bit process. Returns -errno on failure. */
static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}
#endif

static void *thread_main(void *arg) {
    return arg;
}

/* Returns 1 if NAME is known; sets *ret and *err. */
static int attempt(const char *name, long *ret, int *err) {
    long r = -1;
    errno = 0;
    char c = 'x';
    int raw_errno = -1; /* set for calls that report -errno directly (int 0x80) */

#define IS(s) (strcmp(name, s) == 0)
    if (IS("io_uring_setup")) r = syscall(SYS_io_uring_setup, 0, NULL);
    else if (IS("io_uring_enter")) r = syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
    else if (IS("io_uring_register")) r = syscall(SYS_io_uring_register, -1, 0, NULL, 0);
    else if (IS("ioctl(TIOCSTI)")) r = ioctl(devnull(), TIOCSTI, &c);
    else if (IS("ioctl(TIOCLINUX)")) r = ioctl(devnull(), TIOCLINUX, &c);
    /* PIDFD_GET_INFO (_IOWR(0xFF, 11, 64 bytes)) on fd -1: EBADF when allowed. */
    else if (IS("ioctl(PIDFD_GET_INFO)")) r = syscall(SYS_ioctl, -1, (3UL << 30) | (64UL << 16) | 0xff0b, NULL);
    /* RENAME_WHITEOUT (4) on paths that do not exist: ENOENT when allowed. */
    else if (IS("renameat2(RENAME_WHITEOUT)"))
        r = syscall(SYS_renameat2, AT_FDCWD, "/nonexistent-nono/a", AT_FDCWD, "/nonexistent-nono/b", 4);
    else if (IS("ioctl(TIOCSTI):high-bits"))
        r = syscall(SYS_ioctl, devnull(), (unsigned long)TIOCSTI | (1UL << 32), &c);
    else if (IS("ioctl(TIOCLINUX):high-bits"))
        r = syscall(SYS_ioctl, devnull(), (unsigned long)TIOCLINUX | (0xabcdUL << 40), &c);
    else if (IS("ioctl:TCGETS")) {
        char buf[128];
        r = ioctl(devnull(), TCGETS, buf);
    }
    else if (IS("ptrace")) r = syscall(SYS_ptrace, 3 /* PTRACE_PEEKDATA */, 1, 0, 0);
    else if (IS("process_vm_readv")) r = syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0);
    else if (IS("process_vm_writev")) r = syscall(SYS_process_vm_writev, getpid(), NULL, 0, NULL, 0, 0);
    else if (IS("pidfd_getfd")) r = syscall(SYS_pidfd_getfd, -1, 0, 0);
    else if (IS("bpf")) r = syscall(SYS_bpf, 0xffff, NULL, 0);
    else if (IS("perf_event_open")) r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
    else if (IS("keyctl")) r = syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, 0x7ffffff0, 0);
    else if (IS("add_key")) r = syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);
    else if (IS("request_key")) r = syscall(SYS_request_key, NULL, NULL, NULL, 0);
    else if (IS("userfaultfd")) r = syscall(SYS_userfaultfd, O_CLOEXEC);
    else if (IS("mount")) r = syscall(SYS_mount, "none", "/nonexistent-nono", "tmpfs", 0, NULL);
    else if (IS("umount2")) r = syscall(SYS_umount2, "/nonexistent-nono", 0);
    else if (IS("pivot_root")) r = syscall(SYS_pivot_root, "/nonexistent-nono", "/nonexistent-nono");
    else if (IS("move_mount")) r = syscall(SYS_move_mount, -1, "/nonexistent-nono", -1, "/nonexistent-nono", 0);
    else if (IS("fsopen")) r = syscall(SYS_fsopen, "nono-nonexistent-fs", 0);
    else if (IS("fsconfig")) r = syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0);
    else if (IS("fsmount")) r = syscall(SYS_fsmount, -1, 0, 0);
    else if (IS("fspick")) r = syscall(SYS_fspick, -1, "/nonexistent-nono", 0);
    else if (IS("open_tree")) r = syscall(SYS_open_tree, -1, "/nonexistent-nono", 0);
    else if (IS("open_tree_attr")) r = syscall(NR_open_tree_attr, -1, "/nonexistent-nono", 0, NULL, 0);
    else if (IS("mount_setattr")) r = syscall(SYS_mount_setattr, -1, "", 0, NULL, 0);
    else if (IS("unshare")) r = syscall(SYS_unshare, CLONE_NEWNS);
    else if (IS("setns")) r = syscall(SYS_setns, -1, 0);
    else if (IS("clone(CLONE_NEW*)")) r = clone_flags(CLONE_NEWUSER);
    else if (IS("clone:newns")) r = clone_flags(CLONE_NEWNS);
    else if (IS("clone:newnet")) r = clone_flags(CLONE_NEWNET);
    else if (IS("clone:newpid")) r = clone_flags(CLONE_NEWPID);
    else if (IS("clone:newuser-high-bits")) r = clone_flags(CLONE_NEWUSER | (1UL << 40));
    else if (IS("clone:fork")) r = clone_flags(0);
    else if (IS("clone3")) r = syscall(SYS_clone3, NULL, 0);
    else if (IS("personality(other)")) r = syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */);
    else if (IS("personality:query")) r = syscall(SYS_personality, 0xffffffffUL);
    else if (IS("personality:linux")) r = syscall(SYS_personality, 0);
    else if (IS("kexec_load")) r = syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL);
    else if (IS("kexec_file_load")) r = syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0);
    else if (IS("init_module")) r = syscall(SYS_init_module, NULL, 0, "");
    else if (IS("finit_module")) r = syscall(SYS_finit_module, -1, "", 0);
    else if (IS("delete_module")) r = syscall(SYS_delete_module, "nono_nonexistent_module", O_NONBLOCK);
    else if (IS("open_by_handle_at")) r = syscall(SYS_open_by_handle_at, -1, NULL, 0);
    else if (IS("name_to_handle_at")) r = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0);
    else if (IS("chroot")) r = syscall(SYS_chroot, "/");
    else if (IS("swapon")) r = syscall(SYS_swapon, "/nonexistent-nono", 0);
    else if (IS("swapoff")) r = syscall(SYS_swapoff, "/nonexistent-nono");
    else if (IS("reboot")) r = syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL */
    else if (IS("acct")) r = syscall(SYS_acct, "/nonexistent-nono/acct");
#if defined(__x86_64__)
    else if (IS("iopl")) r = syscall(SYS_iopl, 0);
    else if (IS("ioperm")) r = syscall(SYS_ioperm, 0, 0, 0);
#endif
    else if (IS("quotactl")) r = syscall(SYS_quotactl, 0, NULL, 0, NULL);
    else if (IS("quotactl_fd")) r = syscall(SYS_quotactl_fd, -1, 0, 0, NULL);
    else if (IS("vhangup")) {
        setsid(); /* no controlling terminal: harmless even if allowed */
        r = syscall(SYS_vhangup);
    }
    else if (IS("lookup_dcookie")) r = syscall(SYS_lookup_dcookie, 0, NULL, 0);
    else if (IS("settimeofday")) {
        struct timeval tv = {0, -1}; /* invalid: EINVAL before anything is set */
        r = syscall(SYS_settimeofday, &tv, NULL);
    }
    else if (IS("clock_settime")) {
        struct timespec ts = {0, -1};
        r = syscall(SYS_clock_settime, CLOCK_REALTIME, &ts);
    }
    else if (IS("sethostname")) r = syscall(SYS_sethostname, NULL, 1000);
    else if (IS("setdomainname")) r = syscall(SYS_setdomainname, NULL, 1000);
    else if (IS("fanotify_init")) r = syscall(SYS_fanotify_init, 0, 0);
    /* Set-ID modes: nonexistent paths and bad fds (ENOENT / EBADF when allowed). */
#if defined(__x86_64__)
    else if (IS("chmod(S_ISUID|S_ISGID)")) r = syscall(SYS_chmod, "/nonexistent-nono", 04755);
    else if (IS("open(O_CREAT, S_ISUID|S_ISGID)"))
        r = syscall(SYS_open, "/nonexistent-nono/x", O_CREAT | O_WRONLY, 04755);
    else if (IS("creat(S_ISUID|S_ISGID)")) r = syscall(SYS_creat, "/nonexistent-nono/x", 02755);
    else if (IS("mknod(S_ISUID|S_ISGID)")) r = syscall(SYS_mknod, "/nonexistent-nono/x", S_IFREG | 04755, 0);
    else if (IS("open(O_ACCMODE == 3)")) r = syscall(SYS_open, "/nonexistent-nono", 3);
#endif
    /* Access mode 3 (neither read nor write): ENOENT when allowed. */
    else if (IS("openat(O_ACCMODE == 3)")) r = syscall(SYS_openat, AT_FDCWD, "/nonexistent-nono", 3 | O_CLOEXEC);
    else if (IS("fchmod(S_ISUID|S_ISGID)")) r = syscall(SYS_fchmod, -1, 04755);
    else if (IS("fchmodat(S_ISUID|S_ISGID)")) r = syscall(SYS_fchmodat, AT_FDCWD, "/nonexistent-nono", 02755);
    else if (IS("fchmodat2(S_ISUID|S_ISGID)")) r = syscall(452, AT_FDCWD, "/nonexistent-nono", 04755, 0);
    else if (IS("openat(O_CREAT, S_ISUID|S_ISGID)"))
        r = syscall(SYS_openat, AT_FDCWD, "/nonexistent-nono/x", O_CREAT | O_WRONLY, 06755);
    else if (IS("openat2")) {
        /* The attack the ENOSYS row stops: O_CREAT with a set-ID mode inside open_how. */
        struct { uint64_t flags, mode, resolve; } how = {O_CREAT | O_WRONLY, 04755, 0};
        r = syscall(SYS_openat2, AT_FDCWD, "/nonexistent-nono/x", &how, sizeof how);
    }
    else if (IS("openat2:read")) {
        struct { uint64_t flags, mode, resolve; } how = {O_RDONLY | O_CLOEXEC, 0, 0};
        r = syscall(SYS_openat2, AT_FDCWD, "/dev/null", &how, sizeof how);
    }
    else if (IS("openat:tmpfile-setuid"))
        r = syscall(SYS_openat, AT_FDCWD, "/nonexistent-nono", O_TMPFILE | O_WRONLY, 04755);
    else if (IS("openat:create-0644"))
        r = syscall(SYS_openat, AT_FDCWD, "/nonexistent-nono/x", O_CREAT | O_WRONLY, 0644);
    else if (IS("mknodat(S_ISUID|S_ISGID)"))
        r = syscall(SYS_mknodat, AT_FDCWD, "/nonexistent-nono/x", S_IFREG | 04755, 0);
    else if (IS("fchmod:0755")) r = syscall(SYS_fchmod, -1, 0755);
    /* Other processes by pid: 0x7ffffff0 does not exist (ESRCH when allowed). */
    else if (IS("prlimit64(pid, new limit)")) {
        struct rlimit rl = {64, 64};
        r = syscall(SYS_prlimit64, 0x7ffffff0, RLIMIT_NOFILE, &rl, NULL);
    }
    else if (IS("prlimit64:read-other")) {
        struct rlimit old;
        r = syscall(SYS_prlimit64, 0x7ffffff0, RLIMIT_NOFILE, NULL, &old);
    }
    else if (IS("prlimit64:self")) {
        struct rlimit old;
        r = syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &old);
        if (r == 0) r = syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &old, NULL);
    }
    else if (IS("setpriority(other)")) r = syscall(SYS_setpriority, PRIO_PROCESS, 0x7ffffff0, 19);
    else if (IS("setpriority:self")) r = syscall(SYS_setpriority, PRIO_PROCESS, 0, 1);
    /* IOPRIO_WHO_USER (3), uid 0x7ffffff0 (no such user: 0 when allowed); class BE, level 4. */
    else if (IS("ioprio_set(IOPRIO_WHO_USER)")) r = syscall(SYS_ioprio_set, 3, 0x7ffffff0, (2 << 13) | 4);
    /* Network */
    else if (IS("socket:unix")) r = socket(AF_UNIX, SOCK_STREAM, 0);
    else if (IS("socket:inet-tcp")) r = socket(AF_INET, SOCK_STREAM, 0);
    else if (IS("socket:inet-tcp-flags")) r = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    else if (IS("socket:inet6-tcp")) r = socket(AF_INET6, SOCK_STREAM, 0);
    else if (IS("socket:inet-udp")) r = socket(AF_INET, SOCK_DGRAM, 0);
    else if (IS("socket:inet6-udp")) r = socket(AF_INET6, SOCK_DGRAM, 0);
    else if (IS("socket:inet-icmp")) r = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    else if (IS("socket:inet-raw")) r = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    else if (IS("socket:inet-mptcp")) r = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
    else if (IS("socket:netlink")) r = socket(AF_NETLINK, SOCK_RAW, 0);
    else if (IS("socket:packet")) r = socket(AF_PACKET, SOCK_RAW, 0);
    else if (IS("socketpair:unix")) {
        int sv[2];
        r = socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    }
    /* Unix datagram sockets (refused unless allowed) and the stream kinds (never refused). */
    else if (IS("socket:unix-dgram")) r = socket(AF_UNIX, SOCK_DGRAM, 0);
    else if (IS("socket:unix-dgram-flags")) r = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    else if (IS("socket:unix-raw")) r = socket(AF_UNIX, SOCK_RAW, 0);
    else if (IS("socket:unix-dgram-high-bits")) r = syscall(SYS_socket, (1L << 32) | AF_UNIX, (1L << 32) | SOCK_DGRAM, 0);
    else if (IS("socket:unix-stream-flags")) r = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    else if (IS("socket:unix-seqpacket")) r = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    else if (IS("socketpair:unix-dgram")) {
        int sv[2];
        r = socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv);
    }
    else if (IS("socketpair:unix-seqpacket")) {
        int sv[2];
        r = socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    }
    else if (IS("socketpair:inet")) {
        int sv[2];
        r = socketpair(AF_INET, SOCK_STREAM, 0, sv);
    }
    /* Other ABIs */
#if defined(__x86_64__)
    else if (IS("i386:getpid")) { r = int80(20, 0, 0, 0); raw_errno = 1; }
    else if (IS("i386:socket")) { r = int80(359, AF_INET, SOCK_STREAM, 0); raw_errno = 1; }
    else if (IS("i386:socketcall")) {
        /* socketcall(SYS_SOCKET, args): the args pointer must fit in 32 bits. */
        uint32_t *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (args == MAP_FAILED) {
            perror("mmap MAP_32BIT");
            exit(3);
        }
        args[0] = AF_INET;
        args[1] = SOCK_DGRAM;
        args[2] = 0;
        r = int80(102, 1 /* SYS_SOCKET */, (long)(uintptr_t)args, 0);
        raw_errno = 1;
    }
    else if (IS("x32:getpid")) r = syscall(X32_SYSCALL_BIT | SYS_getpid);
#endif
    /* Processes and threads */
    else if (IS("fork")) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        if (p > 0)
            waitpid(p, NULL, 0);
        r = p;
    }
    else if (IS("thread")) {
        pthread_t t;
        int e = pthread_create(&t, NULL, thread_main, NULL);
        if (e == 0)
            e = pthread_join(t, NULL);
        r = e == 0 ? 0 : -1;
        errno = e;
    }
    else
        return 0;
#undef IS

    if (raw_errno == 1) {
        *ret = r;
        *err = (r < 0 && r > -4096) ? (int)-r : 0;
        if (*err)
            *ret = -1;
    } else {
        *ret = r;
        *err = r < 0 ? errno : 0;
    }
    return 1;
}

static int do_open(const char *spec) {
    const char *colon = strchr(spec, ':');
    if (!colon)
        return 0;
    const char *path = colon + 1;
    size_t kind = (size_t)(colon - spec);
    long fd;
    if (kind == 6 && strncmp(spec, "openat", 6) == 0)
        fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    else if (kind == 4 && strncmp(spec, "open", 4) == 0)
        fd = syscall(SYS_open, path, O_RDONLY | O_CLOEXEC);
    else if (kind == 7 && strncmp(spec, "openat2", 7) == 0) {
        struct { uint64_t flags, mode, resolve; } how = {O_RDONLY | O_CLOEXEC, 0, 0};
        fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    } else
        return 0;
    int err = fd < 0 ? errno : 0;
    char data[65] = "";
    if (fd >= 0) {
        ssize_t n = read((int)fd, data, sizeof data - 1);
        data[n > 0 ? n : 0] = 0;
        data[strcspn(data, "\n")] = 0;
        close((int)fd);
    }
    printf("%s fd=%ld errno=%d data=%s\n", spec, fd, err, data);
    return 1;
}

int main(int argc, char **argv) {
    int bad = 0;
    if (argc > 1 && strcmp(argv[1], "--open") == 0) {
        for (int i = 2; i < argc; i++) {
            if (!do_open(argv[i])) {
                printf("%s unknown\n", argv[i]);
                bad = 1;
            }
            fflush(stdout);
        }
        return bad ? 2 : 0;
    }
    for (int i = 1; i < argc; i++) {
        long ret = 0;
        int err = 0;
        if (attempt(argv[i], &ret, &err))
            printf("%s ret=%ld errno=%d\n", argv[i], ret, err);
        else {
            printf("%s unknown\n", argv[i]);
            bad = 1;
        }
        fflush(stdout);
    }
    return bad ? 2 : 0;
}
