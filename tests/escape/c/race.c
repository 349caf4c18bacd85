/* Races against the supervisor's runtime grants (tests/escape/deputy.rs). A second thread
 * keeps changing what a path means while the main thread asks for it ITER times; every
 * open that succeeds is read, and content containing MARK (the outside secret's marker)
 * is a leak. Prints `opens=N ok=N leaks=N` and one `err.<ERRNO>=N` line per error seen.
 *
 *   race exchange A B ITER MARK   swap the names A and B (renameat2 RENAME_EXCHANGE, e.g.
 *                                 an approved file and a symlink to the secret, or an
 *                                 approved directory and a symlink to the secret's
 *                                 directory) while opening A (or A/NAME with `exchange-in`)
 *   race exchange-in A B NAME ITER MARK
 *   race flip GOOD BAD ITER MARK  flip one path buffer between GOOD and BAD while opening
 *                                 it: the kernel and the supervisor each read it once
 *   race watch-exchange A B ITER OUTSIDE, race watch-flip GOOD BAD ITER OUTSIDE
 *                                 the same races around inotify_add_watch instead of open;
 *                                 a leak is a watch on the directory OUTSIDE (its inode, as
 *                                 /proc/self/fdinfo of the inotify fd lists it). Prints
 *                                 `watches=N ok=N leaks=N`
 *   race spin A B SECONDS         (redteam) only swap A and B for SECONDS, pausing 50 µs
 *                                 between swaps; prints `swaps=N` */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;
static atomic_long changes; /* the main thread starts once the other has made one change */
static const char *path_a, *path_b;
static char buf_path[4096];
static char good[4096], bad[4096];

static void *exchanger(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        if (renameat2(AT_FDCWD, path_a, AT_FDCWD, path_b, RENAME_EXCHANGE) < 0) {
            perror("renameat2");
            break;
        } else {
            atomic_fetch_add(&changes, 1);
        }
    return NULL;
}

static void *flipper(void *arg) {
    (void)arg;
    volatile char *p = buf_path;
    while (!atomic_load(&stop)) {
        for (size_t i = 0; i < sizeof good; i++) p[i] = good[i];
        for (size_t i = 0; i < sizeof bad; i++) p[i] = bad[i];
        atomic_fetch_add(&changes, 1);
    }
    return NULL;
}

static int errs[4096];

static void attack(const char *target, int iter, const char *mark) {
    int ok = 0, leaks = 0;
    while (atomic_load(&changes) == 0) sched_yield();
    for (int i = 0; i < iter; i++) {
        int fd = open(target, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno > 0 && errno < 4096) errs[errno]++;
            continue;
        }
        ok++;
        char buf[256];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, mark)) {
                leaks++;
                if (leaks == 1) printf("leak.data=%s\n", buf);
            }
        }
    }
    printf("opens=%d ok=%d leaks=%d\n", iter, ok, leaks);
    for (int e = 1; e < 4096; e++)
        if (errs[e]) printf("err.%s=%d\n", strerrorname_np(e) ? strerrorname_np(e) : "E?", errs[e]);
    fflush(stdout);
}

/* inotify_add_watch(target) ITER times while the other thread races; then count the watches
 * whose inode is OUTSIDE's. */
static void attack_watch(const char *target, int iter, const char *outside) {
    struct stat st;
    if (stat(outside, &st) < 0) {
        perror("stat OUTSIDE");
        exit(2);
    }
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0) {
        perror("inotify_init1");
        exit(2);
    }
    int ok = 0, leaks = 0;
    while (atomic_load(&changes) == 0) sched_yield();
    for (int i = 0; i < iter; i++) {
        if (inotify_add_watch(in, target, IN_CREATE | IN_OPEN) < 0) {
            if (errno > 0 && errno < 4096) errs[errno]++;
            continue;
        }
        ok++;
    }
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", in);
    FILE *f = fopen(path, "re");
    if (!f) {
        perror("fdinfo");
        exit(2);
    }
    while (fgets(line, sizeof line, f)) {
        const char *ino = strstr(line, " ino:");
        if (strncmp(line, "inotify ", 8) == 0 && ino &&
            strtoull(ino + 5, NULL, 16) == (unsigned long long)st.st_ino)
            leaks++;
    }
    fclose(f);
    printf("watches=%d ok=%d leaks=%d\n", iter, ok, leaks);
    for (int e = 1; e < 4096; e++)
        if (errs[e]) printf("err.%s=%d\n", strerrorname_np(e) ? strerrorname_np(e) : "E?", errs[e]);
    fflush(stdout);
}

int main(int argc, char **argv) {
    pthread_t t;
    if (argc == 6 && !strcmp(argv[1], "exchange")) {
        path_a = argv[2];
        path_b = argv[3];
        pthread_create(&t, NULL, exchanger, NULL);
        attack(path_a, atoi(argv[4]), argv[5]);
    } else if (argc == 7 && !strcmp(argv[1], "exchange-in")) {
        path_a = argv[2];
        path_b = argv[3];
        char target[4096];
        snprintf(target, sizeof target, "%s/%s", argv[2], argv[4]);
        pthread_create(&t, NULL, exchanger, NULL);
        attack(target, atoi(argv[5]), argv[6]);
    } else if (argc == 6 && !strcmp(argv[1], "flip")) {
        strncpy(good, argv[2], sizeof good - 1);
        strncpy(bad, argv[3], sizeof bad - 1);
        memcpy(buf_path, good, sizeof good);
        pthread_create(&t, NULL, flipper, NULL);
        attack(buf_path, atoi(argv[4]), argv[5]);
    } else if (argc == 6 && !strcmp(argv[1], "watch-exchange")) {
        path_a = argv[2];
        path_b = argv[3];
        pthread_create(&t, NULL, exchanger, NULL);
        attack_watch(path_a, atoi(argv[4]), argv[5]);
    } else if (argc == 6 && !strcmp(argv[1], "watch-flip")) {
        strncpy(good, argv[2], sizeof good - 1);
        strncpy(bad, argv[3], sizeof bad - 1);
        memcpy(buf_path, good, sizeof good);
        pthread_create(&t, NULL, flipper, NULL);
        attack_watch(buf_path, atoi(argv[4]), argv[5]);
    } else if (argc == 5 && !strcmp(argv[1], "spin")) {
        time_t end = time(NULL) + atoi(argv[4]);
        long n = 0;
        while (time(NULL) < end) {
            if (renameat2(AT_FDCWD, argv[2], AT_FDCWD, argv[3], RENAME_EXCHANGE) < 0) {
                perror("renameat2");
                return 1;
            }
            n++;
            usleep(50);
        }
        printf("swaps=%ld\n", n);
        return 0;
    } else {
        fprintf(stderr, "usage: see the comment at the top of race.c\n");
        return 2;
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    return 0;
}
