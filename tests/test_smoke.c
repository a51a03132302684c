/* tests/test_smoke.c — the library links and reports its version. */
#include <criterion/criterion.h>
#include <string.h>

#include "kiln/kiln.h"

Test(smoke, version)
{
    cr_assert_str_eq(kiln_version(), KILN_VERSION_STRING);
    cr_assert_eq(KILN_VERSION_NUMBER, KILN_VERSION_MAJOR * 10000 + KILN_VERSION_MINOR * 100 + KILN_VERSION_PATCH);
}

Test(smoke, status_names)
{
    cr_assert_str_eq(kiln_status_name(KILN_OK), "ok");
    cr_assert(strlen(kiln_status_name(KILN_ERR_SHAPE)) > 0);
    cr_assert_str_eq(kiln_status_name((kiln_status)9999), "unknown status");
}
