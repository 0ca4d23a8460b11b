/*
 * cmd_producer: the producer.* commands — list, get, create, delete,
 * pause and resume.  What a producer is and does is producer.h's.
 */
#include "cmd.h"

#include <string.h>

#include "control.h"
#include "diag.h"
#include "producer.h"

/* ---- producers ---- */

static struct producer *
named_producer(struct cmd_req *r)
{
	const char *name = NULL;
	if (cmd_arg_name(r, &name) != 0)
		return NULL;
	return producer_find(name);
}

void
cmd_producer_list(struct cmd_req *r)
{
	cmd_reply_ok(r, json_pack("{s:o}", "producers", producer_list_json()));
}

void
cmd_producer_get(struct cmd_req *r)
{
	struct producer *p = named_producer(r);
	if (p == NULL) {
		cmd_reply_diag(r);
		return;
	}
	cmd_reply_ok(r, json_pack("{s:o}", "producer", producer_json(p)));
}

void
cmd_producer_create(struct cmd_req *r)
{
	json_t *spec = json_object_get(r->msg, "producer");
	if (cmd_shutting_down()) {
		cmd_reply_error(r, E_SHUTDOWN, "jobd is shutting down");
		return;
	}
	if (!json_is_object(spec)) {
		cmd_reply_error(r, E_INVAL, "producer: required object");
		return;
	}
	struct producer *p = producer_create(spec, r->c->uid);
	if (p == NULL) {
		cmd_reply_diag(r);
		return;
	}
	cmd_reply_ok(r, json_pack("{s:o}", "producer", producer_json(p)));
}

void
cmd_producer_delete(struct cmd_req *r)
{
	struct producer *p = named_producer(r);
	if (p == NULL || producer_delete(p) != 0) {
		cmd_reply_diag(r);
		return;
	}
	cmd_reply_ok(r, json_object());
}

void
cmd_producer_pause(struct cmd_req *r)
{
	struct producer *p = named_producer(r);
	bool pause = strcmp(json_string_value(json_object_get(r->msg, "cmd")),
			    "producer.pause") == 0;
	if (p == NULL || producer_set_paused(p, pause) != 0) {
		cmd_reply_diag(r);
		return;
	}
	cmd_reply_ok(r, json_pack("{s:o}", "producer", producer_json(p)));
}
