/* Shared-memory layout and the lowest-level operations of fuzzmm.
 *
 * Everything here lives inside one POSIX shared-memory segment that many
 * processes map at different addresses, so the layout holds offsets and
 * indices, never pointers.  Atomics are GCC __atomic builtins (sequentially
 * consistent); futexes are used without FUTEX_PRIVATE_FLAG because waiter and
 * waker are different processes.
 */
#ifndef FZ_H
#define FZ_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <sys/prctl.h>

#define FZ_MAGIC 0x667a7a6d6d303031ULL /* "fzzmm001" */
#define FZ_VERSION 3
#define FZ_MAX_TASKS 16
#define FZ_MAX_SWITCH 1024
#define FZ_MAX_RECORD 4096
#define FZ_MAX_CP 8
#define FZ_MAX_ORDER 65536
#define FZ_MAX_DECISIONS 65536
#define FZ_MAX_RAW 16384
#define FZ_MAX_NODES 8
#define FZ_NR_VMSTAT 8
#define FZ_NR_VMEVENT 16
#define FZ_DETAIL 2048
#define FZ_SCENARIO 65536
#define FZ_MAX_DIRTY 4096  /* pages a run may write before a rewind copies them all */

typedef struct {
    int32_t refcount;
    int32_t mapcount;
    uint32_t flags;      /* PG_* bits; also the futex word PG_locked waiters sleep on */
    int32_t node;
    uint32_t gen;        /* bumped on every free */
    int32_t lock_owner;  /* task holding PG_locked, -1 if none */
    int32_t lock_pid;    /* process holding PG_locked, 0 if none */
    int32_t order;       /* 0 for a base page, 9 for a THP head */
    int64_t content;     /* stands for the page's data */
    int32_t next_free;   /* free-list link, -1 ends the list */
    int32_t waiters;     /* processes sleeping on flags */
    int32_t in_use;      /* 1 between allocation and free */
    uint32_t dropped;    /* bit t: task t put its last own reference and has not taken one since */
    int64_t mapping;
    int8_t own[FZ_MAX_TASKS]; /* references each task took itself (gets, isolation, pins) */
    int32_t dirty;       /* 1 once written since the last rewind: listed in fz_ctl.dirty */
    char pad[44];
} fz_page;               /* 128 bytes */

typedef struct {
    int32_t lock;        /* internal spinlock word for the free list */
    int32_t free_head;
    int32_t nfree_pages; /* pages (THP heads count once) on the free list */
    int32_t pad0;
    int64_t vmstat[FZ_NR_VMSTAT];
    int64_t watermark_high;
    int64_t present;     /* base pages this node holds */
} fz_node;

typedef struct {
    int64_t seq;
    int32_t task;
    int32_t op;
    int64_t obj;
    int64_t before;
    int64_t after;
    int64_t site;
} fz_event;

typedef struct {
    int32_t mode;            /* FZ_FREE, FZ_CONTROLLED, FZ_CHAOS */
    int32_t current;         /* futex: the task whose turn it is */
    int64_t step;            /* global step (controlled) or sequence number (chaos) */
    int32_t run_gen;         /* futex: bumped to start a run; workers wait on it */
    int32_t run_state;       /* futex: FZ_IDLE, FZ_RUNNING, FZ_DONE; the parent waits on it */
    int32_t ntasks;
    int32_t nfinished;
    int32_t abort;           /* 0 or an FZ_ABORT_* reason */
    int32_t abort_task;      /* the task whose finding ended the run */
    int32_t strategy;        /* FZ_S_* */
    int32_t shutdown;
    int32_t parent_asleep;   /* the parent sleeps on run_state: the last task to end wakes it */
    int32_t run_task;        /* the task that took the last scheduling points in a row */
    int64_t run_len;         /* how many it took */
    int64_t max_steps;
    int64_t nops;            /* operations performed so far (guided mode) */
    int64_t ticket;          /* (run generation << 32) | tasks, written as one word at a run's start */
    int32_t task_state[FZ_MAX_TASKS];
    int32_t blocked_kind[FZ_MAX_TASKS];
    int64_t blocked_on[FZ_MAX_TASKS];
    int32_t worker_pid[FZ_MAX_TASKS];
    int32_t worker_ready[FZ_MAX_TASKS];
    int32_t wake[FZ_MAX_TASKS];   /* futex: bumped to wake worker t (its turn, a run, an abort) */
    int32_t asleep[FZ_MAX_TASKS]; /* worker t sleeps on wake[t]: a waker must make the call */
    int32_t ndirty;               /* pages listed in dirty (more than FZ_MAX_DIRTY: all) */
    int32_t dirty[FZ_MAX_DIRTY];  /* pages written since the last rewind, each listed once or more */
    int32_t nsw, sw_idx;
    int64_t sw_step[FZ_MAX_SWITCH];
    int32_t sw_task[FZ_MAX_SWITCH];
    int32_t prio[FZ_MAX_TASKS];
    int32_t ncp, cp_idx;
    int64_t cp_step[FZ_MAX_CP];
    uint64_t rng;
    int32_t norder, spin_iters;
    int32_t nrec, rec_overflow;
    int64_t rec_step[FZ_MAX_RECORD];
    int32_t rec_task[FZ_MAX_RECORD];
    uint32_t delay_prob;     /* chaos: chance out of 2^32 of a delay at a point */
    uint32_t delay_max_ns;
    int32_t ring_on;
    int32_t result_kind[FZ_MAX_TASKS];
    int64_t result_step[FZ_MAX_TASKS];
    int32_t detail_len[FZ_MAX_TASKS];
    char detail[FZ_MAX_TASKS][FZ_DETAIL];
    int32_t latent_len[FZ_MAX_TASKS];   /* a latent hazard each task showed (put-before-unlock) */
    int64_t latent_step[FZ_MAX_TASKS];
    char latent[FZ_MAX_TASKS][FZ_DETAIL];
    int32_t scen_version;
    int32_t scen_len;
    char scen[FZ_SCENARIO];
    int8_t order[FZ_MAX_ORDER];
    /* The decision taken at each step of the last controlled run (pyx/decisions.pxi), read by
     * systematic exploration: who ran, who decided, the default rule's choice, who could run. */
    int64_t ndecisions;
    int32_t dec_overflow;
    int8_t dec_task[FZ_MAX_DECISIONS];
    int8_t dec_cur[FZ_MAX_DECISIONS];
    int8_t dec_dflt[FZ_MAX_DECISIONS];
    uint64_t dec_enabled[FZ_MAX_DECISIONS];
    /* What tasks of that run read or wrote without a scheduling point (peek, poke, a page's
     * raw record): shared state the event ring does not see. */
    int64_t nraw;
    int32_t raw_overflow;
    int32_t raw_task[FZ_MAX_RAW];
    int64_t raw_step[FZ_MAX_RAW];
    int64_t raw_obj[FZ_MAX_RAW];
    int8_t raw_write[FZ_MAX_RAW];
} fz_ctl;

