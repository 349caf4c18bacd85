//! `cargo xtask bench`: one run, one table — whole-process timings (start-up of `true`, a
//! 5000-file read workload) under nono and its peers as medians and ratios against bare
//! execution measured in the same run; runtime-grant latency p50/p99 measured inside a child;
//! codec/transport/proxy throughput from the criterion benches run with short times; and the
//! egress proxy's load numbers (`nono-proxy`'s `proxy_load` example: 1 GiB CONNECT throughput
//! as a ratio to direct loopback, added latency of a new proxied connection, 1000 held
//! tunnels and the proxy's RSS with them), skipped with `--no-proxy`.
//!
//! Cases of one group run round-robin (one sample of each, then the next round), so a slow
//! phase of a noisy machine hits every case alike and the ratios stay meaningful. Peers
//! (bwrap, firejail) are measured when installed and reported as skipped otherwise; nothing
//! depends on them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::workspace_root;

/// Files in the read workload.
const FILES: usize = 5000;

/// The C child for the measurements inside a sandbox:
/// - `opens PATH N` opens and closes PATH N times, timing each open+close with
///   `clock_gettime(CLOCK_MONOTONIC)`, and prints `p50 p99` in ns;
/// - `opens -s PATH N` times `getppid` and `pread(fd of PATH, 1 byte)` in 51 batches of N
///   calls each and prints the median time per call of each in ps: `getppid pread`.
const OPENS_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}
static long now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}
#define BATCHES 51
static int syscalls(const char *path, long n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { perror(path); return 1; }
    long pp[BATCHES], pr[BATCHES];
    char c;
    for (int b = 0; b < BATCHES; b++) {
        long t = now();
        for (long i = 0; i < n; i++) getppid();
        pp[b] = (now() - t) * 1000 / n;
        t = now();
        for (long i = 0; i < n; i++)
            if (pread(fd, &c, 1, 0) != 1) { perror("pread"); return 1; }
        pr[b] = (now() - t) * 1000 / n;
    }
    qsort(pp, BATCHES, sizeof(long), cmp);
    qsort(pr, BATCHES, sizeof(long), cmp);
    /* In picoseconds, so that a few ns of difference are visible. */
    printf("%ld %ld\n", pp[BATCHES / 2], pr[BATCHES / 2]);
    return 0;
}
int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "-s") == 0) {
        long n = atol(argv[3]);
        return n > 0 ? syscalls(argv[2], n) : 2;
    }
    if (argc != 3) return 2;
    long n = atol(argv[2]);
    if (n <= 0) return 2;
    long *ns = malloc(sizeof(long) * n);
    if (!ns) return 2;
    for (long i = 0; i < n; i++) {
        long a = now();
        int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0) { perror(argv[1]); return 1; }
        close(fd);
        ns[i] = now() - a;
    }
    qsort(ns, n, sizeof(long), cmp);
    printf("%ld %ld\n", ns[n / 2], ns[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
    return 0;
}
"#;

/// The floor for a trapped open: the least a supervisor can do. `floor [-r] PROG ARGS...`
/// runs PROG under a seccomp filter that traps `open`/`openat` (nothing else: no Landlock,
/// no deny list) and answers every notification `CONTINUE` from a single thread blocked in
/// `SECCOMP_IOCTL_NOTIF_RECV` with `SYNC_WAKE_UP` (as nono's notify thread). With `-r` it
/// also reads the path from the child (`process_vm_readv`) and checks `NOTIF_ID_VALID`
/// first, the least a broker that looks at the path must add. With `-a` it installs a
/// one-instruction filter that allows everything and execs PROG (no listener): the least
/// any seccomp sandbox adds to an allowed syscall. With `-l DIR` it also restricts itself
/// with a Landlock ruleset that handles every filesystem right of ABI 1–5 and grants read
/// (execute, read file, read directory) on `/` and on DIR — the policy of `--read DIR`
/// with nothing else: the least a Landlock + seccomp sandbox with that policy adds to an
/// open. (Landlock's open check also asks for the optional truncate and device-ioctl
/// rights, which no read grant gives, so it walks from the file up to `/` whatever the
/// rules; with every right granted on DIR the walk would stop at DIR.)
const FLOOR_C: &str = r#"#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif
int main(int argc, char **argv) {
    int read_path = 0, grant = 0, a = 1;
    /* -c: pin this process (and so everything it starts) to the first CPU it may run on. */
    if (argc > 1 && strcmp(argv[1], "-c") == 0) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set)) return 3;
        int cpu = 0;
        while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set)) cpu++;
        if (cpu == CPU_SETSIZE) return 3;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set)) return 3;
        argv++;
        argc--;
    }
    /* -e: run the command as it is (after -c: pinned). */
    if (argc > 2 && strcmp(argv[1], "-e") == 0) {
        execvp(argv[2], argv + 2);
        return 127;
    }
    if (argc > 1 && strcmp(argv[1], "-r") == 0) { read_path = 1; a = 2; }
    /* -g: grant every open as a runtime grant must at least: read the path, check the id,
       open it without following symlinks and inject the fd (ADDFD with SEND). */
    if (argc > 1 && strcmp(argv[1], "-g") == 0) { read_path = 1; grant = 1; a = 2; }
    if (argc > 2 && strcmp(argv[1], "-l") == 0) {
        /* struct landlock_ruleset_attr / landlock_path_beneath_attr (packed), by hand: the
           build host's headers may predate the rights. */
        struct { unsigned long long fs, net, scoped; } attr = {(1ULL << 16) - 1, 0, 0};
        int rs = syscall(444 /* landlock_create_ruleset */, &attr, sizeof attr.fs, 0);
        if (rs < 0) return 3;
        const char *dirs[2] = {"/", argv[2]};
        for (int i = 0; i < 2; i++) {
            struct __attribute__((packed)) { unsigned long long allowed; int fd; } pb;
            pb.allowed = 1ULL << 0 | 1ULL << 2 | 1ULL << 3; /* execute, read file, read dir */
            pb.fd = open(dirs[i], O_PATH | O_CLOEXEC);
            if (pb.fd < 0 || syscall(445 /* landlock_add_rule */, rs, 1, &pb, 0)) return 3;
            close(pb.fd);
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return 3;
        if (syscall(446 /* landlock_restrict_self */, rs, 0)) return 3;
        close(rs);
        argv[2] = "-a";
        argv++;
        argc--;
    }
    if (argc > 1 && strcmp(argv[1], "-a") == 0) {
        if (argc <= 2) return 2;
        struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
        struct sock_fprog all = {1, allow};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return 3;
        if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &all)) return 3;
        execvp(argv[2], argv + 2);
        return 127;
    }
    if (argc <= a) return 2;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return 2;
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 2, 0),
#ifdef __NR_open
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 1, 0),
#else
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 1, 0),
#endif
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        };
        struct sock_fprog prog = {sizeof f / sizeof f[0], f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) _exit(3);
        int l = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        if (l < 0) _exit(3);
        char c = 'L';
        struct iovec io = {&c, 1};
        char cbuf[CMSG_SPACE(sizeof(int))];
        memset(cbuf, 0, sizeof cbuf);
        struct msghdr m = {0};
        m.msg_iov = &io; m.msg_iovlen = 1; m.msg_control = cbuf; m.msg_controllen = sizeof cbuf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &l, sizeof(int));
        if (sendmsg(sv[1], &m, 0) != 1) _exit(3);
        close(l);
        execvp(argv[a], argv + a);
        _exit(127);
    }
    close(sv[1]);
    char c;
    struct iovec io = {&c, 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr m = {0};
    m.msg_iov = &io; m.msg_iovlen = 1; m.msg_control = cbuf; m.msg_controllen = sizeof cbuf;
    if (recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC) != 1) return 2;
    int l;
    memcpy(&l, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
    ioctl(l, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    char path[4096];
    for (;;) {
        struct seccomp_notif n;
        memset(&n, 0, sizeof n);
        if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, &n)) {
            if (errno == EINTR) continue;
            struct pollfd p = {l, POLLIN, 0};
            if (errno == ENOENT && poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP)) continue;
            break;
        }
        if (read_path) {
            unsigned long ptr = n.data.nr == __NR_openat ? n.data.args[1] : n.data.args[0];
            struct iovec lo = {path, sizeof path}, re = {(void *)ptr, sizeof path - ((ptr) & 4095)};
            lo.iov_len = re.iov_len;
            process_vm_readv(n.pid, &lo, 1, &re, 1, 0);
            __u64 id = n.id;
            ioctl(l, SECCOMP_IOCTL_NOTIF_ID_VALID, &id);
        }
        if (grant) {
            /* The path may end the page early or be cut: terminate it. */
            path[sizeof path - 1] = 0;
            unsigned long flags = n.data.nr == __NR_openat ? n.data.args[2] : n.data.args[1];
            struct { __u64 flags, mode, resolve; } how = {
                (flags & (O_ACCMODE | O_DIRECTORY | O_NOFOLLOW)) | O_CLOEXEC, 0,
                0x02 | 0x04 /* RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS */};
            int fd = syscall(__NR_openat2, AT_FDCWD, path, &how, sizeof how);
            if (fd >= 0) {
                struct seccomp_notif_addfd add = {n.id, SECCOMP_ADDFD_FLAG_SEND, fd, 0,
                                                  flags & O_CLOEXEC};
                int sent = ioctl(l, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
                close(fd);
                if (sent >= 0) continue;
            }
            /* A path through a symlink (the loader's libraries): let the kernel open it. */
        }
        struct seccomp_notif_resp r = {n.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE};
        ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, &r);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) return 2;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
