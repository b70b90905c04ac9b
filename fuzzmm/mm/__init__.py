"""The seed model: Linux 3.8 NUMA-balancing THP migration over the pool's primitives.

state     the machine: nodes, the address space, the page table, shared books
memory    faults, zap, get_user_pages, the LRU and reclaim (the same in every variant)
base      NUMA hinting faults and migration as in v3.8-rc2, and the operations tasks run
variants  mel, v3.8 and hugh, each overriding what its patch changed; VARIANTS
oracles   the kernel invariants checked after a run and at the end of some operations
"""
