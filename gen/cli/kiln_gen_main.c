/* gen/cli/kiln_gen_main.c — the kiln-gen command line (stub until the generator lands). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "kiln-gen: not implemented yet\n");
    return 1;
}