"#;

#[derive(Debug, Clone)]
struct Opts {
    json: bool,
    iters: usize,
    opens: usize,
    criterion: bool,
    proxy: bool,
}

/// One whole-process case; `key` names it for the targets (empty: not used by one).
struct Case {
    key: &'static str,
    name: String,
    argv: Vec<String>,
}

/// A whole-process result.
#[derive(Debug)]
struct Timed {
    group: &'static str,
    key: &'static str,
    name: String,
    median: Duration,
    p90: Duration,
    samples: usize,
    skipped: Option<String>,
}

/// A measurement made inside the child, two numbers per run (`open`: open+close p50 and
/// p99 in ns; `syscall`: getppid and pread in ns per call), each the median over rounds.
#[derive(Debug)]
struct Inside {
    group: &'static str,
    key: &'static str,
    name: String,
    a: f64,
    b: f64,
    rounds: usize,
    skipped: Option<String>,
}

/// The supervisor's memory for a plain `run` (KiB, medians over runs).
#[derive(Debug)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
    runs: usize,
    skipped: Option<String>,
}

/// A criterion result.
#[derive(Debug)]
struct Throughput {
    name: String,
    time_ns: f64,
    per_sec: f64,
}

/// One target of issue 14, checked against this run's numbers.
#[derive(Debug)]
struct Target {
    id: &'static str,
    goal: &'static str,
    measured: String,
    /// `None`: a case it needs did not run.
    met: Option<bool>,
}

/// Everything one run measured.
struct All {
    /// How the measured `nono` is linked (`static` or `dynamic`).
    linkage: &'static str,
    timed: Vec<Timed>,
    inside: Vec<Inside>,
    memory: Memory,
    throughput: Vec<Throughput>,
}

pub fn run_bench(args: &[String]) -> Result<()> {
    let mut o = Opts {
        json: false,
        iters: 50,
        opens: 2000,
        criterion: true,
        proxy: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize> {
            it.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| name.to_owned())
        };
        match a.as_str() {
            "--json" => o.json = true,
            "--iters" => o.iters = num("--iters")?.max(3),
            "--opens" => o.opens = num("--opens")?.max(10),
            "--no-criterion" => o.criterion = false,
            "--no-proxy" => o.proxy = false,
            other => bail!(
                "unknown bench option `{other}` (expected --json, --iters N, --opens N, --no-criterion, --no-proxy)"
            ),
        }
    }
    // The binary users install (`cargo xtask install`: static where the host allows).
    let built = crate::build::build_nono(crate::build::Profile::Release)?;
    eprintln!(
        "bench: measuring {} ({} build)",
        built.path.display(),
        built.linkage.name()
    );
    let nono = built.path;
    let linkage = built.linkage.name();
    // Not under /tmp: the default profile grants temp dirs, and then `--approve` would
    // measure the static fast path instead of runtime grants.
    let scratch = workspace_root().join(format!("target/nono-bench-{}", std::process::id()));
    let result = measure_all(&o, &nono, linkage, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let all = result?;
    let targets = targets(&all);
    let proxy = if o.proxy { Some(proxy_load()?) } else { None };
    if o.json {
        print_json(&all, &targets, proxy.as_ref());
    } else {
        print_table(&all, &targets);
        if let Some(p) = &proxy {
            print_proxy(p);
        }
    }
    let left = children_left();
    if !left.is_empty() {
        bail!("child processes left behind by the benchmark (pid, state): {left:?}");
    }
    Ok(())
}

