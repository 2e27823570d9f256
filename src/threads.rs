//! Rayon pools of a given size, built once and reused, so the thread count is a value that flows down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use faer::Par;

/// The number of threads to use when the caller passes 0: the CPUs this process may run on.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn pools() -> &'static Mutex<HashMap<usize, Arc<rayon::ThreadPool>>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    POOLS.get_or_init(|| Mutex::new(HashMap::new()))
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
        let mut map = pools().lock().unwrap_or_else(|e| e.into_inner());
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
