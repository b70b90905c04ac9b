"""The seed model: Linux 3.8 NUMA-balancing THP migration over the pool's primitives.

state        the machine: nodes, the address space, the page table, shared books
memory       faults, zap, get_user_pages, the LRU and reclaim (the same in every variant)
numa_fault   the NUMA hinting fault (mm/memory.c), mpol_misplaced and task_numa_fault
huge_memory  the THP hinting fault, do_huge_pmd_numa_page (mm/huge_memory.c), as in v3.8-rc2
migrate      THP and base-page migration (mm/migrate.c), as in v3.8-rc2
direct_io    O_DIRECT reads (fs/direct-io.c) and the lost-write oracle's data windows
compose      composed_of: findings name a mixin's functions after the class composing it
base         ThpNuma, the v3.8-rc2 variant: the operations tasks run, over the mixins above
variants     mel, v3.8 and hugh, each overriding what its patch changed; VARIANTS
oracles      the kernel invariants checked after a run and at the end of some operations
"""
