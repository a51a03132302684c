/* demo/cmd_tune.c — `kiln tune`. */
#include <stdio.h>

#include "demo/commands.h"

int kiln_cmd_tune(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln tune: not implemented yet\n");
    return 1;
}
