/* demo/cmd_quantize.c — `kiln quantize`. */
#include <stdio.h>

#include "demo/commands.h"

int kiln_cmd_quantize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln quantize: not implemented yet\n");
    return 1;
}
