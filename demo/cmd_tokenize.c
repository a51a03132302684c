/* demo/cmd_tokenize.c — `kiln tokenize`. */
#include <stdio.h>

#include "demo/commands.h"

int kiln_cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln tokenize: not implemented yet\n");
    return 1;
}
