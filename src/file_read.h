/* Reading a whole file into memory: the one reader behind IDX files and checkpoints, both parsed from a
 * buffer whose length is known rather than streamed. */
#ifndef BN_FILE_READ_H
#define BN_FILE_READ_H

#include <stddef.h>
#include <stdint.h>

/* *data (malloc'd, the caller frees it) receives the file's *size bytes. A folder is refused with a message
 * that says so; a pipe or device is read until EOF. On failure *data is NULL and the message names path. */
int bn_read_file(const char *path, uint8_t **data, size_t *size);

#endif
