/* config-template.h - the "wrap_template" and "unwrap_template" fields of the configuration:
 * JSON objects of attribute names (the attribute table's configuration names) and values. */
#ifndef P11KMS_CONFIG_TEMPLATE_H
#define P11KMS_CONFIG_TEMPLATE_H

#include <stddef.h>
#include <json-c/json.h>
#include "config.h"

/* Parse o into t, e.g. {"sensitive": true, "extractable": false, "key_type": "aes",
 * "value_len": 32}. On a bad name or value: CKR_ARGUMENTS_BAD with the problem in err (for the
 * caller's one log line, which adds the field path). An unwrap template that would make every
 * unwrap fail (wrap with decrypt, unwrap with encrypt) is refused too. */
CK_RV p11kms_config_template(json_object *o, int unwrap, p11kms_attr_template *t, char *err,
                             size_t err_len);

/* Whether a key or token field is one of the two template fields. */
int p11kms_config_is_template(const char *field);
/* Merge the token's templates into a key's (the key's own attributes win); 0 when the merged
 * unwrap template would refuse every unwrap. */
int p11kms_config_templates_merge(p11kms_key_config *kc, const p11kms_token_config *tc);

#endif
