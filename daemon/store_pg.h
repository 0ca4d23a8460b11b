/*
 * store, PostgreSQL backend: what its files share (store_pg*.c).  Private
 * to the store like store_impl.h; no file outside the backend includes it.
 *
 * The schema is an ordered list of migrations, as SQLite's is, and its
 * version is kept in the table jobd_schema (version, compat) instead of
 * PRAGMA user_version.  At open the backend takes pg_advisory_lock, reads
 * the version (0 when jobd_schema does not exist yet), runs every missing
 * migration and then writes the row of jobd_schema, all in one
 * transaction; a node refuses a database whose compat is above its
 * STORE_PG_SCHEMA_VERSION, and a migration that only adds keeps compat as
 * it was, so older nodes go on running beside newer ones.
 */
#ifndef STORE_PG_H_INCLUDED
#define STORE_PG_H_INCLUDED

/* Current schema version: the number of migrations. */
#define STORE_PG_SCHEMA_VERSION 1

/* The migrations (store_pg_sql.c): store_pg__migrations[i] takes the
 * schema from version i to i + 1; there are STORE_PG_SCHEMA_VERSION of
 * them.  Each text holds several statements and no transaction control,
 * so the caller sends it whole by the simple query protocol (PQsendQuery
 * outside pipeline mode: the extended protocol takes one statement) inside
 * its own transaction.  None of them writes jobd_schema's row: the caller
 * does, after the last one. */
extern const char *const store_pg__migrations[];

#endif /* STORE_PG_H_INCLUDED */
