/*
 * schema.h - JSON Schema into a GBNF grammar (internal; part of structured
 * output, issue 6). The grammar accepts only JSON that validates against
 * the schema: keywords desk cannot enforce are refused with an error naming
 * the keyword and its path, never ignored. Where a schema leaves a choice
 * open the grammar may choose for it (properties in the schema's order, at
 * most one space where JSON allows whitespace, no properties the schema
 * does not name unless additionalProperties says so), which narrows what is
 * generated but never lets anything invalid through.
 */
#ifndef DESK_SCHEMA_H
#define DESK_SCHEMA_H

#include "base/base.h"

/* The GBNF text (malloc'ed) for a schema given as JSON text. */
desk_status dschema_to_gbnf(const char *json, size_t len, char **gbnf, desk_error *err);
/* The GBNF text for "any JSON object" (response_format json_object). */
char *dschema_any_object_gbnf(void);

#endif
