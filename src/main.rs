//! The `hearth` binary: parse the command line and run the chosen mode.

fn main() -> std::process::ExitCode {
    #[cfg(feature = "memstats")]
    memstats::report_from_env();
    fewer_arenas();
    hearth::cmd::main()
}

/// glibc gives every thread that allocates its own arena (up to eight per
/// core), each holding freed pages of its own: with the runtime's worker and
/// blocking threads that is several megabytes resident for nothing. Two
/// arenas are plenty for hearth's few threads (measured at 300 services:
/// about 5 MB less). Must run before any thread starts.
fn fewer_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called first thing
    // in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Heap accounting for the soak harness (`scripts/measure-watch-soak.sh`),
/// compiled only with `--features memstats`: every allocation is counted, and
/// with `HEARTH_MEMSTATS=FILE` a thread appends `unix_secs,live_bytes,peak_bytes`
/// to FILE every 10 s. Live bytes are what the program holds; RSS adds the
/// allocator's free lists and fragmentation, so the two together tell a leak
/// from an allocator that keeps pages.
#[cfg(feature = "memstats")]
mod memstats {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    struct Counting;
    static LIVE: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    fn grew(by: usize) {
        let now = LIVE.fetch_add(by, Relaxed) + by;
        PEAK.fetch_max(now, Relaxed);
    }

    // SAFETY: every call is forwarded unchanged to the system allocator;
    // only the counters are added.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                LIVE.fetch_sub(layout.size(), Relaxed);
                grew(new_size);
            }
            p
        }
    }

    #[global_allocator]
    static ALLOC: Counting = Counting;

    pub fn report_from_env() {
        let Some(path) = std::env::var_os("HEARTH_MEMSTATS") else {
            return;
        };
        std::thread::spawn(move || loop {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let line = format!("{secs},{},{}\n", LIVE.load(Relaxed), PEAK.load(Relaxed));
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                use std::io::Write;
                let _ = f.write_all(line.as_bytes());
            }
            std::thread::sleep(std::time::Duration::from_secs(10));
        });
    }
}
