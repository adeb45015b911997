//! The buffers blocks travel in, recycled: a peer thread takes one for each `piece`
//! message it reads, the block saver gives it back once the block is written.
//!
//! Without the pool each 16 KiB block is a fresh allocation on the peer thread, freed on
//! the saver's: the allocator keeps trimming and regrowing its arenas, which the kernel
//! pays for in page faults (6–10k per GiB). The pool is a bounded channel of empty
//! buffers, so what it holds is bounded too ([`CAPACITY`] blocks); a buffer that does not
//! fit is freed, and a peer thread that finds the pool empty allocates, as before.

use crate::geometry::BLOCK_SIZE;
use crossbeam_channel::{Receiver, Sender, bounded};

/// Empty buffers the pool keeps at most: 1 MiB of 16 KiB blocks.
pub const CAPACITY: usize = 64;

/// Both ends of the pool; clones share it.
#[derive(Clone, Debug)]
pub struct BlockPool {
    give: Sender<Vec<u8>>,
    take: Receiver<Vec<u8>>,
}

impl BlockPool {
    pub fn new() -> BlockPool {
        let (give, take) = bounded(CAPACITY);
        BlockPool { give, take }
    }

    /// An empty buffer with room for `len` bytes: a recycled one if the pool has one and
    /// it is large enough, else a new one.
    pub fn take(&self, len: usize) -> Vec<u8> {
        match self.take.try_recv() {
            Ok(buffer) if buffer.capacity() >= len => buffer,
            _ => Vec::with_capacity(len),
        }
    }

    /// Returns a buffer to the pool, emptied; freed instead if it is not a whole block's
    /// size or the pool is full.
    pub fn give(&self, mut buffer: Vec<u8>) {
        if buffer.capacity() == BLOCK_SIZE as usize {
            buffer.clear();
            let _ = self.give.try_send(buffer);
        }
    }
}

impl Default for BlockPool {
    fn default() -> Self {
        BlockPool::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_block_comes_back_empty_with_its_memory() {
        let pool = BlockPool::new();
        let mut block = pool.take(BLOCK_SIZE as usize);
        block.extend_from_slice(&[7; BLOCK_SIZE as usize]);
        let address = block.as_ptr();
        pool.give(block);
        let again = pool.take(BLOCK_SIZE as usize);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), address);
    }

    #[test]
    fn odd_sizes_are_freed_and_the_pool_stays_bounded() {
        let pool = BlockPool::new();
        pool.give(Vec::with_capacity(100));
        assert_eq!(pool.take.len(), 0);
        for _ in 0..CAPACITY + 10 {
            pool.give(Vec::with_capacity(BLOCK_SIZE as usize));
        }
        assert_eq!(pool.take.len(), CAPACITY);
        // A shorter block (the last of a piece) fits in a recycled buffer.
        assert!(pool.take(1000).capacity() >= 1000);
        assert_eq!(pool.take.len(), CAPACITY - 1);
    }
}
