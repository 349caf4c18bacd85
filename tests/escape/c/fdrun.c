/* fdrun N SPEC [N SPEC...] -- CMD ARGS...: exec CMD with descriptor N left open (no
 * close-on-exec) on SPEC, where SPEC is `file:PATH` (read-only), `dir:PATH` (an O_PATH
 * directory) or `tcp:PORT` (a TCP connection to 127.0.0.1:PORT). tests/escape uses it to
 * hand nono descriptors a careless parent leaked, and checks the sandboxed child cannot
 * use them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int i = 1;
    while (i + 1 < argc && strcmp(argv[i], "--") != 0) {
        int want = atoi(argv[i]);
        const char *spec = argv[i + 1];
        int fd = -1;
        if (!strncmp(spec, "file:", 5)) {
            fd = open(spec + 5, O_RDONLY);
        } else if (!strncmp(spec, "dir:", 4)) {
            fd = open(spec + 4, O_PATH | O_DIRECTORY);
        } else if (!strncmp(spec, "tcp:", 4)) {
            fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(spec + 4))};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) fd = -1;
        }
        if (fd < 0) {
            perror(spec);
            return 125;
        }
        if (fd != want) {
            if (dup2(fd, want) < 0) {
                perror("dup2");
                return 125;
            }
            close(fd);
        }
        i += 2;
    }
    if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
        fprintf(stderr, "usage: fdrun N SPEC ... -- CMD [ARGS...]\n");
        return 2;
    }
    execvp(argv[i + 1], argv + i + 1);
    perror("fdrun: exec");
    return 127;
}
