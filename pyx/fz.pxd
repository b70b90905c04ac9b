# Declarations of pyx/fz.h shared by every part of the compiled core.
from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t

cdef extern from "fz.h" nogil:
    enum:
        FZ_MAGIC
        FZ_VERSION
        FZ_MAX_TASKS
        FZ_MAX_SWITCH
        FZ_MAX_RECORD
        FZ_MAX_CP
        FZ_MAX_ORDER
        FZ_MAX_DECISIONS
        FZ_MAX_RAW
        FZ_MAX_NODES
        FZ_NR_VMSTAT
        FZ_NR_VMEVENT
        FZ_DETAIL
        FZ_SCENARIO
        FZ_MAX_DIRTY

    ctypedef struct fz_page:
        int32_t refcount
        int32_t mapcount
        uint32_t flags
        int32_t node
        uint32_t gen
        int32_t lock_owner
        int32_t lock_pid
        int32_t order
        int64_t content
        int32_t next_free
        int32_t waiters
        int32_t in_use
        uint32_t dropped
        int64_t mapping
        int8_t own[FZ_MAX_TASKS]
        int32_t dirty

    ctypedef struct fz_node:
        int32_t lock
        int32_t free_head
        int32_t nfree_pages
        int64_t vmstat[FZ_NR_VMSTAT]
        int64_t watermark_high
        int64_t present

    ctypedef struct fz_event:
        int64_t seq
        int32_t task
        int32_t op
        int64_t obj
        int64_t before
        int64_t after
        int64_t site

    ctypedef struct fz_ctl:
        int32_t mode
        int32_t current
        int64_t step
        int32_t run_gen
        int32_t run_state
        int32_t ntasks
        int32_t nfinished
        int32_t abort
        int32_t abort_task
        int32_t strategy
        int32_t shutdown
        int32_t parent_asleep
        int32_t run_task
        int64_t run_len
        int64_t max_steps
        int64_t nops
        int64_t ticket
        int32_t task_state[FZ_MAX_TASKS]
        int32_t blocked_kind[FZ_MAX_TASKS]
        int64_t blocked_on[FZ_MAX_TASKS]
        int32_t worker_pid[FZ_MAX_TASKS]
        int32_t worker_ready[FZ_MAX_TASKS]
        int32_t wake[FZ_MAX_TASKS]
        int32_t asleep[FZ_MAX_TASKS]
        int32_t ndirty
        int32_t dirty[FZ_MAX_DIRTY]
        int32_t nsw
        int32_t sw_idx
        int64_t sw_step[FZ_MAX_SWITCH]
        int32_t sw_task[FZ_MAX_SWITCH]
        int32_t prio[FZ_MAX_TASKS]
        int32_t ncp
        int32_t cp_idx
        int64_t cp_step[FZ_MAX_CP]
        uint64_t rng
        int32_t norder
        int32_t spin_iters
        int32_t nrec
        int32_t rec_overflow
        int64_t rec_step[FZ_MAX_RECORD]
        int32_t rec_task[FZ_MAX_RECORD]
        uint32_t delay_prob
        uint32_t delay_max_ns
        int32_t ring_on
        int32_t result_kind[FZ_MAX_TASKS]
        int64_t result_step[FZ_MAX_TASKS]
        int32_t detail_len[FZ_MAX_TASKS]
        char detail[FZ_MAX_TASKS][FZ_DETAIL]
        int32_t latent_len[FZ_MAX_TASKS]
        int64_t latent_step[FZ_MAX_TASKS]
        char latent[FZ_MAX_TASKS][FZ_DETAIL]
        int32_t scen_version
        int32_t scen_len
        char scen[FZ_SCENARIO]
        int8_t order[FZ_MAX_ORDER]
        int64_t ndecisions
        int32_t dec_overflow
        int8_t dec_task[FZ_MAX_DECISIONS]
        int8_t dec_cur[FZ_MAX_DECISIONS]
        int8_t dec_dflt[FZ_MAX_DECISIONS]
        uint64_t dec_enabled[FZ_MAX_DECISIONS]
        int64_t nraw
        int32_t raw_overflow
        int32_t raw_task[FZ_MAX_RAW]
        int64_t raw_step[FZ_MAX_RAW]
        int64_t raw_obj[FZ_MAX_RAW]
        int8_t raw_write[FZ_MAX_RAW]

    ctypedef struct fz_header:
        uint64_t magic
        int32_t version
        int32_t owner_pid
        int64_t size
        int64_t ctl_off, nodes_off, pages_off, events_off, heap_off, ring_off
        int32_t nnodes, npages
        int64_t heap_size, heap_used
        int64_t ring_cap
        int64_t ring_head
        int64_t state_off, state_len

    int32_t fz_load32(int32_t *p)
    int64_t fz_load64(int64_t *p)
    void fz_store32(int32_t *p, int32_t v)
    void fz_store64(int64_t *p, int64_t v)
    int32_t fz_add32(int32_t *p, int32_t v)
    int64_t fz_add64(int64_t *p, int64_t v)
    int32_t fz_xchg32(int32_t *p, int32_t v)
    int64_t fz_xchg64(int64_t *p, int64_t v)
    int32_t fz_or32(int32_t *p, int32_t v)
    int64_t fz_or64(int64_t *p, int64_t v)
    int32_t fz_and32(int32_t *p, int32_t v)
    int64_t fz_and64(int64_t *p, int64_t v)
    int32_t fz_cmpxchg32(int32_t *p, int32_t expected, int32_t desired)
    int64_t fz_cmpxchg64(int64_t *p, int64_t expected, int64_t desired)
    void fz_relax()
    int fz_futex_wait(int32_t *p, int32_t val, int64_t timeout_ns)
    int fz_futex_wake(int32_t *p, int32_t n)
    int64_t fz_now_ns()
    int fz_pid_alive(int pid)
    int fz_set_pdeathsig(int sig)
