/* tests/test_install.c — `cmake --install` yields a package another project can
 * use: examples/consumer builds with find_package(kiln) and with pkg-config,
 * links, and runs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Test(install, consumer_builds_against_installed_package, .timeout = 600)
{
#ifdef KILN_SANITIZED
    cr_skip_test("sanitizer build: the installed library needs the sanitizer runtime in its consumers");
#endif
    char dir[] = "/tmp/kiln-install-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cmake --install '%s' --prefix '%s/prefix' > '%s/install.log' 2>&1",
             KILN_BINARY_DIR, dir, dir);
    cr_assert_eq(sh(cmd), 0, "cmake --install failed (log in %s/install.log)", dir);

    snprintf(cmd, sizeof cmd,
             "cmake -S '%s/examples/consumer' -B '%s/consumer' -DCMAKE_PREFIX_PATH='%s/prefix' "
             "> '%s/consumer.log' 2>&1 && cmake --build '%s/consumer' >> '%s/consumer.log' 2>&1 && "
             "LD_LIBRARY_PATH='%s/prefix/lib' '%s/consumer/kiln_consumer' >> '%s/consumer.log' 2>&1",
             KILN_SOURCE_DIR, dir, dir, dir, dir, dir, dir, dir, dir);
    cr_assert_eq(sh(cmd), 0, "find_package(kiln) consumer failed (log in %s/consumer.log)", dir);

    /* pkg-config kiln: the shared library; the program runs without
     * LD_LIBRARY_PATH (the rpath in Libs) */
    snprintf(cmd, sizeof cmd,
             "PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' && export PKG_CONFIG_PATH && "
             "cc -std=c11 '%s/examples/consumer/main.c' -o '%s/pc_shared' $(pkg-config --cflags --libs kiln) -lm "
             "> '%s/pc_shared.log' 2>&1 && readelf -d '%s/pc_shared' | grep -q 'NEEDED.*libkiln' && "
             "env -u LD_LIBRARY_PATH '%s/pc_shared' >> '%s/pc_shared.log' 2>&1",
             dir, KILN_SOURCE_DIR, dir, dir, dir, dir, dir);
    cr_assert_eq(sh(cmd), 0, "pkg-config kiln consumer failed (log in %s/pc_shared.log)", dir);

    /* pkg-config kiln-static: libkiln.a, no libkiln.so needed; no flag names a
     * path of this machine outside the prefix */
    snprintf(cmd, sizeof cmd,
             "PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' && export PKG_CONFIG_PATH && "
             "! pkg-config --libs --static kiln kiln-static | tr ' ' '\\n' | grep '^/' | grep -v '^%s/prefix' && "
             "cc -std=c11 '%s/examples/consumer/main.c' -o '%s/pc_static' $(pkg-config --cflags --libs kiln-static) -lm "
             "> '%s/pc_static.log' 2>&1 && ! readelf -d '%s/pc_static' | grep -q 'NEEDED.*libkiln' && "
             "env -u LD_LIBRARY_PATH '%s/pc_static' >> '%s/pc_static.log' 2>&1",
             dir, dir, KILN_SOURCE_DIR, dir, dir, dir, dir, dir);
    cr_assert_eq(sh(cmd), 0, "pkg-config kiln-static consumer failed (log in %s/pc_static.log)", dir);

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    sh(cmd);
}
