/* SPDX-License-Identifier: MIT */
/*
 * storage-int.h: the checks room storage (storage.c) and the session store
 * (session_store.c) share inside runtime/src/storage/: names, the list
 * guard, a doomed transaction, and the end of a transaction a call opened.
 * What other folders may use is storage-private.h's.
 */
#ifndef VERANI_STORAGE_INT_H
#define VERANI_STORAGE_INT_H

#include "storage-private.h"

/* A room, instance or client id name: 1 to 1024 bytes. */
int vr_storage_valid_name(const char *s);
/* VERANI_ESTATE (with its text) when called from a list callback, for `what`; else 0. */
int vr_storage_check_not_listing(verani_storage_db *db, const char *what);
/* Also refused: a write inside a transaction that already failed (its first error stays in
 * last_error: SQLite may have rolled the transaction back, and the write would then commit
 * on its own). */
int vr_storage_check_writable(verani_storage_db *db, const char *what);
/* End the transaction a vr_db_begin opened: roll it back after a failed `rc`, else commit. */
int vr_db_end(verani_storage_db *db, int rc);

#endif /* VERANI_STORAGE_INT_H */
