/* http.c - the parts of http.h that do not depend on the transport: the plain-HTTP host policy,
 * reading response headers, clearing a response, and what a transport result means (its name
 * for log lines, its CK_RV). No state, no locks. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http.h"

static int ip_in_list(const char *host, const char *const *list)
{
    size_t i;

    for (i = 0; list[i] != NULL; i++)
        if (strcasecmp(host, list[i]) == 0)
            return 1;
    return 0;
}

int p11kms_http_plain_host_allowed(const char *host, int policy)
{
    static const char *const metadata[] = {"169.254.169.254", "169.254.170.2", "169.254.170.23",
                                           "fd00:ec2::254",   "fd00:ec2::23",  NULL};
    char buf[64];
    size_t len;
    struct in_addr a4;
    struct in6_addr a6;

    if (host == NULL)
        return 0;
    len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, host, len);
    buf[len] = 0;
    if (strcasecmp(buf, "localhost") == 0)
        return 1;
    /* RFC 6761: every name under .localhost is loopback (S3 virtual-hosted addressing of a
     * loopback store: bucket.localhost). The curl transport connects them to 127.0.0.1
     * itself, whatever a resolver would say. */
    if (len > 10 && strcasecmp(buf + len - 10, ".localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        if ((ntohl(a4.s_addr) >> 24) == 127)
            return 1;
    } else if (inet_pton(AF_INET6, buf, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&a6))
            return 1;
        /* compare the canonical text form, so fd00:ec2:0::23 matches too */
        if (inet_ntop(AF_INET6, &a6, buf, sizeof(buf)) == NULL)
            return 0;
    } else {
        return 0;
    }
    return policy == P11KMS_HTTP_POLICY_METADATA && ip_in_list(buf, metadata);
}

int p11kms_http_response_header(const p11kms_http_response *resp, const char *name, char *buf,
                                size_t buf_len)
{
    size_t nlen = strlen(name);
    const char *p, *end, *eol, *v, *ve;

    if (resp->headers == NULL || buf_len == 0)
        return 0;
    p = resp->headers;
    end = resp->headers + resp->headers_len;
    for (; p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            v = p + nlen + 1;
            ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && isspace((unsigned char)ve[-1]))
                ve--;
            if ((size_t)(ve - v) >= buf_len)
                return 0;
            memcpy(buf, v, (size_t)(ve - v));
            buf[ve - v] = 0;
            return 1;
        }
        if (eol == end)
            break;
    }
    return 0;
}

void p11kms_http_response_clear(p11kms_http_response *resp)
{
    if (resp == NULL)
        return;
    p11kms_buf_wipe(&resp->body);
    free(resp->headers);
    resp->headers = NULL;
    resp->headers_len = 0;
    resp->status = 0;
    resp->error[0] = 0;
}

CK_RV p11kms_http_result_rv(int result)
{
    switch (result) {
    case P11KMS_HTTP_OK:
        return CKR_OK;
    case P11KMS_HTTP_E_NOMEM:
        return CKR_HOST_MEMORY;
    default:
        /* The KMS could not be reached or answered beyond bounds: a device fault. */
        return CKR_DEVICE_ERROR;
    }
}

const char *p11kms_http_result_name(int result)
{
    switch (result) {
    case P11KMS_HTTP_OK:
        return "ok";
    case P11KMS_HTTP_E_CONNECT:
        return "connection failed";
    case P11KMS_HTTP_E_TIMEOUT:
        return "timed out";
    case P11KMS_HTTP_E_TLS:
        return "TLS failure";
    case P11KMS_HTTP_E_TOO_LARGE:
        return "response too large";
    case P11KMS_HTTP_E_REFUSED:
        return "request refused";
    case P11KMS_HTTP_E_NOMEM:
        return "out of memory";
    default:
        return "transport error";
    }
}
