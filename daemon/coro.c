/*
 * coro: ucontext coroutines with guarded mmap stacks.  Owns the ready list
 * and the stack cache; knows nothing about libev.
 */
#include "coro.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"
#include "xmem.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifdef HAVE_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
				    size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
				     const void **bottom_old, size_t *size_old);
#endif

struct stack {
	void *base;	    /* mmap'ed region, guard page first */
	size_t size;	    /* whole region, bytes */
	unsigned vg_id;	    /* Valgrind stack id */
	struct stack *next; /* free list link */
};

struct coro {
	ucontext_t ctx;
	char name[48];
	coro_fn fn;
	void *arg;
	struct stack *stack; /* owned until the coroutine is freed */
	struct diag diag;    /* this coroutine's error record */
	uint64_t local;	     /* coro_local() */
	struct coro *next_ready;
	struct coro *joiner; /* waiting in coro_join, or NULL */
	bool ready;
	bool done;
	bool cancelled;
	bool detached;
};

static ucontext_t sched_ctx;
static struct coro *current;
static struct coro *ready_head, *ready_tail;
static struct stack *free_stacks;
static size_t nfree_stacks;
static coro_step_fn step_hook;
static uint64_t step_began; /* ns, when current was resumed */
#ifdef HAVE_ASAN
static const void *sched_stack_bottom;
static size_t sched_stack_size;
#endif

static size_t
page_size(void)
{
	static size_t ps;
	if (ps == 0)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static struct stack *
stack_get(void)
{
	if (free_stacks != NULL) {
		struct stack *s = free_stacks;
		free_stacks = s->next;
		nfree_stacks--;
		return s;
	}
	struct stack *s = xcalloc(1, sizeof(*s));
	s->size = CORO_STACK_SIZE + page_size();
	s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->base == MAP_FAILED) {
		diag_set(E_BUSY, "coro: cannot map a stack: %s",
			 strerror(errno));
		free(s);
		return NULL;
	}
	/* The guard page sits below the stack, which grows down into it.
	 * It splits the mapping in two, so vm.max_map_count can refuse it
	 * while the mmap itself went through. */
	if (mprotect(s->base, page_size(), PROT_NONE) != 0) {
		diag_set(E_BUSY, "coro: cannot protect a guard page: %s",
			 strerror(errno));
		munmap(s->base, s->size);
		free(s);
		return NULL;
	}
#ifdef HAVE_VALGRIND
	s->vg_id = VALGRIND_STACK_REGISTER((char *)s->base + page_size(),
					   (char *)s->base + s->size);
#endif
	return s;
}

static void
stack_free(struct stack *s)
{
#ifdef HAVE_VALGRIND
	VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
	munmap(s->base, s->size);
	free(s);
}

static void
stack_put(struct stack *s)
{
	if (nfree_stacks >= 64) {
		stack_free(s);
		return;
	}
	s->next = free_stacks;
	free_stacks = s;
	nfree_stacks++;
}

