/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by every folder: pointer vectors, a hash map, strings. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>

#include "util.h"

int ptrvec_push(struct ptrvec *v, void *item)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 4;
		void **items = realloc(v->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		v->items = items;
		v->cap = cap;
	}
	v->items[v->n++] = item;
	return 0;
}

bool ptrvec_contains(const struct ptrvec *v, const void *item)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->items[i] == item)
			return true;
	return false;
}

int ptrvec_push_unique(struct ptrvec *v, void *item)
{
	if (ptrvec_contains(v, item))
		return 0;
	return ptrvec_push(v, item);
}

void ptrvec_sort(struct ptrvec *v, int (*cmp)(const void *, const void *))
{
	if (v->n > 1)
		qsort(v->items, v->n, sizeof(void *), cmp);
}

void ptrvec_clear(struct ptrvec *v)
{
	free(v->items);
	*v = (struct ptrvec){};
}

void ptrvec_free_items(struct ptrvec *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->items[i]);
	ptrvec_clear(v);
}

char *ptrvec_join(const struct ptrvec *v, const char *sep, size_t max)
{
	size_t n = max && v->n > max ? max - 1 : v->n, len = 1;
	bool elided = n < v->n;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		len += strlen(v->items[i]) + strlen(sep);
	len += elided ? strlen("...") : 0;
	out = o = malloc(len);
	if (!out)
		return NULL;
	*o = '\0';
	for (size_t i = 0; i < n; i++)
		o = stpcpy(stpcpy(o, i ? sep : ""), v->items[i]);
	if (elided)
		stpcpy(stpcpy(o, n ? sep : ""), "...");
	return out;
}

const char *ptrvec_push_vprintf(struct ptrvec *v, const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		return NULL;
	if (ptrvec_push(v, msg) < 0) {
		free(msg);
		return NULL;
	}
	return msg;
}

const char *ptrvec_push_printf(struct ptrvec *v, const char *fmt, ...)
{
	const char *msg;
	va_list ap;

	va_start(ap, fmt);
	msg = ptrvec_push_vprintf(v, fmt, ap);
	va_end(ap);
	return msg;
}

struct hashmap_entry {
	union {
		const char *str;
		uint64_t u64;
	} key;
	uint32_t hash;
	bool used;
	void *value;
};

/* FNV-1a for strings; a 64-bit mixer for integers. */
static uint32_t hash_strn(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return (uint32_t)x;
}

void hashmap_init(struct hashmap *h, bool string_keys)
{
	*h = (struct hashmap){ .string_keys = string_keys };
}

void hashmap_clear(struct hashmap *h)
{
	free(h->entries);
	hashmap_init(h, h->string_keys);
}

static int hashmap_grow(struct hashmap *h)
{
	size_t cap = h->cap ? h->cap * 2 : 64;
	struct hashmap_entry *entries = calloc(cap, sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	for (size_t i = 0; i < h->cap; i++) {
		struct hashmap_entry *e = &h->entries[i];
		if (!e->used)
			continue;
		size_t j = e->hash & (cap - 1);
		while (entries[j].used)
			j = (j + 1) & (cap - 1);
		entries[j] = *e;
	}
	free(h->entries);
	h->entries = entries;
	h->cap = cap;
	return 0;
}

static struct hashmap_entry *hashmap_slot(const struct hashmap *h, uint32_t hash,
					  const char *s, size_t len, uint64_t u)
{
	if (!h->cap)
		return NULL;
	for (size_t j = hash & (h->cap - 1);; j = (j + 1) & (h->cap - 1)) {
		struct hashmap_entry *e = &h->entries[j];
		if (!e->used)
			return e;
		if (e->hash != hash)
			continue;
		if (h->string_keys ? strncmp(e->key.str, s, len) == 0 && e->key.str[len] == '\0'
				   : e->key.u64 == u)
			return e;
	}
}

static int hashmap_put(struct hashmap *h, uint32_t hash, const char *s, uint64_t u, void *value)
{
	if ((h->n + 1) * 4 >= h->cap * 3) {
		int r = hashmap_grow(h);
		if (r < 0)
			return r;
	}
	struct hashmap_entry *e = hashmap_slot(h, hash, s, s ? strlen(s) : 0, u);
	if (!e->used) {
		h->n++;
		e->used = true;
		e->hash = hash;
		if (h->string_keys)
			e->key.str = s;
		else
			e->key.u64 = u;
	}
	e->value = value;
	return 0;
}

int hashmap_put_str(struct hashmap *h, const char *key, void *value)
{
	return hashmap_put(h, hash_strn(key, strlen(key)), key, 0, value);
}

void *hashmap_get_strn(const struct hashmap *h, const char *key, size_t len)
{
	struct hashmap_entry *e = hashmap_slot(h, hash_strn(key, len), key, len, 0);
	return e && e->used ? e->value : NULL;
}

void *hashmap_get_str(const struct hashmap *h, const char *key)
{
	return hashmap_get_strn(h, key, strlen(key));
}

int hashmap_put_u64(struct hashmap *h, uint64_t key, void *value)
{
	return hashmap_put(h, hash_u64(key), NULL, key, value);
}

void *hashmap_get_u64(const struct hashmap *h, uint64_t key)
{
	struct hashmap_entry *e = hashmap_slot(h, hash_u64(key), NULL, 0, key);
	return e && e->used ? e->value : NULL;
}

char *strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *strstrip_trailing(char *s)
{
	size_t l = strlen(s);
	while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
		s[--l] = '\0';
	return s;
}

int xasprintf(char **ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (r < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return r;
}

bool path_startswith(const char *path, const char *prefix)
{
	if (streq(prefix, "/"))
		return path[0] == '/';
	size_t l = strlen(prefix);
	return strncmp(path, prefix, l) == 0 && (path[l] == '\0' || path[l] == '/');
}
