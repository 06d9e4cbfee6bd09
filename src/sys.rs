//! The two operating-system settings std does not expose: `TCP_NODELAY` on a
//! listening socket, and the open-files limit. This is the crate's only
//! `unsafe` code.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;

/// Turns off Nagle's algorithm on `listener`; on Linux every socket it
/// accepts inherits the setting.
///
/// tiny_http writes a response's head and body in separate writes and never
/// sets `TCP_NODELAY` itself. With Nagle on, the second small write waits for
/// the client's delayed ACK: measured here, a 12 KB JSON response stalled
/// about 40 ms, capping the server under 700 requests per second.
pub fn set_nodelay(listener: &TcpListener) -> io::Result<()> {
    let enable: libc::c_int = 1;
    // SAFETY: the descriptor is a live socket owned by `listener`, and the
    // option value points at a c_int that outlives the call, with its size.
    let result = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const enable).cast(),
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
