//! What std does not expose: registering a socket with the poller, the
//! open-files limit, and how glibc's allocator keeps memory. This is the
//! crate's only `unsafe` code; anything specific to one OS or C library is
//! behind `cfg`, with a portable fallback that does without.

use std::io;
use std::os::fd::AsRawFd;

/// Starts watching `socket` for `interest` (one-shot: see `http::poller`).
pub fn watch(
    poller: &polling::Poller,
    socket: &impl AsRawFd,
    interest: polling::Event,
) -> io::Result<()> {
    // SAFETY: `polling` asks that a source be deleted from the poller
    // before it is dropped, so that no event names a reused descriptor.
    // While the server runs every socket is: the poller deletes a
    // connection's socket before dropping it (`Poller::close`), as does a
    // worker that closes one (`Handoff::continue_with`), and shutdown
    // deletes the listener. Sockets still open when the poller has exited
    // are dropped with the poller's tables at the end of shutdown, when no
    // one waits on the poller any more; and on epoll and kqueue a closed
    // descriptor leaves the set by itself.
    unsafe { poller.add(socket, interest) }
}

/// Sets `TCP_NODELAY` on a listening socket, so that on Linux the sockets
/// it accepts inherit it. Only the benchmark's tiny_http baseline
/// (`examples/hello.rs`) needs this: tiny_http accepts its connections
/// itself and writes a response's head and body separately, which Nagle's
/// algorithm would delay by the client's delayed ACK (about 40 ms). The
/// server sets the option on each socket it accepts instead.
pub fn inherit_nodelay(listener: &std::net::TcpListener) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: the descriptor is a live socket owned by `listener`, and the
    // option value points at a c_int that outlives the call, with its size.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether an `accept` error means the process or the system has run out
/// of something (descriptors, buffers, memory), so accepting should pause,
/// rather than that one connection failed.
pub fn is_out_of_resources(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Raises this process's soft limit on open files to its hard limit, as
/// common servers do, and returns the new limit.
///
/// Every connection holds a descriptor, and the usual soft limit of 1024
/// would cap the server far below `--max-connections`. Running out anyway
/// pauses accepting briefly (see `http::poller`); it never stops the
/// server.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and pass by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the struct we own; raising the soft limit
        // up to the hard limit needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// Tells glibc's allocator to hand large blocks back to the OS when they are
/// freed and to keep few per-thread arenas.
///
/// Every argon2id hash allocates and frees 19 MiB. glibc serves blocks that
/// large with mmap, but after the first such free it raises its mmap
/// threshold above 19 MiB, and from then on keeps those blocks in its heaps
/// for reuse: measured here, a login flood left the server at 394 MiB of
/// RSS. Fixing the threshold (which turns off that adjustment) returns each
/// hash's memory when it is done. Limiting arenas to two per core keeps
/// the workers and hashing threads from each holding a partly used heap.
/// On other C libraries this does nothing: the options are glibc's.
pub fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only changes allocator parameters; the values are
        // valid for both options.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
            libc::mallopt(
                libc::M_ARENA_MAX,
                2 * crate::config::cpu_count() as libc::c_int,
            );
        }
    }
}
