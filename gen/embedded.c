/* gen/embedded.c — lookup in the table cmake/embed.cmake writes. */
#include <string.h>

#include "gen/embedded.h"

const kiln_embedded_file *kiln_embedded_find(const char *path)
{
    for (unsigned i = 0; i < kiln_embedded_file_count; i++)
        if (!strcmp(kiln_embedded_files[i].path, path)) return &kiln_embedded_files[i];
    return NULL;
}
