//! Test helpers for this and other crates' tests: a private redis-server a test can kill
//! and start again (faults the shared server must not suffer).

use std::process::{Child, Command, Stdio};

/// A TCP port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(16_379)
}

/// Starts `redis-server` on `port`, keeping nothing on disk.
pub fn start_redis(port: u16) -> std::io::Result<Child> {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
}
