#include "lib/time.h"

#include <stdio.h>

/* The proleptic Gregorian date of a day count from 1970-01-01, computed
 * in 400-year eras of 146097 days (March-based years put the leap day
 * last).  Arithmetic only: glibc's gmtime_r() reads the host's time zone
 * file, which must have no say in an image. */
static void
civil_date(int64_t days, int64_t *year, unsigned *month, unsigned *day)
{
  int64_t z = days + 719468; /* days since 0000-03-01 */
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned) (z - era * 146097);                          /* day of era, 0..146096 */
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  /* year of era, 0..399 */
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                 /* day of March-year */
  unsigned mp = (5 * doy + 2) / 153;                                      /* March = 0 */

  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = (int64_t) yoe + era * 400 + (*month <= 2);
}

void
time_rfc3339(int64_t epoch, char out[32])
{
  int64_t days = epoch / 86400, secs = epoch % 86400, year;
  unsigned month, day;

  if (secs < 0) {
    secs += 86400;
    days--;
  }
  civil_date(days, &year, &month, &day);
  /* Epochs are bounded to year 9999, so this always fits. */
  if (snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long) year, month, day, (int) (secs / 3600),
               (int) (secs / 60 % 60), (int) (secs % 60)) >= 32)
    out[31] = '\0';
}
