/* Scope-bound cleanup of the libraries' objects: a variable declared with
 * one of these attributes is freed when it goes out of scope, on every
 * return path (steal_pointer() hands it on instead).  Each is NULL-safe,
 * as cleanup_free is. */
#ifndef DISTILL_CLEANUP_H
#define DISTILL_CLEANUP_H

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <yaml.h>

static inline void
cleanup_archive_readp(struct archive **a)
{
  if (*a)
    archive_read_free(*a);
}

static inline void
cleanup_archive_writep(struct archive **a)
{
  if (*a)
    archive_write_free(*a);
}

static inline void
cleanup_archive_entryp(struct archive_entry **e)
{
  if (*e)
    archive_entry_free(*e);
}

static inline void
cleanup_jsonp(json_t **j)
{
  json_decref(*j); /* NULL-safe */
}

/* A libyaml parser or document is a struct, not a pointer: these take the
 * pointer to one that was initialised, NULL when none was. */
static inline void
cleanup_yaml_parserp(yaml_parser_t **p)
{
  if (*p)
    yaml_parser_delete(*p);
}

static inline void
cleanup_yaml_documentp(yaml_document_t **d)
{
  if (*d)
    yaml_document_delete(*d);
}

#define cleanup_archive_read __attribute__((cleanup(cleanup_archive_readp)))
#define cleanup_archive_write __attribute__((cleanup(cleanup_archive_writep)))
#define cleanup_archive_entry __attribute__((cleanup(cleanup_archive_entryp)))
#define cleanup_json __attribute__((cleanup(cleanup_jsonp)))
#define cleanup_yaml_parser __attribute__((cleanup(cleanup_yaml_parserp)))
#define cleanup_yaml_document __attribute__((cleanup(cleanup_yaml_documentp)))

#endif
