/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small helpers shared by every folder: cleanup attributes, string vectors, hashing. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <stdio.h>

#define FRZ_EXPORT __attribute__((visibility("default")))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void closedirp(DIR **d) { if (*d) closedir(*d); }
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Hand a pointer out of a _cleanup_ variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })

static inline bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }
static inline bool streq_ptr(const char *a, const char *b)
{
	return a && b ? streq(a, b) : a == b;
}
static inline const char *startswith(const char *s, const char *prefix)
{
	size_t l = strlen(prefix);
	return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

/* Growable array of pointers. */
struct ptrvec {
	void **items;
	size_t n, cap;
};
int ptrvec_push(struct ptrvec *v, void *item);
/* Push unless already present (linear: for the short lists it is used on). */
int ptrvec_push_unique(struct ptrvec *v, void *item);
bool ptrvec_contains(const struct ptrvec *v, const void *item);
void ptrvec_clear(struct ptrvec *v);
/* qsort() of the items; an empty vector (items == NULL) is fine. */
void ptrvec_sort(struct ptrvec *v, int (*cmp)(const void *, const void *));
/* Free every item with free(), then the vector's storage. */
void ptrvec_free_items(struct ptrvec *v);
/*
 * The strings of V joined with SEP; when V holds more than MAX (0: no limit),
 * the first MAX - 1 then "...".  NULL when out of memory.
 */
char *ptrvec_join(const struct ptrvec *v, const char *sep, size_t max);
/* Format a message and append it (the vector owns it); the message or NULL. */
const char *ptrvec_push_printf(struct ptrvec *v, const char *fmt, ...) _printf_(2, 3);
const char *ptrvec_push_vprintf(struct ptrvec *v, const char *fmt, va_list ap) _printf_(2, 0);

/* Hash map from string or 64-bit keys to pointers; open addressing. */
struct hashmap_entry;
struct hashmap {
	struct hashmap_entry *entries;
	size_t n, cap;
	bool string_keys;
};
void hashmap_init(struct hashmap *h, bool string_keys);
void hashmap_clear(struct hashmap *h);
/* Keys of string maps are not copied: they must outlive the map. */
int hashmap_put_str(struct hashmap *h, const char *key, void *value);
void *hashmap_get_str(const struct hashmap *h, const char *key);
void *hashmap_get_strn(const struct hashmap *h, const char *key, size_t len);
int hashmap_put_u64(struct hashmap *h, uint64_t key, void *value);
void *hashmap_get_u64(const struct hashmap *h, uint64_t key);

char *strdup_or_null(const char *s);
/* Remove trailing whitespace (and newlines) in place; return s. */
char *strstrip_trailing(char *s);
int xasprintf(char **ret, const char *fmt, ...) _printf_(2, 3);
/* True when PATH is PREFIX or lies below it, component-wise. */
bool path_startswith(const char *path, const char *prefix);
