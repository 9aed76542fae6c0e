/* An in-memory file with a path, so a fuzz target exercises a reader's real open/stat/read path without disk
 * I/O. Returns the descriptor (close it when done) and writes "/proc/self/fd/N" into path; -1 on failure. */
#ifndef BN_FUZZ_MEMFILE_H
#define BN_FUZZ_MEMFILE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfile(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        return -1;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -1;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
