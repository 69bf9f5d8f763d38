/* SPDX-License-Identifier: MIT */
/* brig-memory: `brig memory` (cli/memory.c), a program of its own so that brig links none of its libraries
 * (cli/brig.c says why). brig runs it with the command's arguments. */
#include <stddef.h>

#include "cli/cli.h"

int main(int argc, char **argv) {
        return brig_cli_memory(argc, argv);
}
