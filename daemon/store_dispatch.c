/*
 * store: the calls of store.h that each backend makes its own way
 * (store_backend.h's STORE_BACKEND_CALLS), handed to the backend in use,
 * and what the backends share of the rows.  Made from the list, so that
 * store_NAME calls store__be->NAME with the same arguments; store.h
 * documents each.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "store_backend.h"
#include "xmem.h"

const struct store__backend *store__be;

#define STORE_DISPATCH(ret, name, params, args) \
	ret store_##name params                 \
	{                                       \
		return store__be->name args;    \
	}
#define STORE_DISPATCHV(name, params, args) \
	void store_##name params            \
	{                                   \
		store__be->name args;       \
	}
STORE_BACKEND_CALLS(STORE_DISPATCH, STORE_DISPATCHV)

void
store_job_run_destroy(struct store_job_run *r)
{
	json_decref(r->argv);
	json_decref(r->env);
	json_decref(r->labels);
	free(r->shell);
	free(r->cwd);
	memset(r, 0, sizeof(*r));
}

/* ---- this node, and where attempts ran ---- */

static char *local_node; /* owned: store_set_local_node's */

void
store_set_local_node(const char *name)
{
	free(local_node);
	local_node = name != NULL ? xstrdup(name) : NULL;
}

const char *
store_local_node(void)
{
	return local_node != NULL ? local_node : store_node_name();
}

bool
store_keeps_attempts(void)
{
	return store__be == &store__pg_backend;
}

void
store_attempt_seen_destroy(struct store_attempt_seen *s)
{
	free(s->node);
	free(s->tail);
	memset(s, 0, sizeof(*s));
}

bool
store_limits_shared(void)
{
	return store__be != NULL && store__be->shared;
}
