/* demo/cmd_synth.c — `kiln synth`. */
#include <stdio.h>

#include "demo/commands.h"

int kiln_cmd_synth(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln synth: not implemented yet\n");
    return 1;
}
