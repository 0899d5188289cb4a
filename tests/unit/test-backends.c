/* test-backends.c - the backend registry and what each backend says about itself: unique names
 * and envelope ids (they are stored in envelopes), quick-mode forms that never overlap, option
 * lists, the key-configuration hooks, and which backends this build can instantiate. */
#include <stdint.h>
#include "tests/test.h"
#include "backend.h"
#include "config.h"

/* One key reference per known form, with the backend that must claim it. */
static const struct {
    const char *value;
    const char *backend;
    const char *key_id;
} forms[] = {
    {"insecure-test-key", "local", "insecure-test-key"},
    {"local:/k/file.key", "local", "/k/file.key"},
    {"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "aws", NULL},
    {"arn:aws:kms:eu-west-1:111122223333:alias/app", "aws", NULL},
    {"alias/app", "aws", NULL},
    {"1234abcd-12ab-34cd-56ef-1234567890ab", "aws", NULL},
    {"mrk-1234abcd12ab34cd56ef1234567890ab", "aws", NULL},
    {"projects/p/locations/global/keyRings/r/cryptoKeys/k", "gcp", NULL},
    {"vault/transit-key", "vault", "transit-key"},
};

static void test_registry(void)
{
    const p11kms_backend_ops *a, *b;
    size_t i, j, n = 0;
    int unique = 1, ids = 1, described = 1;

    for (i = 0; (a = p11kms_backend_at(i)) != NULL; i++) {
        n++;
        described &= a->name != NULL && a->quick != NULL && a->quick_forms != NULL;
        ids &= a->envelope_id != 0 && p11kms_backend_find_id(a->envelope_id) == a;
        for (j = 0; (b = p11kms_backend_at(j)) != NULL; j++)
            if (i != j)
                unique &= strcmp(a->name, b->name) != 0 && a->envelope_id != b->envelope_id;
    }
    ok(n >= 4, "local, aws, gcp and vault are known");
    ok(unique, "names and envelope ids are unique");
    ok(ids, "every envelope id is non-zero and finds its backend");
    ok(described, "every backend names its quick-mode forms");
    ok(p11kms_backend_find_id(0) == NULL && p11kms_backend_find_id(200) == NULL,
       "unknown envelope ids find nothing");
    /* the ids are in envelopes on disk: never renumbered */
    a = p11kms_backend_find("local");
    b = p11kms_backend_find("aws");
    ok(a != NULL && a->envelope_id == 1 && b != NULL && b->envelope_id == 2,
       "local is 1 and aws is 2, as in docs/envelope.md");
    ok(p11kms_backend_find_id(3) != NULL && strcmp(p11kms_backend_find_id(3)->name, "gcp") == 0 &&
           p11kms_backend_find_id(4) != NULL &&
           strcmp(p11kms_backend_find_id(4)->name, "vault") == 0,
       "3 and 4 stay gcp's and vault's");
    ok(a != NULL && a->create != NULL && b != NULL && b->create != NULL,
       "local and aws are built in");
    ok(p11kms_backend_find("gcp") != NULL && p11kms_backend_find("gcp")->create != NULL,
       "gcp is built in");
    ok(p11kms_backend_find("vault") != NULL && p11kms_backend_find("vault")->envelope_id == 4,
       "vault is built in");
    ok(p11kms_backend_find("hsm") == NULL && p11kms_backend_find(NULL) == NULL,
       "unknown names find nothing");
}

static void test_quick_forms(void)
{
    const p11kms_backend_ops *ops, *other;
    p11kms_quick_key q, q2;
    size_t i, j;
    int claimed = 1, alone = 1;

    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        ops = p11kms_backend_quick(forms[i].value, &q);
        claimed &= ops != NULL && strcmp(ops->name, forms[i].backend) == 0 &&
                   strcmp(q.key_id, forms[i].key_id ? forms[i].key_id : forms[i].value) == 0;
        /* no other backend claims it too */
        for (j = 0; (other = p11kms_backend_at(j)) != NULL; j++) {
            memset(&q2, 0, sizeof(q2));
            if (other != ops && other->quick != NULL && other->quick(forms[i].value, &q2))
                alone = 0;
        }
    }
    ok(claimed, "each form is claimed by its backend, with its key_id");
    ok(alone, "and by no other");
    ops = p11kms_backend_quick("local:/k/file.key", &q);
    ok(ops != NULL && q.option != NULL && strcmp(q.option, "key_file") == 0 &&
           strcmp(q.option_value, "/k/file.key") == 0,
       "local:PATH also sets key_file");
    ok(p11kms_backend_quick("my-key", &q) == NULL && q.key_id == NULL,
       "an unknown form is claimed by none");
}

/* Options every backend lists are what config.c accepts; none repeats and none is a common
 * field of every key. */
static void test_options(void)
{
    static const char *const common[] = {"label",   "backend", "key_id", "permissions",
                                         "context", "id",      NULL};
    const p11kms_backend_ops *ops;
    size_t i, j, k;
    int good = 1;

    for (i = 0; (ops = p11kms_backend_at(i)) != NULL; i++)
        for (j = 0; ops->options != NULL && ops->options[j] != NULL; j++) {
            for (k = 0; k < j; k++)
                good &= strcmp(ops->options[j], ops->options[k]) != 0;
            for (k = 0; common[k] != NULL; k++)
                good &= strcmp(ops->options[j], common[k]) != 0;
        }
    ok(good, "backend options are unique and never shadow a common key field");
}

/* The local backend's configuration rules, through its hook. */
static void test_check_key(void)
{
    const p11kms_backend_ops *local = p11kms_backend_find("local");
    p11kms_option opt = {(char *)"key_file", (char *)"/k/file.key"};
    p11kms_key_config kc;
    char err[256];

    memset(&kc, 0, sizeof(kc));
    if (!ok(local != NULL && local->check_key != NULL, "local checks its keys"))
        return;
    kc.options = &opt;
    kc.n_options = 1;
    is_rv(local->check_key(&kc, err, sizeof(err)), CKR_OK, "key_file alone");
    ok(kc.key_id != NULL && strcmp(kc.key_id, "/k/file.key") == 0, "key_id defaults to it");
    free(kc.key_id);
    kc.key_id = NULL;
    kc.n_options = 0;
    is_rv(local->check_key(&kc, err, sizeof(err)), CKR_ARGUMENTS_BAD, "neither");
    ok(strcmp(err, "key_id is required (or key_file)") == 0, "says what is missing");
    kc.key_id = (char *)"my-key";
    is_rv(local->check_key(&kc, err, sizeof(err)), CKR_ARGUMENTS_BAD, "another key_id alone");
    ok(strstr(err, "insecure-test-key") != NULL, "names the one allowed");
}

int main(void)
{
    test_start();
    test_registry();
    test_quick_forms();
    test_options();
    test_check_key();
    return test_exit_code();
}
