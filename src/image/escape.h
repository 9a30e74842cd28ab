/* Names from an image, made safe to show.  escape_json: a backslash
 * doubled, a byte that is not UTF-8 as \xHH; the result is valid UTF-8
 * and reversible.  escape_controls: control characters (C0, DEL, C1) and
 * bytes that are not UTF-8 as \n, \t, \r or \xHH, nothing else touched
 * (for text already escaped, such as JSON).  escape_text: both, for one
 * line of a terminal: a name cannot forge a line or send an escape
 * sequence.  Each returns a new string. */
#ifndef DISTILL_ESCAPE_H
#define DISTILL_ESCAPE_H

char *escape_json(const char *s);
char *escape_controls(const char *s);
char *escape_text(const char *s);

#endif
