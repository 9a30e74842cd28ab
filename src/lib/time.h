/* Times written into images and SBOMs: RFC 3339 in UTC, from a Unix epoch,
 * by arithmetic alone, so that neither TZ nor the host's zone files (a
 * right/ zone counts leap seconds) can change a byte. */
#ifndef DISTILL_TIME_H
#define DISTILL_TIME_H

#include <stdint.h>

/* "YYYY-MM-DDTHH:MM:SSZ" of `epoch` (years 0..9999). */
void time_rfc3339(int64_t epoch, char out[32]);

#endif
