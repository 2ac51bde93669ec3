/*
 * alloc_count.h — counts malloc, calloc and realloc calls, for a unit test
 * or a benchmark that states how many allocations a code path makes.
 *
 * Include it in exactly one source file of the program and link that
 * program with
 *
 *     -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc
 *
 * (lbp_alloc_count_link in test/CMakeLists.txt). GNU ld then sends every
 * call to those functions from the objects and static libraries linked in
 * — all of lbprov's own code — to the __wrap_ functions below, which
 * count and call the real one (under ASan, ASan's: it interposes malloc
 * by symbol, after the link, so both work together). Calls made inside
 * shared libraries (json-c, libcurl, libc's own strdup) are not seen by
 * the wrapper.
 *
 * A second count covers the whole process, shared libraries included.
 * Under ASan it is the sanitizer's malloc hook (__sanitizer_install_malloc_
 * and_free_hooks), which runs for every chunk ASan's allocator hands out;
 * ASan owns the malloc symbol there, so nothing else may define it.
 * Without ASan the program itself defines malloc, calloc and realloc,
 * which every library then calls instead of libc's (ELF interposition);
 * they count and forward to glibc's allocator through its __libc_malloc
 * entry points, and free stays glibc's, the same allocator. glibc has no
 * malloc hooks any more, and dlsym(RTLD_NEXT) from an interposed malloc
 * recurses into calloc, so these are what work in each build.
 */
#ifndef LBP_TEST_BENCH_ALLOC_COUNT_H
#define LBP_TEST_BENCH_ALLOC_COUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define LBP_ALLOC_COUNT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LBP_ALLOC_COUNT_ASAN 1
#endif
#endif

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static uint64_t lbp_alloc_wrapped;

void *__wrap_malloc(size_t n)
{
    __atomic_add_fetch(&lbp_alloc_wrapped, 1, __ATOMIC_RELAXED);
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    __atomic_add_fetch(&lbp_alloc_wrapped, 1, __ATOMIC_RELAXED);
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    __atomic_add_fetch(&lbp_alloc_wrapped, 1, __ATOMIC_RELAXED);
    return __real_realloc(p, n);
}

/* Allocations by lbprov's code (statically linked) so far. */
static inline uint64_t lbp_alloc_count(void)
{
    return __atomic_load_n(&lbp_alloc_wrapped, __ATOMIC_RELAXED);
}

static uint64_t lbp_alloc_hooked;

#ifdef LBP_ALLOC_COUNT_ASAN
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void lbp_alloc_on_malloc(const volatile void *p, size_t n)
{
    __atomic_add_fetch(&lbp_alloc_hooked, 1, __ATOMIC_RELAXED);
}

static void lbp_alloc_on_free(const volatile void *p)
{
}
#else
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
static bool lbp_alloc_counting;

static void lbp_alloc_tick(void)
{
    if (__atomic_load_n(&lbp_alloc_counting, __ATOMIC_RELAXED))
        __atomic_add_fetch(&lbp_alloc_hooked, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n)
{
    lbp_alloc_tick();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    lbp_alloc_tick();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    lbp_alloc_tick();
    return __libc_realloc(p, n);
}
#endif

/* Starts the process-wide count; true when it runs. */
static inline bool lbp_alloc_count_start(void)
{
#ifdef LBP_ALLOC_COUNT_ASAN
    static bool installed;
    if (!installed)
        installed =
            __sanitizer_install_malloc_and_free_hooks(lbp_alloc_on_malloc, lbp_alloc_on_free) != 0;
    return installed;
#else
    __atomic_store_n(&lbp_alloc_counting, true, __ATOMIC_RELAXED);
    return true;
#endif
}

/* Allocations anywhere in the process since lbp_alloc_count_start. */
static inline uint64_t lbp_alloc_count_all(void)
{
    return __atomic_load_n(&lbp_alloc_hooked, __ATOMIC_RELAXED);
}

#endif
