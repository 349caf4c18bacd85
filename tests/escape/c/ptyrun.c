/* ptyrun CMD ARGS...: run CMD on a fresh pseudo-terminal (its stdin/stdout/stderr and
 * controlling terminal), copy everything the terminal shows to our stdout, and exit with
 * CMD's status. tests/escape uses it to give a sandboxed program a real terminal to attack
 * (TIOCSTI/TIOCLINUX) and to see what was echoed, i.e. injected, on it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ptyrun CMD [ARGS...]\n");
        return 2;
    }
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        perror("ptyrun: posix_openpt");
        return 125;
    }
    const char *slave_name = ptsname(master);
    if (!slave_name) {
        perror("ptyrun: ptsname");
        return 125;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("ptyrun: fork");
        return 125;
    }
    if (pid == 0) {
        if (setsid() < 0) _exit(125);
        int slave = open(slave_name, O_RDWR);
        if (slave < 0) _exit(125);
        if (ioctl(slave, TIOCSCTTY, 0) < 0) _exit(125);
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
        if (slave > 2) close(slave);
        execvp(argv[1], argv + 1);
        perror("ptyrun: exec");
        _exit(127);
    }
    char buf[4096];
    for (;;) {
        ssize_t n = read(master, buf, sizeof buf);
        if (n > 0) {
            if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) break;
            fflush(stdout);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break; /* EIO: every copy of the slave is closed */
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return 125;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}