/// bwrap as issue 14 measured it: everything read-only but DIR, fresh /dev and /proc, every
/// namespace unshared.
fn bwrap_args(dir: &str) -> Vec<String> {
    [
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--bind",
        dir,
        dir,
        "--unshare-all",
        "--die-with-parent",
        "--",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn firejail_args(dir: &str) -> Vec<String> {
    vec![
        "--quiet".to_owned(),
        "--noprofile".to_owned(),
        format!("--whitelist={dir}"),
    ]
}

fn measure_all(o: &Opts, nono: &Path, linkage: &'static str, scratch: &Path) -> Result<All> {
    let _ = std::fs::remove_dir_all(scratch);
    let data = scratch.join("data");
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin)?;
    let first = make_tree(&data, FILES)?;
    let data = std::fs::canonicalize(&data)?;
    let bin = std::fs::canonicalize(&bin)?;
    check_not_granted(nono, &data)?;
    let n = nono.display().to_string();
    let d = data.display().to_string();
    let argv = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    let bwrap = which("bwrap");
    let firejail = which("firejail");
    let tools = compile_tools(&bin);
    let floor = tools.as_ref().ok().map(|(_, f)| f.display().to_string());
    // A case that needs a tool that is not there has an empty argv: reported as skipped.
    let with = |tool: &Option<String>, key: &'static str, name: &str, args: Vec<String>| -> Case {
        match tool {
            Some(t) => {
                let mut v = vec![t.clone()];
                v.extend(args);
                Case {
                    key,
                    name: name.into(),
                    argv: v,
                }
            }
            None => Case {
                key,
                name: name.into(),
                argv: Vec::new(),
            },
        }
    };

    // Start-up of `true`.
    let mut startup = vec![
        Case {
            key: "bare",
            name: "true (bare)".into(),
            argv: argv(&["true"]),
        },
        Case {
            key: "run",
            name: "nono run -s --allow DIR -- true".into(),
            argv: argv(&[&n, "run", "-s", "--allow", &d, "--", "true"]),
        },
        Case {
            key: "wrap",
            name: "nono wrap -s --allow DIR -- true".into(),
            argv: argv(&[&n, "wrap", "-s", "--allow", &d, "--", "true"]),
        },
    ];
    let mut b = bwrap_args(&d);
    b.push("true".into());
    startup.push(with(&bwrap, "bwrap", "bwrap (issue 14's flags) -- true", b));
    let mut f = firejail_args(&d);
    f.push("true".into());
    startup.push(with(
        &firejail,
        "firejail",
        "firejail --quiet --noprofile --whitelist=DIR true",
        f,
    ));

    // The 5000-file read workload: one `cat` of every file, the list expanded by `sh` (a
    // literal argv of 5000 paths is over firejail's argument limit).
    let cat = |mut prefix: Vec<String>| {
        prefix.extend(argv(&["sh", "-c", r#"exec cat "$0"/d*/*"#, &d]));
        prefix
    };
    let mut read = vec![
        Case {
            key: "bare",
            name: format!("cat {FILES} files (bare)"),
            argv: cat(Vec::new()),
        },
        Case {
            key: "run",
            name: "nono run -s --read DIR (trapped, CONTINUE)".into(),
            argv: cat(argv(&[&n, "run", "-s", "--read", &d, "--"])),
        },
        Case {
            key: "wrap",
            name: "nono wrap -s --read DIR (no supervisor)".into(),
            argv: cat(argv(&[&n, "wrap", "-s", "--read", &d, "--"])),
        },
        Case {
            key: "approve",
            name: "nono run -s --approve DIR (runtime grants)".into(),
            argv: cat(argv(&[&n, "run", "-s", "--approve", &d, "--"])),
        },
        with(
            &floor,
            "floor",
            "floor: minimal notify loop answering CONTINUE",
            Vec::new(),
        ),
        with(
            &floor,
            "floor-grant",
            "floor: minimal notify loop granting (openat2, ADDFD|SEND)",
            argv(&["-g"]),
        ),
        with(
            &floor,
            "landlock-floor",
            "floor: Landlock read on / and DIR + allow-all seccomp",
            argv(&["-l", &d]),
        ),
        with(
            &bwrap,
            "bwrap",
            "bwrap (issue 14's flags) -- cat ...",
            bwrap_args(&d),
        ),
        with(
            &firejail,
            "firejail",
            "firejail --quiet --noprofile --whitelist=DIR -- cat ...",
            {
                let mut f = firejail_args(&d);
                f.push("--".into());
                f
            },
        ),
    ];
    for c in read.iter_mut().skip(4) {
        if !c.argv.is_empty() {
            c.argv = cat(std::mem::take(&mut c.argv));
        }
    }

    eprintln!(
        "xtask bench: start-up, {} rounds of {} cases",
        o.iters,
        startup.len()
    );
    let mut timed = measure_group("startup", &startup, o.iters);
    let read_iters = o.iters.div_ceil(5).max(5);
    eprintln!(
        "xtask bench: {FILES}-file read, {read_iters} rounds of {} cases",
        read.len()
    );
    timed.extend(measure_group("read5000", &read, read_iters));

    let mut inside = Vec::new();
    match &tools {
        Ok((opens, floor)) => {
            let paths = ToolPaths {
                nono,
                opens,
                floor,
                bin: &bin,
                data: &data,
                file: &first,
                bwrap: bwrap.as_deref(),
            };
            eprintln!(
                "xtask bench: open latency, 5 rounds of {} opens per case",
                o.opens
            );
            inside.extend(measure_inside("open", &open_cases(&paths, o.opens), 5));
            eprintln!("xtask bench: syscall cost, 3 rounds per case");
            inside.extend(measure_inside("syscall", &syscall_cases(&paths), 3));
        }
        Err(e) => {
            for (group, key, name) in [
                ("open", "bare", "open+close, bare"),
                ("syscall", "bare", "getppid / pread, bare"),
            ] {
                inside.push(Inside {
                    group,
                    key,
                    name: name.to_owned(),
                    a: 0.0,
                    b: 0.0,
                    rounds: 0,
                    skipped: Some(format!("{e:#}")),
                });
            }
        }
    }

    eprintln!("xtask bench: supervisor memory, 5 runs");
    let memory = supervisor_memory(nono, &data, 5);

    let mut throughput = Vec::new();
    if o.criterion {
        for (pkg, bench) in [
            ("nono-wire", "codec"),
            ("nono-transport", "transport"),
            ("nono-proxy", "proxy"),
        ] {
            eprintln!("xtask bench: criterion {pkg} --bench {bench} (short times)");
            throughput.extend(criterion(pkg, bench)?);
        }
    }
    Ok(All {
        linkage,
        timed,
        inside,
        memory,
        throughput,
    })
}

/// `nono why` must say the bench directory is outside the default profile's grants.
fn check_not_granted(nono: &Path, dir: &Path) -> Result<()> {
    let out = Command::new(nono)
        .args(["why", "--op", "read", "--path"])
        .arg(dir)
        .output()
        .context("cannot run nono why")?;
    if out.status.code() != Some(1) {
        bail!(
            "{} is already granted by the default profile, so the runtime-grant cases would \
             measure the static fast path; run the bench from a checkout outside granted dirs",
            dir.display()
        );
    }
    Ok(())
}

/// Run every case once per round, `rounds` rounds (after one warm-up that also tells whether
/// the case works here at all).
fn measure_group(group: &'static str, cases: &[Case], rounds: usize) -> Vec<Timed> {
    let mut samples: Vec<Result<Vec<Duration>, String>> = cases
        .iter()
        .map(|c| {
            if c.argv.is_empty() {
                Err("not installed".to_owned())
            } else {
                once(&c.argv).map(|_| Vec::with_capacity(rounds))
            }
        })
        .collect();
    for _ in 0..rounds {
        for (c, s) in cases.iter().zip(samples.iter_mut()) {
            if let Ok(v) = s {
                match once(&c.argv) {
                    Ok(d) => v.push(d),
                    Err(e) => *s = Err(e),
                }
            }
        }
    }
    cases
        .iter()
        .zip(samples)
        .map(|(c, s)| match s {
            Ok(mut v) => {
                v.sort();
                Timed {
                    group,
                    key: c.key,
                    name: c.name.clone(),
                    median: v[v.len() / 2],
                    p90: v[(v.len() * 9 / 10).min(v.len() - 1)],
                    samples: v.len(),
                    skipped: None,
                }
            }
            Err(e) => Timed {
                group,
                key: c.key,
                name: c.name.clone(),
                median: Duration::ZERO,
                p90: Duration::ZERO,
                samples: 0,
                skipped: Some(e),
            },
        })
        .collect()
}

fn once(argv: &[String]) -> Result<Duration, String> {
    let t = Instant::now();
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    let elapsed = t.elapsed();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{}: {}",
            out.status,
            err.lines().next().unwrap_or("").trim()
        ));
    }
    Ok(elapsed)
}

