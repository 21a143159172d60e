//! A fixed set of threads for password hashing, one per core.
//!
//! Each Argon2id hash allocates `m_cost` KiB (19 MiB by default). A fixed set
//! of named threads bounds how many hashes run at once and keeps them off
//! tokio's blocking pool (whose many threads each got a malloc arena).
//! It does not bound memory by itself: glibc raises its mmap threshold after
//! the first such block is freed, serves later blocks from the heap, and keeps
//! them there, fragmented. 120 sign-ins left 408 MB resident here, on two
//! hashing threads. With `MALLOC_MMAP_THRESHOLD_=1048576` in the environment
//! (the Docker image sets it) every block is mapped and unmapped: 37 MB after
//! the same load, 76 MB at its peak. The in-code fix would be to keep one
//! block per thread and hash with `hash_password_into_with_memory`; see the
//! README's "Performance".
//!
//! Callers take a permit first (one per thread), so a waiting sign-in waits
//! in async code, where dropping the request also drops its place in line,
//! rather than as a job queued behind the threads.
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Semaphore, oneshot};

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start a hashing thread")]
    Spawn(#[source] std::io::Error),
    #[error("the hashing pool is closed")]
    Closed,
    #[error("the hashing job panicked")]
    Panicked,
}

/// The pool; dropping the last handle lets its threads end.
#[derive(Debug)]
pub struct HashPool {
    jobs: mpsc::Sender<Job>,
    permits: Semaphore,
}

impl HashPool {
    /// Starts `threads` hashing threads.
    pub fn new(threads: usize) -> Result<Arc<Self>, Error> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&queue))
                .map_err(Error::Spawn)?;
        }
        Ok(Arc::new(Self { jobs, permits: Semaphore::new(threads.max(1)) }))
    }

    /// Runs `f` on a hashing thread once one is free.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Closed)?;
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        self.jobs.send(job).map_err(|_| Error::Closed)?;
        // A panic in `f` drops `done` unsent.
        result.await.map_err(|_| Error::Panicked)
    }
}

/// One thread's loop: until every sender is gone.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else { return };
        // A panicking job must not take the thread with it.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_named_threads_and_a_panic_spares_the_pool() {
        let pool = HashPool::new(1).unwrap();
        let name = pool.run(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert_eq!(name.as_deref(), Some("argon2-0"));
        #[allow(clippy::panic)]
        let failed = pool.run(|| panic!("boom")).await;
        assert!(matches!(failed, Err(Error::Panicked)));
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4, "the thread survived the panic");
    }
}
