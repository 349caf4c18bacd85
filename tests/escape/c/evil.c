/* A "malicious" preload library: its constructor announces, on stderr, the program it was
 * loaded into. tests/escape sets it in LD_PRELOAD for nono and checks it never runs in the
 * sandboxed child (nono itself is the user's own, unsandboxed process). */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

__attribute__((constructor)) static void nono_escape_evil(void) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) n = 0;
    exe[n] = '\0';
    dprintf(2, "INJECTED exe=%s\n", exe);
}
