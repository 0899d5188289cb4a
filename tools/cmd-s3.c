/* cmd-s3.c - "p11kms s3 ls" and "p11kms s3 rm": list the objects under an S3 prefix and delete
 * one object, with the tool's S3 client (s3.h). No module is loaded. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "s3.h"
#include "tool.h"

enum { OPT_RECURSIVE = 0x100 };

static const struct option options[] = {
    {"recursive", no_argument, NULL, OPT_RECURSIVE},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, TOOL_OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* "2026-12-06T05:18:01.000Z" as "2026-12-06 05:18:01". */
static void print_time(const char *iso)
{
    if (strlen(iso) >= 19 && iso[10] == 'T')
        printf("%.10s %.8s", iso, iso + 11);
    else
        printf("%-19s", iso);
}

/* Print one page's objects and common prefixes; its continuation token (malloc'd) or NULL in
 * *next. -1 for an answer that is not a listing. */
static int print_page(const char *xml, size_t len, char **next)
{
    const char *p = xml, *in;
    size_t left = len, n;
    char *key, *size, *when, *trunc;

    *next = NULL;
    key = tool_s3_xml_text(xml, len, "Name", 0);
    if (key == NULL)
        return -1;
    free(key);
    while (tool_s3_xml_next(&p, &left, "CommonPrefixes", &in, &n) == 0) {
        key = tool_s3_xml_text(in, n, "Prefix", 1);
        if (key == NULL)
            return -1;
        printf("%30s %s\n", "PRE", key);
        free(key);
    }
    p = xml;
    left = len;
    while (tool_s3_xml_next(&p, &left, "Contents", &in, &n) == 0) {
        key = tool_s3_xml_text(in, n, "Key", 1);
        size = tool_s3_xml_text(in, n, "Size", 0);
        when = tool_s3_xml_text(in, n, "LastModified", 0);
        if (key == NULL || size == NULL || when == NULL) {
            free(key);
            free(size);
            free(when);
            return -1;
        }
        print_time(when);
        printf(" %10s %s\n", size, key);
        free(key);
        free(size);
        free(when);
    }
    trunc = tool_s3_xml_text(xml, len, "IsTruncated", 0);
    if (trunc != NULL && strcmp(trunc, "true") == 0) {
        *next = tool_s3_xml_text(xml, len, "NextContinuationToken", 0);
        if (*next == NULL) {
            free(trunc);
            return -1;
        }
    }
    free(trunc);
    return 0;
}

static int s3_ls(tool_s3 *s, const char *bucket, const char *prefix, int recursive)
{
    p11kms_net_reply r;
    char *q = NULL, *ep = NULL, *et = NULL, *next = NULL;
    size_t qlen;
    int ret = TOOL_EXIT_FAIL, pages = 0;

    ep = tool_s3_query_escape(prefix);
    if (ep == NULL)
        goto nomem;
    do {
        free(et);
        et = next != NULL ? tool_s3_query_escape(next) : NULL;
        if (next != NULL && et == NULL)
            goto nomem;
        free(q);
        qlen = 96 + strlen(ep) + (et != NULL ? strlen(et) : 0);
        q = malloc(qlen);
        if (q == NULL)
            goto nomem;
        snprintf(q, qlen, "list-type=2&encoding-type=url&prefix=%s%s%s%s", ep,
                 recursive ? "" : "&delimiter=%2F", et != NULL ? "&continuation-token=" : "",
                 et != NULL ? et : "");
        free(next);
        next = NULL;
        if (tool_s3_request(s, "ListObjectsV2", "GET", bucket, NULL, q, NULL, 0, NULL, 0,
                            TOOL_S3_LIST_PAGE_MAX, 0, &r) != 0)
            goto out;
        if (r.resp.body.data == NULL ||
            print_page((const char *)r.resp.body.data, r.resp.body.len, &next) != 0) {
            tool_err("s3://%s/%s: the listing's answer is malformed", bucket, prefix);
            p11kms_net_reply_clear(&r);
            goto out;
        }
        p11kms_net_reply_clear(&r);
        /* A token that does not move the listing on would loop forever. */
        if (++pages > 1000000) {
            tool_err("s3://%s/%s: the listing does not end", bucket, prefix);
            goto out;
        }
    } while (next != NULL);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tool_err("cannot write the listing");
        goto out;
    }
    ret = TOOL_EXIT_OK;
    goto out;
