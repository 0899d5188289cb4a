/* config-test.h - what the configuration tests share: documents written with ' for " so they
 * stay readable. */
#ifndef P11KMS_TESTS_CONFIG_TEST_H
#define P11KMS_TESTS_CONFIG_TEST_H

#include <stdlib.h>
#include <string.h>

/* Test documents are written with ' for " to stay readable. */
static char *doc(const char *s)
{
    char *d = strdup(s), *p;

    for (p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

#endif