/// Where the measuring tools and the data are.
struct ToolPaths<'a> {
    nono: &'a Path,
    opens: &'a Path,
    floor: &'a Path,
    bin: &'a Path,
    data: &'a Path,
    file: &'a Path,
    bwrap: Option<&'a str>,
}

/// Per-open latency inside a child: bare; the floor (a minimal notify loop answering
/// CONTINUE, the same reading the path, and both around `nono wrap`); trapped inside the static grants (CONTINUE);
/// outside them with an approve rule (policy + supervisor `openat2` + `ADDFD|SEND`: the
/// grant round trip), beside a minimal loop that grants the same way (also both pinned to
/// one CPU); under `wrap` (no supervisor).
fn open_cases(t: &ToolPaths<'_>, opens: usize) -> Vec<Case> {
    let s = |p: &Path| p.display().to_string();
    let (n, e, fl, b, d, f) = (
        s(t.nono),
        s(t.opens),
        s(t.floor),
        s(t.bin),
        s(t.data),
        s(t.file),
    );
    let count = opens.to_string();
    let v = |a: &[&str]| a.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    let approve = v(&[
        &n,
        "run",
        "-s",
        "--read",
        &b,
        "--approve",
        &d,
        "--",
        &e,
        &f,
        &count,
    ]);
    vec![
        Case {
            key: "bare",
            name: "open+close, bare".into(),
            argv: v(&[&e, &f, &count]),
        },
        Case {
            key: "floor",
            name: "floor: minimal notify loop, CONTINUE".into(),
            argv: v(&[&fl, &e, &f, &count]),
        },
        Case {
            key: "floor-read",
            name: "floor reading the path (+ NOTIF_ID_VALID)".into(),
            argv: v(&[&fl, "-r", &e, &f, &count]),
        },
        Case {
            key: "floor-wrap",
            name: "floor around nono wrap (same Landlock + deny list)".into(),
            argv: v(&[
                &fl, &n, "wrap", "-s", "--read", &b, "--read", &d, "--", &e, &f, &count,
            ]),
        },
        // What `run` must do at least: the same kernel enforcement as `floor-wrap`, and the
        // path read that its decision (and the denial report) needs.
        Case {
            key: "floor-read-wrap",
            name: "floor reading the path, around nono wrap".into(),
            argv: v(&[
                &fl, "-r", &n, "wrap", "-s", "--read", &b, "--read", &d, "--", &e, &f, &count,
            ]),
        },
        Case {
            key: "run",
            name: "nono run --read DIR (trapped, CONTINUE)".into(),
            argv: v(&[
                &n, "run", "-s", "--read", &b, "--read", &d, "--", &e, &f, &count,
            ]),
        },
        Case {
            key: "approve",
            name: "nono run --approve DIR (runtime grant round trip)".into(),
            argv: approve.clone(),
        },
        // What a runtime grant costs at least: the kernel's part of injecting an fd. And the
        // same two pinned to one CPU, where no wake-up has to reach another (possibly
        // halted) CPU: what is left between them is nono's own work per grant.
        Case {
            key: "floor-grant",
            name: "floor granting: read, openat2, ADDFD|SEND".into(),
            argv: v(&[&fl, "-g", &e, &f, &count]),
        },
        Case {
            key: "floor-grant-1cpu",
            name: "floor granting, on one CPU".into(),
            argv: v(&[&fl, "-c", "-g", &e, &f, &count]),
        },
        Case {
            key: "approve-1cpu",
            name: "nono run --approve DIR, on one CPU".into(),
            argv: [v(&[&fl, "-c", "-e"]), approve].concat(),
        },
        Case {
            key: "wrap",
            name: "nono wrap --read DIR (no supervisor)".into(),
            argv: v(&[
                &n, "wrap", "-s", "--read", &b, "--read", &d, "--", &e, &f, &count,
            ]),
        },
        Case {
            key: "landlock-floor",
            name: "floor: Landlock read on / and DIR + allow-all seccomp".into(),
            argv: v(&[&fl, "-l", &d, &e, &f, &count]),
        },
    ]
}

/// The cost of syscalls that are allowed outright (`getppid`, `pread`) inside each sandbox.
fn syscall_cases(t: &ToolPaths<'_>) -> Vec<Case> {
    let s = |p: &Path| p.display().to_string();
    let (n, e, b, d, f) = (s(t.nono), s(t.opens), s(t.bin), s(t.data), s(t.file));
    let calls = "20000";
    let v = |a: &[&str]| a.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    let mut cases = vec![
        Case {
            key: "bare",
            name: "getppid / pread, bare".into(),
            argv: v(&[&e, "-s", &f, calls]),
        },
        Case {
            key: "wrap",
            name: "getppid / pread, nono wrap".into(),
            argv: v(&[
                &n, "wrap", "-s", "--read", &b, "--read", &d, "--", &e, "-s", &f, calls,
            ]),
        },
        Case {
            key: "run",
            name: "getppid / pread, nono run".into(),
            argv: v(&[
                &n, "run", "-s", "--read", &b, "--read", &d, "--", &e, "-s", &f, calls,
            ]),
        },
    ];
    cases.push(Case {
        key: "seccomp-floor",
        name: "getppid / pread, allow-all seccomp filter (floor)".into(),
        argv: v(&[&s(t.floor), "-a", &e, "-s", &f, calls]),
    });
    let mut bw = vec![];
    if let Some(bwrap) = t.bwrap {
        bw.push(bwrap.to_owned());
        bw.extend(bwrap_args(&d));
        bw.extend(v(&[&e, "-s", &f, calls]));
    }
    cases.push(Case {
        key: "bwrap",
        name: "getppid / pread, bwrap".into(),
        argv: bw,
    });
    cases
}

