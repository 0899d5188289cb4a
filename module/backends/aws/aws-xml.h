/* aws-xml.h - the little XML AWS query-protocol answers (STS) need: an element's text by tag
 * name, entities decoded, bounded. */
#ifndef P11KMS_AWS_XML_H
#define P11KMS_AWS_XML_H

#include <stddef.h>

/* The text of the first <name>...</name> element inside xml[0..len) (no attributes on the
 * tag), with the five predefined entities and numeric character references decoded, as a
 * malloc'd string. 0 ok, -1 absent or malformed or longer than max_len. */
int p11kms_aws_xml_text(const char *xml, size_t len, const char *name, size_t max_len, char **out);
/* Narrow xml to the inside of the first <name>...</name>: 0 ok, -1 absent. */
int p11kms_aws_xml_element(const char *xml, size_t len, const char *name, const char **inner,
                           size_t *inner_len);

#endif