/* Switches from the scheduler to c. */
static void
switch_to(struct coro *c)
{
#ifdef HAVE_ASAN
	void *fake = NULL;
	__sanitizer_start_switch_fiber(&fake,
				       (char *)c->stack->base + page_size(),
				       c->stack->size - page_size());
#endif
	struct diag *prev = diag_switch(&c->diag);
	current = c;
	if (swapcontext(&sched_ctx, &c->ctx) != 0)
		panic("coro: swapcontext failed");
	current = NULL;
	diag_switch(prev);
#ifdef HAVE_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

/* Switches from the running coroutine back to the scheduler. */
static uint64_t nyields;

uint64_t
coro_yields(void)
{
	return nyields;
}

static void
switch_out(struct coro *c)
{
	nyields++;
#ifdef HAVE_ASAN
	void *fake = NULL;
	/* A finished coroutine never comes back: let ASan drop its fake
	 * stack. */
	__sanitizer_start_switch_fiber(c->done ? NULL : &fake,
				       sched_stack_bottom, sched_stack_size);
#endif
	if (swapcontext(&c->ctx, &sched_ctx) != 0)
		panic("coro: swapcontext failed");
#ifdef HAVE_ASAN
	__sanitizer_finish_switch_fiber(fake, &sched_stack_bottom,
					&sched_stack_size);
#endif
}

/* Takes c off the ready list (it ended while queued). */
static void
ready_remove(struct coro *c)
{
	struct coro **pp = &ready_head, *prev = NULL;
	while (*pp && *pp != c) {
		prev = *pp;
		pp = &(*pp)->next_ready;
	}
	if (*pp == NULL)
		return;
	*pp = c->next_ready;
	if (ready_tail == c)
		ready_tail = prev;
	c->ready = false;
}

static void
coro_trampoline(void)
{
	struct coro *c = current;
#ifdef HAVE_ASAN
	__sanitizer_finish_switch_fiber(NULL, &sched_stack_bottom,
					&sched_stack_size);
#endif
	c->fn(c->arg);
	c->done = true;
	/* Woken during its last step: it must not be resumed. */
	if (c->ready)
		ready_remove(c);
	if (c->joiner != NULL)
		coro_wakeup(c->joiner);
	switch_out(c);
	panic("coro: a finished coroutine was resumed");
}

struct coro *
coro_spawn(const char *name, coro_fn fn, void *arg)
{
	struct coro *c = coro_try_spawn(name, fn, arg);
	if (c == NULL)
		panic("%s", diag_msg());
	return c;
}

/* getcontext returns twice in the compiler's eyes: kept apart from the
 * stack's allocation, so no local of that can be thought clobbered. */
static __attribute__((noinline)) void
make_context(struct coro *c)
{
	if (getcontext(&c->ctx) != 0)
		panic("coro: getcontext failed");
	c->ctx.uc_stack.ss_sp = (char *)c->stack->base + page_size();
	c->ctx.uc_stack.ss_size = c->stack->size - page_size();
	c->ctx.uc_link = NULL;
	makecontext(&c->ctx, coro_trampoline, 0);
}

struct coro *
coro_try_spawn(const char *name, coro_fn fn, void *arg)
{
	struct stack *stack = stack_get();
	if (stack == NULL)
		return NULL;
	struct coro *c = xcalloc(1, sizeof(*c));
	coro_set_name(c, name);
	c->fn = fn;
	c->arg = arg;
	c->stack = stack;
	make_context(c);
	coro_wakeup(c);
	return c;
}

uint64_t *
coro_local(void)
{
	static uint64_t process_local;
	return current ? &current->local : &process_local;
}

struct coro *
coro_self(void)
{
	return current;
}

const char *
coro_name(const struct coro *c)
{
	return c ? c->name : "main";
}

void
coro_set_name(struct coro *c, const char *name)
{
	size_t n = strlen(name);
	if (n >= sizeof(c->name))
		n = sizeof(c->name) - 1;
	memcpy(c->name, name, n);
	c->name[n] = '\0';
}

void
coro_wakeup(struct coro *c)
{
	if (c->ready || c->done)
		return;
	c->ready = true;
	c->next_ready = NULL;
	if (ready_tail)
		ready_tail->next_ready = c;
	else
		ready_head = c;
	ready_tail = c;
}

void
coro_yield(void)
{
	struct coro *c = current;
	assert(c != NULL);
	switch_out(c);
}

void
coro_cancel(struct coro *c)
{
	if (c->done)
		return;
	c->cancelled = true;
	coro_wakeup(c);
}

bool
coro_is_cancelled(void)
{
	return current != NULL && current->cancelled;
}

static void
coro_free(struct coro *c)
{
	stack_put(c->stack);
	free(c);
}

void
coro_join(struct coro *c)
{
	assert(current != NULL && c != current && c->joiner == NULL);
	c->joiner = current;
	while (!c->done)
		coro_yield();
	coro_free(c);
}

void
coro_detach(struct coro *c)
{
	if (c->done && !c->ready) {
		coro_free(c);
		return;
	}
	c->detached = true;
}

bool
coro_is_done(const struct coro *c)
{
	return c->done;
}

bool
coro_has_ready(void)
{
	return ready_head != NULL;
}

uint64_t
coro_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
coro_step_ns(void)
{
	return current != NULL ? coro_clock_ns() - step_began : 0;
}

size_t
coro_run_ready(void)
{
	size_t steps = 0;
	assert(current == NULL);
	while (ready_head != NULL) {
		struct coro *c = ready_head;
		ready_head = c->next_ready;
		if (ready_head == NULL)
			ready_tail = NULL;
		c->ready = false;
		step_began = coro_clock_ns();
		switch_to(c);
		if (step_hook)
			step_hook(c, coro_clock_ns() - step_began);
		steps++;
		if (c->done && c->detached && !c->ready)
			coro_free(c);
	}
	return steps;
}

void
coro_set_step_hook(coro_step_fn fn)
{
	step_hook = fn;
}

void
coro_shutdown(void)
{
	while (free_stacks != NULL) {
		struct stack *s = free_stacks;
		free_stacks = s->next;
		stack_free(s);
	}
	nfree_stacks = 0;
}