/// Run every case once per round (round-robin, as [`measure_group`]); each run prints two
/// numbers; the median of each over the rounds. `syscall` runs print picoseconds.
fn measure_inside(group: &'static str, cases: &[Case], rounds: usize) -> Vec<Inside> {
    let mut got: Vec<Result<Vec<(f64, f64)>, String>> = cases
        .iter()
        .map(|c| {
            if c.argv.is_empty() {
                Err("not installed".to_owned())
            } else {
                Ok(Vec::new())
            }
        })
        .collect();
    for _ in 0..rounds {
        for (c, g) in cases.iter().zip(got.iter_mut()) {
            if let Ok(v) = g {
                match two_numbers(&c.argv) {
                    Ok(x) => v.push(x),
                    Err(e) => *g = Err(e),
                }
            }
        }
    }
    let scale = if group == "syscall" { 1e-3 } else { 1.0 };
    cases
        .iter()
        .zip(got)
        .map(|(c, g)| {
            let (a, b, rounds, skipped) = match g {
                Ok(v) if !v.is_empty() => {
                    let med = |f: fn(&(f64, f64)) -> f64| {
                        let mut x: Vec<f64> = v.iter().map(f).collect();
                        x.sort_by(f64::total_cmp);
                        x[x.len() / 2] * scale
                    };
                    (med(|p| p.0), med(|p| p.1), v.len(), None)
                }
                Ok(_) => (0.0, 0.0, 0, Some("no rounds".to_owned())),
                Err(e) => (0.0, 0.0, 0, Some(e)),
            };
            Inside {
                group,
                key: c.key,
                name: c.name.clone(),
                a,
                b,
                rounds,
                skipped,
            }
        })
        .collect()
}

fn two_numbers(argv: &[String]) -> Result<(f64, f64), String> {
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
    let s = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = s
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match (out.status.success(), v.as_slice()) {
        (true, [a, b]) => Ok((*a, *b)),
        _ => Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The supervisor's resident memory during a plain `run` (`nono run -s --allow DIR -- sh`
/// waiting on its stdin): `VmRSS` and `VmHWM` of the nono process, read once the command
/// has started (it says so on stdout), medians over `runs`.
fn supervisor_memory(nono: &Path, dir: &Path, runs: usize) -> Memory {
    use std::io::{BufRead, BufReader};
    let one = || -> Result<(u64, u64), String> {
        let mut child = Command::new(nono)
            .args(["run", "-s", "--allow"])
            .arg(dir)
            .args(["--", "sh", "-c", "echo started; read x"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start nono: {e}"))?;
        let mut line = String::new();
        let started = child
            .stdout
            .take()
            .map(BufReader::new)
            .map(|mut r| r.read_line(&mut line));
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
        drop(child.stdin.take());
        let _ = child.wait();
        if !matches!(started, Some(Ok(n)) if n > 0) {
            return Err("the command did not start".to_owned());
        }
        let status = status.map_err(|e| format!("/proc/PID/status: {e}"))?;
        let kib = |field: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        match (kib("VmRSS:"), kib("VmHWM:")) {
            (Some(r), Some(h)) => Ok((r, h)),
            _ => Err("no VmRSS/VmHWM in /proc/PID/status".to_owned()),
        }
    };
    let mut rss = Vec::new();
    let mut hwm = Vec::new();
    for _ in 0..runs {
        match one() {
            Ok((r, h)) => {
                rss.push(r);
                hwm.push(h);
            }
            Err(e) => {
                return Memory {
                    rss_kib: 0,
                    hwm_kib: 0,
                    runs: 0,
                    skipped: Some(e),
                }
            }
        }
    }
    rss.sort_unstable();
    hwm.sort_unstable();
    Memory {
        rss_kib: rss[rss.len() / 2],
        hwm_kib: hwm[hwm.len() / 2],
        runs,
        skipped: None,
    }
}

/// Compile the in-child measuring program and the floor supervisor.
fn compile_tools(bin: &Path) -> Result<(PathBuf, PathBuf)> {
    Ok((
        compile_c(bin, "opens", OPENS_C)?,
        compile_c(bin, "floor", FLOOR_C)?,
    ))
}

fn compile_c(bin: &Path, name: &str, source: &str) -> Result<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let src = bin.join(format!("{name}.c"));
    let exe = bin.join(name);
    std::fs::write(&src, source)?;
    let out = Command::new(&cc)
        .arg("-O2")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .with_context(|| format!("no C compiler ({cc}) for the in-child measurements"))?;
    if !out.status.success() {
        bail!(
            "{cc} failed on {name}.c: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(exe)
}

/// Run one criterion bench with short times and pick `time:` / `thrpt:` (middle estimates)
/// out of its report.
fn criterion(pkg: &str, bench: &str) -> Result<Vec<Throughput>> {
    let out = Command::new("cargo")
        .current_dir(workspace_root())
        .args(["bench", "-q", "-p", pkg, "--bench", bench, "--"])
        .args([
            "--warm-up-time",
            "0.3",
            "--measurement-time",
            "1",
            "--noplot",
        ])
        .output()
        .with_context(|| format!("cannot run cargo bench -p {pkg}"))?;
    if !out.status.success() {
        bail!(
            "cargo bench -p {pkg} --bench {bench} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(parse_criterion(&String::from_utf8_lossy(&out.stdout)))
}

/// Parse criterion's human report: a name line (or `name  time: [...]` on one line), then
/// `time: [lo mid hi]` and, with a throughput set, `thrpt: [lo mid hi]`.
fn parse_criterion(text: &str) -> Vec<Throughput> {
    let mut rows: Vec<Throughput> = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        let indented = line.starts_with(char::is_whitespace);
        if !indented && !line.trim().is_empty() {
            let head = line.split("time:").next().unwrap_or("").trim();
            if !head.starts_with("Benchmarking") && !head.starts_with("Found") {
                name = head.to_owned();
            }
        }
        if let Some(rest) = line.split("time:").nth(1) {
            if let Some(ns) = middle(rest).and_then(|(v, u)| to_ns(v, u)) {
                rows.push(Throughput {
                    name: name.clone(),
                    time_ns: ns,
                    per_sec: 1e9 / ns,
                });
            }
        } else if let Some(rest) = line.split("thrpt:").nth(1) {
            if let (Some(row), Some((v, u))) = (rows.last_mut(), middle(rest)) {
                let scale = match u.chars().next() {
                    Some('K') => 1e3,
                    Some('M') => 1e6,
                    Some('G') => 1e9,
                    _ => 1.0,
                };
                row.per_sec = v * scale;
            }
        }
    }
    rows
}

/// The middle value and its unit from `[lo u mid u hi u]`.
fn middle(s: &str) -> Option<(f64, &str)> {
    let inner = s.split('[').nth(1)?.split(']').next()?;
    let w: Vec<&str> = inner.split_whitespace().collect();
    Some((w.get(2)?.parse().ok()?, *w.get(3)?))
}

fn to_ns(v: f64, unit: &str) -> Option<f64> {
    Some(match unit {
        "ps" => v / 1e3,
        "ns" => v,
        "µs" | "us" => v * 1e3,
        "ms" => v * 1e6,
        "s" => v * 1e9,
        _ => return None,
    })
}

/// The bare case of `group` (its first row), when it ran. When it did not, no ratio is
/// given rather than one against another case.
fn baseline<'a>(rows: &'a [Timed], group: &str) -> Option<&'a Timed> {
    rows.iter()
        .find(|r| r.group == group)
        .filter(|r| r.skipped.is_none())
}

/// The case `key` of `group`, when it ran.
fn timed<'a>(rows: &'a [Timed], group: &str, key: &str) -> Option<&'a Timed> {
    rows.iter()
        .find(|r| r.group == group && r.key == key)
        .filter(|r| r.skipped.is_none())
}

fn inside<'a>(rows: &'a [Inside], group: &str, key: &str) -> Option<&'a Inside> {
    rows.iter()
        .find(|r| r.group == group && r.key == key)
        .filter(|r| r.skipped.is_none())
}

