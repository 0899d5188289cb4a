/* killswitch.h - the decryption kill switch: a file per token or per key in one directory that
 * stops every unwrap and decrypt with those keys in every running process within a second. */
#ifndef P11KMS_KILLSWITCH_H
#define P11KMS_KILLSWITCH_H

#include <stddef.h>
#include "pkcs11/p11kms.h"
#include "config.h"

/*
 * The directory holds one file per switch that is on; its presence is the switch, its content
 * (what the tool writes: who and when) is for people. A token's switch is named after the
 * token's label, a key's "TOKEN+KEY"; labels are percent-encoded (every byte but letters,
 * digits, '_', '-' and a '.' that does not lead), and a key label whose encoding is longer than
 * 150 bytes is named "#" and the hex SHA-256 of the label instead. p11kms_killswitch_name
 * builds the names; docs/kill-switch.md says it all for operators. A key's switch holds for
 * every key of its token that shares one of its KMS key entries (current or previous; backend,
 * key_id and options alike), so an application cannot step around it by another label; keys of
 * other tokens are not covered (the token is the scope; "p11kms kill-switch status" points them
 * out).
 *
 * What a process does when it cannot tell (decided once, for every process):
 *   directory missing          no switch is on: nobody turned one on since it was last
 *                              created (/run is emptied at boot), and whoever may delete it
 *                              could delete the files in it as well;
 *   directory unreadable, not  every switch is on (fail closed): a switch an operator pulled
 *   a directory, writable by   must not be undone by an error, and an unreadable directory
 *   others, or a read error    shows itself at the first unwrap, with one log line.
 */
#define P11KMS_KILL_SWITCH_DIR_DEFAULT "/run/p11kms/kill-switch"
/* How often a process reads the directory, at most: the switch takes effect within this
 * period plus one directory read. */
#define P11KMS_KILL_SWITCH_PERIOD_MS 250
#define P11KMS_KILL_SWITCH_NAME_MAX 255

/* The directory of cfg's switches; NULL when the configuration has none ("kill_switch_dir":
 * null). */
const char *p11kms_killswitch_dir(const p11kms_config *cfg);
/* The file name of a token's switch (key NULL) or of one of its keys' into out; 0, or -1 when
 * out is too small (cap > P11KMS_KILL_SWITCH_NAME_MAX is always enough). */
int p11kms_killswitch_name(const char *token, const char *key, char *out, size_t cap);

/* Whether two keys share a KMS key: one of a's entries (current or previous; a single
 * backend/key_id key is its own entry) has the backend, key_id and every option of one of b's
 * (a key's switch holds for the keys of its token that do). */
int p11kms_killswitch_same_kms_key(const p11kms_key_config *a, const p11kms_key_config *b);

/* C_Initialize (init_lock held, before the module is live): the switches of cfg's tokens and
 * keys, read once now. CKR_HOST_MEMORY only; an unreadable directory is not an error here. */
CK_RV p11kms_killswitch_setup(const p11kms_config *cfg);
/* C_Finalize, once no call runs any more. */
void p11kms_killswitch_teardown(void);

/* CKR_OK, or CKR_KEY_FUNCTION_NOT_PERMITTED when the switch of kc (a key of the configuration
 * given to setup) or of its token is on, or the directory cannot be read. Called on every
 * unwrap and decrypt: a coarse clock read and relaxed atomic loads, and every
 * P11KMS_KILL_SWITCH_PERIOD_MS one caller reads the directory. NULL kc: CKR_OK. kc must be
 * an element of some cfg->tokens[i].keys (it is found by address); any other key is refused,
 * with one error line, so a caller that passes copies cannot escape the switch. */
CK_RV p11kms_killswitch_check(const p11kms_key_config *kc);

#endif
