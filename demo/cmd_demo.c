/* demo/cmd_demo.c — `kiln demo`: the built-in end-to-end demo (placeholder
 * until the self-check lands). */
#include <stdio.h>
#include <string.h>

#include "demo/commands.h"

int kiln_cmd_demo(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: kiln demo\n");
        return 0;
    }
    char *dev_argv[] = {"devices", NULL};
    return kiln_cmd_devices(1, dev_argv);
}