typedef struct {
    uint64_t magic;
    int32_t version;
    int32_t owner_pid;
    int64_t size;
    int64_t ctl_off, nodes_off, pages_off, events_off, heap_off, ring_off;
    int32_t nnodes, npages;
    int64_t heap_size, heap_used;
    int64_t ring_cap;
    int64_t ring_head;       /* records written since the last reset */
    int64_t state_off, state_len; /* what a reset restores: nodes, pages, events, heap */
} fz_header;

/* ---- atomics ---- */
static inline int32_t fz_load32(int32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline int64_t fz_load64(int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void fz_store32(int32_t *p, int32_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline void fz_store64(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static inline int32_t fz_add32(int32_t *p, int32_t v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline int64_t fz_add64(int64_t *p, int64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline int32_t fz_xchg32(int32_t *p, int32_t v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline int64_t fz_xchg64(int64_t *p, int64_t v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline int32_t fz_or32(int32_t *p, int32_t v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
static inline int64_t fz_or64(int64_t *p, int64_t v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
static inline int32_t fz_and32(int32_t *p, int32_t v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
static inline int64_t fz_and64(int64_t *p, int64_t v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
/* Returns the value found; the swap happened if it equals `expected`. */
static inline int32_t fz_cmpxchg32(int32_t *p, int32_t expected, int32_t desired) {
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}
static inline int64_t fz_cmpxchg64(int64_t *p, int64_t expected, int64_t desired) {
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}
static inline void fz_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- futex, shared between processes ---- */
/* Waits while *p == val, at most timeout_ns.  0: woken or value changed; ETIMEDOUT; EINTR. */
static inline int fz_futex_wait(int32_t *p, int32_t val, int64_t timeout_ns) {
    struct timespec ts;
    ts.tv_sec = timeout_ns / 1000000000LL;
    ts.tv_nsec = timeout_ns % 1000000000LL;
    long r = syscall(SYS_futex, p, FUTEX_WAIT, val, &ts, NULL, 0);
    if (r == 0) return 0;
    if (errno == EAGAIN) return 0;
    return errno;
}
static inline int fz_futex_wake(int32_t *p, int32_t n) {
    return (int)syscall(SYS_futex, p, FUTEX_WAKE, n, NULL, NULL, 0);
}
static inline int64_t fz_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
/* Whether a process exists and has not exited: a zombie (exited, not yet reaped,
 * as orphans of a killed parent can stay for a while) counts as dead. */
static inline int fz_pid_alive(int pid) {
    char path[64], buf[256];
    if (pid <= 0) return 0;
    if (kill(pid, 0) != 0 && errno != EPERM) return 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *close_paren = strrchr(buf, ')');
    if (close_paren && close_paren[1] == ' ' && (close_paren[2] == 'Z' || close_paren[2] == 'X')) return 0;
    return 1;
}
static inline int fz_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig); }
#endif
