/* s3.h - the tool's S3 client: s3://bucket/key names, requests signed and retried through the
 * AWS backend's service client (aws-service.h: credential chain, region and endpoint rules,
 * SigV4) on the shared remote layer, S3's XML errors, and one plain line per failure. */
#ifndef P11KMS_TOOL_S3_H
#define P11KMS_TOOL_S3_H

#include <stddef.h>
#include <stdint.h>
#include "net/call.h"

#define TOOL_S3_LIST_PAGE_MAX (8u << 20) /* bytes of one ListObjectsV2 answer accepted */
#define TOOL_S3_HEADERS_MAX 14           /* a request's own headers (metadata, SSE, range) */

typedef struct tool_s3 tool_s3;

/* Whether s names an S3 object or prefix ("s3://..."). */
int tool_s3_is_url(const char *s);
/* Split "s3://bucket[/key]" (bucket 3..63 of [a-z0-9.-], key up to 1024 bytes, may be empty)
 * into malloc'd parts. Reports and returns -1 when malformed. */
int tool_s3_parse_url(const char *s, char **bucket, char **key);

/* The client, from the environment as the AWS CLI reads it: AWS_REGION / AWS_DEFAULT_REGION /
 * the profile's region, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (S3-compatible stores),
 * AWS_S3_FORCE_PATH_STYLE=true for path-style addressing (also used for bucket names with a
 * dot or an endpoint that is an IP address), and the AWS credential chain. No network.
 * verbose: the remote layer's log on stderr (1 info, 2 debug). Reports and returns -1. */
int tool_s3_open(int verbose, tool_s3 **out);
void tool_s3_close(tool_s3 *s);

/* One S3 request on bucket/key (key NULL or "": the bucket). query: already encoded
 * ("list-type=2&prefix=a%2Fb") or NULL. data: the body (its SHA-256 is signed). headers: extra
 * request headers (at most TOOL_S3_HEADERS_MAX). On success 0 with the 2xx answer in reply (the
 * caller clears it). On failure one line on stderr naming s3://bucket/key and what happened, and
 * -1; with not_found set, a 404 is not reported and returns 1 instead. */
int tool_s3_request(tool_s3 *s, const char *op, const char *method, const char *bucket,
                    const char *key, const char *query, const p11kms_http_header *headers,
                    size_t n_headers, const uint8_t *data, size_t data_len, size_t max_response,
                    int not_found, p11kms_net_reply *reply);

/* The same, described in a struct, reporting nothing: on failure -1 with the one line that says
 * what happened (naming s3://bucket/key) in err. For threads that pass failures on. */
typedef struct tool_s3_req {
    const char *op;
    const char *method;
    const char *bucket;
    const char *key;
    const char *query;
    const p11kms_http_header *headers;
    size_t n_headers; /* at most TOOL_S3_HEADERS_MAX */
    const uint8_t *data;
    size_t data_len;
    size_t max_response;
    int not_found;
} tool_s3_req;
int tool_s3_call(tool_s3 *s, const tool_s3_req *rq, p11kms_net_reply *reply, char *err,
                 size_t err_len);

/* Percent-encode s for a query value (everything but A-Z a-z 0-9 - _ . ~). malloc'd or NULL. */
char *tool_s3_query_escape(const char *s);
/* The text of the first <name> element in [xml, xml+len), entities and (with url_decode) S3's
 * encoding-type=url percent escapes decoded; malloc'd or NULL when absent or malformed. */
char *tool_s3_xml_text(const char *xml, size_t len, const char *name, int url_decode);
/* Narrow [*xml, *xml+*len) past the next <name>...</name>: its inside in inner/inner_len.
 * 0 found, -1 none left. */
int tool_s3_xml_next(const char **xml, size_t *len, const char *name, const char **inner,
                     size_t *inner_len);

#endif
