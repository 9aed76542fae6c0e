/* libFuzzer target for the checkpoint reader (tests/fuzz/fuzz_main.h makes it a corpus replayer without
 * BN_LIBFUZZER): each input is written to a private temporary file and loaded, as is and with its CRC
 * made right; any crash, sanitizer report or leak is a bug. Uses only the public API. */
#include "blasnet.h"

#include "fuzz_main.h"
#include "crc32_ref.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

/* One file per process, reused for every input, removed at exit. */
static void remove_file(void)
{
    unlink(path);
}

/* Writes the bytes, loads them, and checks the contract: a net on success, *net NULL on failure. */
static void load_bytes(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort(); /* the harness itself failed: not a finding about the reader */
    bn_net *net = NULL;
    bn_train_state state;
    /* max_batch 1, not 0: a hostile file may store batch 2^31-1, and a workspace that large is a legitimate
     * allocation failure (or the fuzzer's RSS limit), not a reader bug. */
    int status = bn_checkpoint_load(&net, &state, path, 1, bn_backend_find("naive"));
    if (status == BN_OK) {
        if (!net)
            abort(); /* success must return a net */
        bn_net_destroy(&net);
    } else if (net) {
        abort(); /* failure must leave *net NULL */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        strcpy(path, "/tmp/bn_fuzz_checkpoint_XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0)
            abort();
        close(fd);
        atexit(remove_file);
    }
    load_bytes(data, size);
    /* Again with the trailing CRC made right, so mutations reach the checks behind the checksum. */
    if (size >= 4) {
        uint8_t *copy = malloc(size);
        if (!copy)
            abort();
        memcpy(copy, data, size);
        uint32_t crc = ref_crc32(copy, size - 4);
        for (int i = 0; i < 4; i++)
            copy[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
        load_bytes(copy, size);
        free(copy);
    }
    return 0;
}