nomem:
    tool_err("out of memory");
out:
    free(q);
    free(ep);
    free(et);
    free(next);
    return ret;
}

/* S3 deletes a missing key without complaint; the tool says it was not there. */
static int s3_rm(tool_s3 *s, const char *bucket, const char *key)
{
    p11kms_net_reply r;
    int rc;

    if (*key == 0) {
        tool_err("s3://%s: give the key of the object to remove", bucket);
        return TOOL_EXIT_USAGE;
    }
    rc = tool_s3_request(s, "HeadObject", "HEAD", bucket, key, NULL, NULL, 0, NULL, 0, 0, 0, &r);
    p11kms_net_reply_clear(&r);
    if (rc != 0)
        return TOOL_EXIT_FAIL;
    rc = tool_s3_request(s, "DeleteObject", "DELETE", bucket, key, NULL, NULL, 0, NULL, 0, 4096, 0,
                         &r);
    p11kms_net_reply_clear(&r);
    return rc == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
}

static int run(int argc, char **argv)
{
    const char *sub;
    char *bucket = NULL, *key = NULL;
    tool_s3 *s = NULL;
    int opt, recursive = 0, verbose = 0, rc = TOOL_EXIT_FAIL;

    if (argc >= 2 && strcmp(argv[1], "--help") == 0)
        return tool_help(&tool_cmd_s3);
    if (argc < 2 || (strcmp(argv[1], "ls") != 0 && strcmp(argv[1], "rm") != 0))
        return tool_usage_error(&tool_cmd_s3, "expected ls or rm");
    sub = argv[1];
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "v", options, NULL)) != -1) {
        if (opt == OPT_RECURSIVE && strcmp(sub, "ls") == 0)
            recursive = 1;
        else if (opt == 'v')
            verbose++;
        else if (opt == TOOL_OPT_HELP)
            return tool_help(&tool_cmd_s3);
        else
            return tool_usage_error(&tool_cmd_s3, "unknown option");
    }
    if (argc - optind != 1)
        return tool_usage_error(&tool_cmd_s3, "expected one s3://bucket/key");
    if (tool_s3_parse_url(argv[optind], &bucket, &key) != 0)
        return TOOL_EXIT_USAGE;
    if (tool_s3_open(verbose, &s) != 0)
        goto out;
    rc = strcmp(sub, "ls") == 0 ? s3_ls(s, bucket, key, recursive) : s3_rm(s, bucket, key);
out:
    tool_s3_close(s);
    free(bucket);
    free(key);
    return rc;
}

const tool_command tool_cmd_s3 = {
    "s3",
    "list the objects under an S3 prefix, remove an S3 object",
    run,
    "SYNOPSIS\n"
    "    p11kms s3 ls [--recursive] s3://BUCKET[/PREFIX]\n"
    "    p11kms s3 rm s3://BUCKET/KEY\n"
    "\n"
    "DESCRIPTION\n"
    "    ls lists the objects whose keys start with PREFIX: one line per object (time of the\n"
    "    last change in UTC, size in bytes, full key) and, without --recursive, one 'PRE'\n"
    "    line per common prefix up to the next '/'. rm removes one object; an object that\n"
    "    does not exist is an error. No module is loaded.\n"
    "\n"
    "    S3 is reached as the AWS CLI reaches it: credentials from the AWS credential chain\n"
    "    (AWS_ACCESS_KEY_ID, AWS_PROFILE and the shared files, web identity, the container\n"
    "    and instance endpoints), the region from AWS_REGION, AWS_DEFAULT_REGION or the\n"
    "    profile, the endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (S3-compatible\n"
    "    stores such as MinIO or Ceph), virtual-hosted addressing unless\n"
    "    AWS_S3_FORCE_PATH_STYLE=true (or the bucket name has a dot, or the endpoint is an IP\n"
    "    address). Requests are signed with SigV4 and retried within a deadline on S3's\n"
    "    retryable errors. A failure is one line on stderr and exit status 1.\n"
    "\n"
    "OPTIONS\n"
    "    --recursive            ls: every key under PREFIX, no PRE lines.\n"
    "    -v, --verbose          show the S3 client's log (info; twice: debug).\n"
    "    --help                 show this text.\n",
};
