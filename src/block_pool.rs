//! The buffers blocks travel in, recycled: a peer thread takes one for each `piece`
//! message it reads, the block saver gives it back once the block is written.
//!
//! Without the pool each 16 KiB block is a fresh allocation on the peer thread, freed on
//! the saver's: the allocator keeps trimming and regrowing its arenas, which the kernel
//! pays for in page faults (6–10k per GiB). The pool is a bounded channel of used
//! buffers, so what it holds is bounded too ([`CAPACITY`] blocks); a buffer that does not
//! fit is freed, and a peer thread that finds the pool empty allocates, as before.
//!
//! A buffer comes back with its bytes (the last block it carried) and its length, so the
//! next block can be read over them: safe Rust may only read into initialized memory, and
//! a fresh buffer would have to be zeroed first, one more pass over every block (3% of a
//! download's CPU time, measured). The old bytes are never seen: a block's buffer is
//! handed on only once the peer has filled all of it.

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

    /// A buffer of `len` bytes to read a block over: a recycled one if the pool has one
    /// (holding old bytes; zeroed only where it was shorter), else a new, zeroed one.
    pub fn take(&self, len: usize) -> Vec<u8> {
        match self.take.try_recv() {
            Ok(mut buffer) => {
                if buffer.len() >= len {
                    buffer.truncate(len);
                } else {
                    buffer.resize(len, 0);
                }
                buffer
            }
            Err(_) => vec![0; len],
        }
    }

    /// Returns a buffer to the pool, bytes and all; freed instead if it is not a whole
    /// block's size or the pool is full.
    pub fn give(&self, buffer: Vec<u8>) {
        if buffer.capacity() == BLOCK_SIZE as usize {
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
    fn a_given_block_comes_back_at_the_length_asked_with_its_memory() {
        let pool = BlockPool::new();
        let mut block = pool.take(BLOCK_SIZE as usize);
        assert_eq!(
            block,
            vec![0; BLOCK_SIZE as usize],
            "a new buffer is zeroed"
        );
        block.fill(7);
        let address = block.as_ptr();
        pool.give(block);
        let again = pool.take(BLOCK_SIZE as usize);
        assert_eq!(again.len(), BLOCK_SIZE as usize);
        assert_eq!(again.as_ptr(), address);
        // A short last block, then a whole one in the same buffer: the tail it never
        // held is zeroed, not left uninitialized.
        pool.give(again);
        let mut short = pool.take(1000);
        assert_eq!(short.len(), 1000);
        short.fill(9);
        pool.give(short);
        let whole = pool.take(BLOCK_SIZE as usize);
        assert_eq!(whole.len(), BLOCK_SIZE as usize);
        assert!(whole[..1000].iter().all(|&b| b == 9));
        assert!(whole[1000..].iter().all(|&b| b == 0));
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
