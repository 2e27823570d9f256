//! Rayon pools of a given size, built once per process and reused, so the thread count is a value that flows down.

use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};

use faer::Par;

/// The number of threads to use when the caller passes 0: the CPUs this process may run on.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The pools of one process. A child made by `fork` inherits the parent's pools without their
/// worker threads (fork copies only the calling thread), and maybe with the map's lock held by
/// a thread that no longer exists: work sent to such a pool waits forever. So the pools are
/// tied to the process id, and a process that finds another process's pools starts its own.
struct Pools {
    pid: u32,
    by_size: Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>,
}

static POOLS: AtomicPtr<Pools> = AtomicPtr::new(ptr::null_mut());

/// This process's pools, made on first use in each process.
fn pools() -> &'static Pools {
    let pid = std::process::id();
    loop {
        let current = POOLS.load(Ordering::Acquire);
        // SAFETY: POOLS only ever holds null or a pointer from `Box::into_raw` below that is
        // never freed, so a non-null value is valid for the rest of the process.
        if let Some(pools) = unsafe { current.as_ref() } {
            if pools.pid == pid {
                return pools;
            }
        }
        let fresh = Box::into_raw(Box::new(Pools {
            pid,
            by_size: Mutex::new(HashMap::new()),
        }));
        // The parent's pools are left behind, never dropped: their threads do not exist here,
        // and dropping a pool would signal them.
        match POOLS.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` came from `Box::into_raw` and is now owned by POOLS forever.
            Ok(_) => return unsafe { &*fresh },
            // Another thread of this process swapped first: free ours (nobody else saw it) and
            // look again.
            // SAFETY: `fresh` was never published, so this is its only owner.
            Err(_) => drop(unsafe { Box::from_raw(fresh) }),
        }
    }
}

/// Runs `f` inside a pool of `threads` workers (0 = default) and hands it the matching faer `Par`.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce(Par) -> R + Send) -> R {
    let threads = if threads == 0 {
        default_threads()
    } else {
        threads
    };
    if threads == 1 {
        return f(Par::Seq);
    }
    let pool = {
        let mut map = pools().by_size.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(threads)
            .or_insert_with(|| {
                Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .thread_name(|i| format!("cgfast-{i}"))
                        .build()
                        .expect("building a rayon pool"),
                )
            })
            .clone()
    };
    pool.install(|| f(Par::rayon(threads)))
}
