//! The operating-system settings std does not expose: TCP options on a
//! listening socket, the open-files limit, and how glibc's allocator keeps
//! memory. This is the crate's only `unsafe` code.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;

/// Sets the TCP options that every connection should have on `listener`:
/// on Linux the sockets it accepts inherit them, which matters because
/// tiny_http accepts the connections and never lets us touch their sockets.
///
/// - `TCP_NODELAY` turns off Nagle's algorithm. tiny_http writes a
///   response's head and body in separate writes; with Nagle on, the second
///   small write waits for the client's delayed ACK: measured here, a 12 KB
///   JSON response stalled about 40 ms, capping the server under 700
///   requests per second.
/// - TCP keepalive, probing after 30 s of silence, every 10 s, three times:
///   a client whose machine or network vanished mid-request (no FIN, no
///   RST) would otherwise hold its connection, and whatever thread reads
///   from it, for hours; now the read fails after about a minute. (It
///   cannot help against a client that is there but slow: it answers the
///   probes.)
pub fn tune_listener(listener: &TcpListener) -> io::Result<()> {
    set_option(listener, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    set_option(listener, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    set_option(listener, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 30)?;
    set_option(listener, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 10)?;
    set_option(listener, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3)
}

fn set_option(
    listener: &TcpListener,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the descriptor is a live socket owned by `listener`, and the
    // option value points at a c_int that outlives the call, with its size.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises this process's soft limit on open files to its hard limit, as
/// common servers do, and returns the new limit.
///
/// Every connection holds a descriptor (and tiny_http a thread), and the
/// usual soft limit of 1024 would make a connection flood hit the kernel's
/// limit early. Running out still ends in a logged non-zero exit (see
/// `server::work`), never in a server that is up but cannot accept.
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
/// dozens of connection threads from each holding a partly used heap.
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

/// Hands the free memory in glibc's heaps back to the OS (`malloc_trim`).
/// Elsewhere it does nothing.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is
    // thread-safe and touches no memory of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lets a descriptor survive `exec`, so the server process the supervisor
/// starts inherits it (std opens every descriptor close-on-exec).
pub fn make_inheritable(descriptor: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor owned by `descriptor`, clearing its flags.
    if unsafe { libc::fcntl(descriptor.as_raw_fd(), libc::F_SETFD, 0) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The listening socket a supervisor passed down as descriptor `fd`.
///
/// Only called with the number the supervisor put in the environment of
/// the process it started, for the socket it made inheritable; the check
/// below refuses anything that is not a listening TCP socket.
pub fn inherited_listener(fd: i32) -> io::Result<TcpListener> {
    let mut accepts: libc::c_int = 0;
    let mut size = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes a c_int into `accepts`, whose size it gets.
    let result = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&raw mut accepts).cast(),
            &raw mut size,
        )
    };
    if result != 0 || accepts == 0 {
        return Err(io::Error::other(format!(
            "descriptor {fd} is not a listening socket"
        )));
    }
    // SAFETY: `fd` is an open listening socket that nothing else in this
    // process owns: it came through exec from the supervisor.
    Ok(unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Starts `command` so that it is killed if this process dies: a server
/// process must never outlive its supervisor (it would keep the port and
/// the database and answer no signal sent to the supervisor's pid).
pub fn spawn_tied_to_parent(
    command: &mut std::process::Command,
) -> io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid cannot fail and touches no memory of ours.
    let parent = unsafe { libc::getpid() };
    // The child gets its own process group, so that a Ctrl-C in a terminal
    // reaches only the supervisor, which passes it on once.
    command.process_group(0);
    // SAFETY: between fork and exec the closure only calls prctl and
    // getppid, which are async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would kill us.
            if libc::getppid() != parent {
                return Err(io::Error::other("the supervisor is gone"));
            }
            Ok(())
        });
    }
    command.spawn()
}

/// Writes one byte to descriptor `fd`, inherited from the supervisor, and
/// closes it: the server process's "ready" signal.
pub fn signal_ready(fd: i32) -> io::Result<()> {
    use std::io::Write;
    // SAFETY: `fd` is the write end of a pipe the supervisor made
    // inheritable for this process and nothing else here owns.
    let mut pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    pipe.write_all(b"\n")
}

/// Sends `signal` to process `pid` (a child of ours).
pub fn send_signal(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a valid signal number; at worst ESRCH.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}
