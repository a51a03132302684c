/* demo/cmd_convert.c — `kiln convert`. */
#include <stdio.h>

#include "demo/commands.h"

int kiln_cmd_convert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln convert: not implemented yet\n");
    return 1;
}
