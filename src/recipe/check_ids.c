#include "recipe/check_ids.h"
#include "lib/secrets.h"

#include <string.h>

const char *const check_ids[] = {
  "user-nonroot", "no-shell", "no-package-manager", "no-setuid", "no-world-writable", "immutable-programs",
  "no-devices", "no-secrets", "ca-bundle", "unprivileged-ports", "can-start", "healthcheck", NULL,
};

const char *
check_waivable(const char *id)
{
  static const char *const pathless[] = { "user-nonroot", "unprivileged-ports", "can-start", "healthcheck", NULL };

  for (size_t i = 0; pathless[i]; i++)
    if (strcmp(id, pathless[i]) == 0)
      return "its findings name no file: it cannot be waived";
  for (size_t i = 0; check_ids[i]; i++)
    if (strcmp(id, check_ids[i]) == 0)
      return NULL;
  /* a credential rule's id waives no-secrets' findings of that rule */
  if (secrets_rule(id))
    return NULL;
  return "not a check id (no-shell, no-package-manager, no-setuid, no-world-writable, immutable-programs, "
         "no-devices, no-secrets, ca-bundle) nor a credential rule's (github-token, ...)";
}