/// Issue 14's targets, each checked on this run's numbers (ratios and differences within
/// the run, as the issue asks).
fn targets(all: &All) -> Vec<Target> {
    let t = &all.timed;
    let ratio = |group: &str, key: &str| -> Option<f64> {
        Some(timed(t, group, key)?.median.as_secs_f64() / baseline(t, group)?.median.as_secs_f64())
    };
    let over_ms = |group: &str, key: &str| -> Option<f64> {
        Some(ms(timed(t, group, key)?.median) - ms(baseline(t, group)?.median))
    };
    let mut out = Vec::new();
    let mut push = |id, goal, measured: Option<(String, bool)>| {
        let (measured, met) = match measured {
            Some((m, ok)) => (m, Some(ok)),
            None => ("a case it needs did not run".to_owned(), None),
        };
        out.push(Target {
            id,
            goal,
            measured,
            met,
        });
    };

    // 1: allowed syscalls cost ≤ 20 ns more than bare, under wrap and run.
    let sys = |key: &str| inside(&all.inside, "syscall", key);
    push(
        "1",
        "getppid/pread ≤ +20 ns over bare (wrap and run)",
        (|| {
            let (b, w, r) = (sys("bare")?, sys("wrap")?, sys("run")?);
            let worst = [w.a - b.a, w.b - b.b, r.a - b.a, r.b - b.b]
                .into_iter()
                .fold(f64::MIN, f64::max);
            // What entering seccomp costs at all: a filter that allows everything.
            let floor = sys("seccomp-floor").map_or(String::new(), |f| {
                format!(
                    "; an allow-all filter +{:.0}/+{:.0} ns",
                    f.a - b.a,
                    f.b - b.b
                )
            });
            Some((
                format!(
                    "wrap +{:.0}/+{:.0} ns, run +{:.0}/+{:.0} ns{floor}",
                    w.a - b.a,
                    w.b - b.b,
                    r.a - b.a,
                    r.b - b.b
                ),
                worst <= 20.0,
            ))
        })(),
    );
    // 2: wrap on the file-heavy workload.
    push(
        "2",
        "5000-file read under wrap ≤ 1.05× bare and ≤ bwrap's ratio",
        (|| {
            let w = ratio("read5000", "wrap")?;
            let bw = ratio("read5000", "bwrap");
            // What Landlock + seccomp cost at all, with the shortest walk a grant of DIR allows.
            let fl = ratio("read5000", "landlock-floor").map_or(String::new(), |f| {
                format!("; Landlock + seccomp floor {f:.2}×")
            });
            Some((
                match bw {
                    Some(b) => format!("wrap {w:.2}×, bwrap {b:.2}×{fl}"),
                    None => format!("wrap {w:.2}× (no bwrap){fl}"),
                },
                w <= 1.05 && bw.is_none_or(|b| w <= b),
            ))
        })(),
    );
    // 3: start-up.
    push(
        "3a",
        "start-up: wrap ≤ +1.0 ms over bare and below bwrap",
        (|| {
            let w = over_ms("startup", "wrap")?;
            let bw = over_ms("startup", "bwrap");
            Some((
                match bw {
                    Some(b) => format!("wrap {w:+.2} ms, bwrap {b:+.2} ms"),
                    None => format!("wrap {w:+.2} ms (no bwrap)"),
                },
                w <= 1.0 && bw.is_none_or(|b| w < b),
            ))
        })(),
    );
    push(
        "3b",
        "start-up: run ≤ +1.5 ms over bare",
        over_ms("startup", "run").map(|r| (format!("run {r:+.2} ms"), r <= 1.5)),
    );
    // 4: trapped opens.
    push(
        "4a",
        "5000-file read under run (every open trapped) ≤ 1.5× bare",
        ratio("read5000", "run").map(|r| {
            let floor =
                ratio("read5000", "floor").map_or(String::new(), |f| format!(" (floor {f:.2}×)"));
            (format!("run {r:.2}×{floor}"), r <= 1.5)
        }),
    );
    let open = |key: &str| inside(&all.inside, "open", key);
    push(
        "4b",
        "per trapped open (p50 open+close) ≤ 1.2× the minimal notify floor",
        (|| {
            let (r, f) = (open("run")?, open("floor")?);
            let same = open("floor-wrap").map_or(String::new(), |w| {
                format!("; {:.2}× the floor around wrap", r.a / w.a)
            });
            // The part of the gap that is nono's own: the floor that also reads the path
            // under the same Landlock ruleset and deny list.
            let own = open("floor-read-wrap").map_or(String::new(), |w| {
                format!("; {:.2}× the floor reading the path around wrap", r.a / w.a)
            });
            let same = format!("{same}{own}");
            Some((
                format!(
                    "run {:.1} µs, floor {:.1} µs: {:.2}×{same}",
                    r.a / 1e3,
                    f.a / 1e3,
                    r.a / f.a
                ),
                r.a / f.a <= 1.2,
            ))
        })(),
    );
    // 5: runtime grants.
    push(
        "5a",
        "5000-file read with every file granted at runtime ≤ 3× bare",
        ratio("read5000", "approve").map(|r| {
            let floor = ratio("read5000", "floor-grant")
                .map_or(String::new(), |f| format!(" (floor granting {f:.2}×)"));
            (format!("approve {r:.2}×{floor}"), r <= 3.0)
        }),
    );
    push(
        "5b",
        "grant round trip p50 ≤ 30 µs",
        open("approve").map(|a| {
            // Where the time goes: the kernel's fd injection (the floor that grants), and
            // what is left of both when no wake-up crosses CPUs.
            let floor = open("floor-grant").map_or(String::new(), |f| {
                format!("; floor granting {:.1} µs", f.a / 1e3)
            });
            let one = match (open("approve-1cpu"), open("floor-grant-1cpu")) {
                (Some(p), Some(f)) => format!(
                    "; on one CPU {:.1} µs, floor {:.1} µs",
                    p.a / 1e3,
                    f.a / 1e3
                ),
                _ => String::new(),
            };
            (format!("{:.1} µs{floor}{one}", a.a / 1e3), a.a <= 30_000.0)
        }),
    );
    // 6: memory.
    push(
        "6",
        "supervisor RSS ≤ 8 MiB for a plain run",
        all.memory.skipped.is_none().then(|| {
            (
                format!(
                    "VmRSS {:.1} MiB (peak {:.1} MiB)",
                    all.memory.rss_kib as f64 / 1024.0,
                    all.memory.hwm_kib as f64 / 1024.0
                ),
                all.memory.rss_kib <= 8 * 1024,
            )
        }),
    );
    out
}

