"""Direct IO into a mapped address, after fs/direct-io.c, and the lost-write oracle's books.

An O_DIRECT read pins the user page with get_user_pages, the device DMAs
into it, the completion drops the pin (dio_bio_complete's put_page), and the
task reads the data back through its mapping.  Whatever moved the page in
between must not lose that write: the oracle (fuzzmm.mm.oracles.check_read_back,
check_dma_records) holds the read-back against the DMA, counting only a read
whose data window no zap or other IO overlapped.  The windows are kept here
because direct IO opens and closes most of them; the zapping operations open
theirs too.
"""
from fuzzmm.mm import oracles

IO_NODE = 0                 # the task issuing direct IO runs on node 0


class DirectIOPaths:
    """fs/direct-io.c: an O_DIRECT read in two halves, over MemoryPaths' get_user_pages,
    dma_write and read_user; and the data windows of the lost-write oracle."""

    # ---- the lost-write oracle's bookkeeping ----

    def open_data_window(self, addr):
        """From now on the data at `addr` may change (a zap, a direct IO): count the open
        window and bump the sequence, so no direct-IO read overlapping it counts."""
        self.mm.data_windows[addr].add(1)
        return self.mm.data_seq[addr].fetch_add(1)

    def close_data_window(self, addr):
        self.mm.data_seq[addr].add(1)
        self.mm.data_windows[addr].sub(1)

    # ---- direct IO, in two halves so tests can put work between them ----

    def dio_submit(self, addr):
        """Open the data window of `addr` and pin its page: (page, window start) or None."""
        start = self.open_data_window(addr)
        self.mm.mmap_sem.down_read()
        page = self.get_user_pages(addr, IO_NODE)
        self.mm.mmap_sem.up_read()
        if page is None:
            self.close_data_window(addr)
            return None
        return page, start

    def dio_complete(self, addr, io, value):
        """The DMA lands in the pinned page, the pin goes, the task reads `addr` back."""
        page, start = io
        self.dma_write(page, value)
        end = self.mm.data_seq[addr].fetch_add(1)
        self.put_page(page)
        # Ours alone: no zap or IO began in our window, and none began before it and is still open.
        clean = end == start + 1 and self.mm.data_windows[addr].load() == 1
        if clean:
            self.mm.dma_record[addr].store(value | (end + 1) << 8)
        self.mm.mmap_sem.down_read()
        seen = self.read_user(addr)
        self.mm.mmap_sem.up_read()
        self.mm.data_windows[addr].sub(1)
        if clean:
            oracles.check_read_back(self, addr, value, seen, end + 1)
