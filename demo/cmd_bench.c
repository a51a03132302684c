/* demo/cmd_bench.c — `kiln bench`. */
#include <stdio.h>

#include "demo/commands.h"

int kiln_cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln bench: not implemented yet\n");
    return 1;
}