fn print_table(all: &All, targets: &[Target]) {
    let timed = &all.timed;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n## issue 14 targets (this run; nono {} build)",
        all.linkage
    );
    for t in targets {
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "n/a",
        };
        let _ = writeln!(
            s,
            "{:<3} {:<6} {:<66} {}",
            t.id, verdict, t.goal, t.measured
        );
    }
    for (group, title) in [
        ("startup", "start-up of `true`"),
        (
            "read5000",
            "5000-file read workload (one `cat` of every file)",
        ),
    ] {
        let _ = writeln!(s, "\n## {title}");
        let _ = writeln!(
            s,
            "{:<58} {:>10} {:>10} {:>8} {:>11}",
            "case", "median", "p90", "ratio", "over bare"
        );
        let base = baseline(timed, group);
        for r in timed.iter().filter(|r| r.group == group) {
            match (&r.skipped, base) {
                (Some(why), _) => {
                    let _ = writeln!(s, "{:<58} skipped: {why}", r.name);
                }
                (None, Some(b)) => {
                    let _ = writeln!(
                        s,
                        "{:<58} {:>8.2}ms {:>8.2}ms {:>7.2}x {:>+9.2}ms",
                        r.name,
                        ms(r.median),
                        ms(r.p90),
                        r.median.as_secs_f64() / b.median.as_secs_f64(),
                        ms(r.median) - ms(b.median)
                    );
                }
                (None, None) => {
                    let _ = writeln!(
                        s,
                        "{:<58} {:>8.2}ms {:>8.2}ms {:>8} {:>11}",
                        r.name,
                        ms(r.median),
                        ms(r.p90),
                        "-",
                        "-"
                    );
                }
            }
        }
        if let Some(b) = base {
            let _ = writeln!(s, "({} samples per case, round-robin)", b.samples);
        }
    }
    let _ = writeln!(
        s,
        "\n## per-open latency inside the child (open+close; medians of rounds)"
    );
    let _ = writeln!(
        s,
        "{:<58} {:>10} {:>10} {:>8} {:>8}",
        "case", "p50", "p99", "x bare", "x floor"
    );
    let bare = inside(&all.inside, "open", "bare");
    let floor = inside(&all.inside, "open", "floor");
    for l in all.inside.iter().filter(|l| l.group == "open") {
        match &l.skipped {
            Some(why) => {
                let _ = writeln!(s, "{:<58} skipped: {why}", l.name);
            }
            None => {
                let x = |b: Option<&Inside>| {
                    b.map_or("-".to_owned(), |b| format!("{:.2}x", l.a / b.a.max(1.0)))
                };
                let _ = writeln!(
                    s,
                    "{:<58} {:>8.1}µs {:>8.1}µs {:>8} {:>8}",
                    l.name,
                    l.a / 1e3,
                    l.b / 1e3,
                    x(bare),
                    x(floor)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\n## allowed syscalls inside the sandbox (ns per call; medians of batches)"
    );
    let _ = writeln!(
        s,
        "{:<58} {:>10} {:>10} {:>11} {:>11}",
        "case", "getppid", "pread", "Δ getppid", "Δ pread"
    );
    let bare = inside(&all.inside, "syscall", "bare");
    for l in all.inside.iter().filter(|l| l.group == "syscall") {
        match (&l.skipped, bare) {
            (Some(why), _) => {
                let _ = writeln!(s, "{:<58} skipped: {why}", l.name);
            }
            (None, b) => {
                let d =
                    |x: f64, y: Option<f64>| y.map_or("-".to_owned(), |y| format!("{:+.1}", x - y));
                let _ = writeln!(
                    s,
                    "{:<58} {:>10.1} {:>10.1} {:>11} {:>11}",
                    l.name,
                    l.a,
                    l.b,
                    d(l.a, b.map(|b| b.a)),
                    d(l.b, b.map(|b| b.b))
                );
            }
        }
    }
    let m = &all.memory;
    let _ = writeln!(s, "\n## supervisor memory (nono run -s --allow DIR -- sh)");
    match &m.skipped {
        Some(why) => {
            let _ = writeln!(s, "skipped: {why}");
        }
        None => {
            let _ = writeln!(
                s,
                "VmRSS {:.1} MiB, VmHWM {:.1} MiB (medians of {} runs)",
                m.rss_kib as f64 / 1024.0,
                m.hwm_kib as f64 / 1024.0,
                m.runs
            );
        }
    }
    if !all.throughput.is_empty() {
        let _ = writeln!(s, "\n## codec and transport (criterion, short run)");
        let _ = writeln!(s, "{:<58} {:>10} {:>14}", "bench", "time", "throughput");
        for t in &all.throughput {
            let _ = writeln!(
                s,
                "{:<58} {:>8.0}ns {:>10.0} k/s",
                t.name,
                t.time_ns,
                t.per_sec / 1e3
            );
        }
    }
    print!("{s}");
}

fn print_json(all: &All, targets: &[Target], proxy: Option<&serde_json::Value>) {
    let timed = &all.timed;
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let whole: Vec<_> = timed
        .iter()
        .map(|r| {
            let ok = r.skipped.is_none();
            let base = baseline(timed, r.group).filter(|_| ok);
            serde_json::json!({
                "group": r.group,
                "key": r.key,
                "name": r.name,
                "median_us": ok.then(|| us(r.median)),
                "p90_us": ok.then(|| us(r.p90)),
                "samples": r.samples,
                "ratio_to_bare": base.map(|b| r.median.as_secs_f64() / b.median.as_secs_f64()),
                "over_bare_us": base.map(|b| us(r.median) - us(b.median)),
                "skipped": r.skipped,
            })
        })
        .collect();
    let rows = |group: &str, a: &str, b: &str| -> Vec<serde_json::Value> {
        let bare = inside(&all.inside, group, "bare");
        let floor = inside(&all.inside, group, "floor");
        all.inside
            .iter()
            .filter(|l| l.group == group)
            .map(|l| {
                let ok = l.skipped.is_none();
                serde_json::json!({
                    "key": l.key,
                    "name": l.name,
                    a: ok.then_some(l.a),
                    b: ok.then_some(l.b),
                    "rounds": l.rounds,
                    "ratio_to_bare": bare.filter(|_| ok).map(|x| l.a / x.a.max(1.0)),
                    "ratio_to_floor": floor.filter(|_| ok).map(|x| l.a / x.a.max(1.0)),
                    "skipped": l.skipped,
                })
            })
            .collect()
    };
    let thr: Vec<_> = all
        .throughput
        .iter()
        .map(|t| serde_json::json!({"name": t.name, "time_ns": t.time_ns, "per_sec": t.per_sec}))
        .collect();
    let tg: Vec<_> = targets
        .iter()
        .map(|t| serde_json::json!({"id": t.id, "goal": t.goal, "measured": t.measured, "met": t.met}))
        .collect();
    let m = &all.memory;
    let out = serde_json::json!({
        "nono_linkage": all.linkage,
        "targets": tg,
        "whole_process": whole,
        "open_latency": rows("open", "p50_ns", "p99_ns"),
        "syscalls": rows("syscall", "getppid_ns", "pread_ns"),
        "supervisor_memory": {
            "vm_rss_kib": m.skipped.is_none().then_some(m.rss_kib),
            "vm_hwm_kib": m.skipped.is_none().then_some(m.hwm_kib),
            "runs": m.runs,
            "skipped": m.skipped,
        },
        "criterion": thr,
        "proxy": proxy,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `n` small files in 50 subdirectories of `dir`; returns the first one.
fn make_tree(dir: &Path, n: usize) -> Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    let mut first = None;
    for i in 0..n {
        let sub = dir.join(format!("d{:02}", i % 50));
        if i < 50 {
            std::fs::create_dir_all(&sub)?;
        }
        let f = sub.join(format!("f{i:05}.txt"));
        std::fs::write(&f, format!("file {i}\n").repeat(8))?;
        first.get_or_insert(f);
    }
    first.context("an empty tree")
}

fn which(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

/// Children of this process still present (alive or `<defunct>`), as `(pid, state)`.
fn children_left() -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if f.next().and_then(|p| p.parse::<u32>().ok()) == Some(me) {
            out.push((pid, state));
        }
    }
    out
}

/// The proxy's load example, in a release build, as JSON (one object).
fn proxy_load() -> Result<serde_json::Value> {
    eprintln!("xtask bench: egress proxy load (1 GiB CONNECT, connect latency, 1000 tunnels)");
    let out = Command::new("cargo")
        .current_dir(workspace_root())
        .args([
            "run",
            "-q",
            "--release",
            "-p",
            "nono-proxy",
            "--example",
            "proxy_load",
            "--",
            "--json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run the nono-proxy proxy_load example")?;
    if !out.status.success() {
        bail!("nono-proxy proxy_load failed: {}", out.status);
    }
    serde_json::from_slice(&out.stdout).context("proxy_load printed no JSON object")
}

fn print_proxy(p: &serde_json::Value) {
    let f = |k: &str| {
        p.get(k)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(f64::NAN)
    };
    let verdict = |ok: bool| if ok { "meets" } else { "MISSES" };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n## egress proxy (nono-proxy, proxy in its own process)"
    );
    let _ = writeln!(
        s,
        "CONNECT 1 GiB: direct {:.2} Gbit/s, proxied {:.2} Gbit/s, ratio {:.3} — {} target 0.8 \
         ({} CPUs, load {}: wall-clock ratios swing with other load)",
        f("direct_gbit_s"),
        f("proxied_gbit_s"),
        f("throughput_ratio"),
        verdict(f("throughput_ratio") >= 0.8),
        f("cpus"),
        f("load")
    );
    let _ = writeln!(
        s,
        "  CPU s/GiB: direct {:.3}; proxied {:.3} endpoints + {:.3} proxy — CPU ratio {:.3} \
         (each path's bound when CPU-bound on all cores); proxy {} context switches/GiB",
        f("cpu_s_per_gib_direct"),
        f("cpu_s_per_gib_proxied_endpoints"),
        f("cpu_s_per_gib_proxy"),
        f("cpu_ratio"),
        f("proxy_ctxt_switches_per_gib")
    );
    let _ = writeln!(
        s,
        "new connection added latency: p50 {:.3} ms, p99 {:.3} ms — {} target p50 0.5 ms",
        f("added_latency_p50_ms"),
        f("added_latency_p99_ms"),
        verdict(f("added_latency_p50_ms") <= 0.5)
    );
    let _ = writeln!(
        s,
        "{} concurrent tunnels: {} completed — {}; proxy RSS {:.1} MiB with them — {} target 64 MiB",
        f("tunnels"),
        f("tunnels_completed"),
        verdict(f("tunnels") == f("tunnels_completed")),
        f("proxy_rss_mib"),
        verdict(f("proxy_rss_mib") <= 64.0)
    );
    print!("{s}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_reports_on_one_or_two_lines() {
        let text = "\
codec/encode CapabilityRequest frame
                        time:   [455.10 ns 456.20 ns 457.30 ns]
                        thrpt:  [2.1867 Melem/s 2.1920 Melem/s 2.1973 Melem/s]
Found 2 outliers among 100 measurements (2.00%)
short/name              time:   [2.8468 µs 2.8504 µs 2.8540 µs]
                        thrpt:  [350.38 Kelem/s 350.83 Kelem/s 351.27 Kelem/s]
";
        let rows = parse_criterion(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "codec/encode CapabilityRequest frame");
        assert!((rows[0].time_ns - 456.2).abs() < 1e-9);
        assert!((rows[0].per_sec - 2.192e6).abs() < 1.0);
        assert_eq!(rows[1].name, "short/name");
        assert!((rows[1].time_ns - 2850.4).abs() < 1e-6);
        assert!((rows[1].per_sec - 350_830.0).abs() < 1.0);
    }

    #[test]
    fn the_baseline_is_the_bare_case_or_none() {
        let row = |name: &str, skipped: Option<&str>| Timed {
            group: "startup",
            key: "",
            name: name.to_owned(),
            median: Duration::from_millis(1),
            p90: Duration::from_millis(1),
            samples: 3,
            skipped: skipped.map(str::to_owned),
        };
        let ran = [row("bare", None), row("nono", None)];
        assert_eq!(
            baseline(&ran, "startup").map(|r| r.name.as_str()),
            Some("bare")
        );
        let bare_failed = [row("bare", Some("exit status: 1")), row("nono", None)];
        assert!(baseline(&bare_failed, "startup").is_none());
        assert!(baseline(&ran, "read5000").is_none());
    }
}
