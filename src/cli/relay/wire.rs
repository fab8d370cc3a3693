//! The relay's D-Bus client: blocking, and only what one hook run needs. It connects to the
//! daemon's hook socket (a peer-to-peer connection, `crate::bus_address::hook_socket`) or to
//! the session bus's socket, authenticates (EXTERNAL, the caller's uid), says Hello to a bus
//! and makes method calls, each within a deadline. Authentication, Hello and the first call go
//! out in one write (the other end reads what follows BEGIN as messages), so a call costs one
//! round trip.
//! Messages are written and read by `marshal`; no runtime, no background task, no match rule.
//! Anything it cannot do (a bus that is not on a unix socket, a reply it does not expect) is an
//! error, and the relay fails open.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use rustix::net::SocketAddrUnix;

use super::marshal::{Call, FIXED, METHOD_RETURN, Reply, message_len};
use crate::bus_address::{hook_socket, session_socket};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Messages larger than this are not ours to read (the D-Bus limit is 128 MiB; the relay's
/// replies are a few KB).
const MAX_MESSAGE: usize = 4 << 20;

/// A connection to the session bus, or to the daemon itself.
pub struct Bus {
    sock: UnixStream,
    /// Bytes read and not yet taken as a message.
    buf: Vec<u8>,
    /// What goes out with the first call: the authentication (and a bus's Hello).
    unsent: Vec<u8>,
    /// Whether the other end's answer to the authentication was read.
    authenticated: bool,
    /// The serial of the last message sent.
    serial: u32,
}

impl Bus {
    /// Connects to the session bus. The authentication and Hello go out with the first call.
    pub fn connect() -> Result<Bus> {
        let sock = open(&session_socket()?)?;
        let hello = Call::to_bus("Hello", &[]).encode(1)?;
        Ok(Bus::new(sock, &hello))
    }

    /// Connects to the daemon's hook socket for the session bus, when the daemon listens there
    /// and runs as this user (the socket's other end, as the kernel says). The authentication
    /// goes out with the first call.
    pub fn connect_daemon() -> Result<Bus> {
        let path = hook_socket(&session_socket()?).ok_or("the bus has no hook socket")?;
        let sock = open(&SocketAddrUnix::new(path)?)?;
        let peer = rustix::net::sockopt::socket_peercred(&sock)?;
        if peer.uid != rustix::process::getuid() {
            return Err("the hook socket is another user's".into());
        }
        Ok(Bus::new(sock, &[]))
    }

    fn new(sock: UnixStream, first: &[u8]) -> Bus {
        let uid = rustix::process::getuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let mut unsent = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").into_bytes();
        unsent.extend_from_slice(first);
        Bus {
            sock,
            buf: Vec::with_capacity(4096),
            unsent,
            authenticated: false,
            serial: 1,
        }
    }

    /// Makes the call and returns its reply; an error reply is an error.
    pub fn call(&mut self, call: &Call<'_>, deadline: Instant) -> Result<Reply> {
        self.serial += 1;
        let serial = self.serial;
        let mut out = std::mem::take(&mut self.unsent);
        out.extend_from_slice(&call.encode(serial)?);
        self.write(&out, deadline)?;
        if !self.authenticated {
            self.read_auth_answer(deadline)?;
            self.authenticated = true;
        }
        loop {
            let reply = self.next_message(deadline)?;
            if reply.reply_to != Some(serial) {
                // Hello's reply (its name is of no use here), or a signal such as NameAcquired.
                continue;
            }
            return match reply.kind {
                METHOD_RETURN => Ok(reply),
                _ => Err("the call failed".into()),
            };
        }
    }

    fn write(&mut self, bytes: &[u8], deadline: Instant) -> Result<()> {
        self.sock.set_write_timeout(Some(remaining(deadline)?))?;
        Ok(self.sock.write_all(bytes)?)
    }

    /// Reads more bytes into the buffer, waiting until `deadline` at most.
    fn fill(&mut self, deadline: Instant) -> Result<()> {
        self.sock.set_read_timeout(Some(remaining(deadline)?))?;
        let mut chunk = [0u8; 8192];
        match self.sock.read(&mut chunk)? {
            0 => Err("the bus closed the connection".into()),
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// Takes the bus's answer to the authentication ("OK <guid>") off the buffer.
    fn read_auth_answer(&mut self, deadline: Instant) -> Result<()> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                if !self.buf.starts_with(b"OK ") {
                    return Err("the bus refused the authentication".into());
                }
                self.buf.drain(..end + 2);
                return Ok(());
            }
            if self.buf.len() > 512 {
                return Err("the bus's authentication answer is too long".into());
            }
            self.fill(deadline)?;
        }
    }

    /// The next whole message.
    fn next_message(&mut self, deadline: Instant) -> Result<Reply> {
        while self.buf.len() < FIXED {
            self.fill(deadline)?;
        }
        let total = message_len(&self.buf[..FIXED], MAX_MESSAGE)?;
        while self.buf.len() < total {
            self.fill(deadline)?;
        }
        let reply = Reply::decode(&self.buf[..total])?;
        self.buf.drain(..total);
        Ok(reply)
    }
}

/// A blocking connection to the unix socket `addr`.
fn open(addr: &SocketAddrUnix) -> Result<UnixStream> {
    // Never blocks: a listener whose backlog is full refuses at once, as an async client's
    // connect would.
    let fd = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::connect(&fd, addr)?;
    let sock = UnixStream::from(fd);
    sock.set_nonblocking(false)?;
    Ok(sock)
}

/// Time left until `deadline` (an error once it passed: a zero timeout would mean none).
fn remaining(deadline: Instant) -> Result<std::time::Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("out of time".into());
    }
    Ok(left)
}
