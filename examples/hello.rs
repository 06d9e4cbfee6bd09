//! A bare tiny_http "hello" server: the ceiling for any server built on
//! tiny_http on a given machine, used as the baseline in benchmarks.
//!
//! taskapi ran on tiny_http until its own connection layer replaced it
//! (README, "Why taskapi has its own HTTP layer"); this server stays as the
//! benchmark's baseline for that layer. It uses a worker pool like
//! taskapi's and a `TCP_NODELAY` listener, and answers every request with
//! tiny_http's own `respond` (so it keeps connections alive unless the
//! client asks not to).
//!
//! ```sh
//! cargo run --release --example hello -- 127.0.0.1:8001 8
//! ```

use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use tiny_http::{Response, Server};

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8001".to_owned());
    let workers: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(8);

    let listener = TcpListener::bind(&addr).expect("bind the address");
    taskapi::sys::inherit_nodelay(&listener).expect("set TCP_NODELAY");
    let server = Arc::new(Server::from_listener(listener, None).expect("start tiny_http"));
    eprintln!("hello listening on http://{}", server.server_addr());

    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let server = Arc::clone(&server);
            thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    let _ = request.respond(Response::from_string("hello world"));
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}
