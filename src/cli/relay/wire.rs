//! The relay's own session bus client: blocking, and only what one hook run needs. It connects
//! to the bus's unix socket, authenticates (EXTERNAL, the caller's uid), says Hello and makes
//! method calls, each within a deadline. Authentication, Hello and the first call go out in
//! one write (the bus reads what follows BEGIN as messages), so a call costs one round trip.
//! Messages are written and read by `marshal`; no runtime, no background task, no match rule.
//! Anything it cannot do (a bus that is not on a unix socket, a reply it does not expect) is an
//! error, and the relay fails open.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use rustix::net::SocketAddrUnix;

use super::marshal::{Call, FIXED, METHOD_RETURN, Reply, message_len};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Messages larger than this are not ours to read (the D-Bus limit is 128 MiB; the relay's
/// replies are a few KB).
const MAX_MESSAGE: usize = 4 << 20;

/// A connection to the session bus.
pub struct Bus {
    sock: UnixStream,
    /// Bytes read and not yet taken as a message.
    buf: Vec<u8>,
    /// What goes out with the first call: the authentication and Hello.
    unsent: Vec<u8>,
    /// Whether the bus's answer to the authentication was read.
    authenticated: bool,
    /// The serial of the last message sent.
    serial: u32,
}

/// The session bus's socket, as zbus finds it (so the relay reaches the bus the clients do):
/// `DBUS_SESSION_BUS_ADDRESS`, else `unix:path=$XDG_RUNTIME_DIR/bus` (or
/// `/run/user/<euid>/bus`). Of an address, the `unix` transport with `path` or `abstract`
/// is taken, its value as written (zbus decodes no `%` escapes in either).
fn session_socket() -> Result<SocketAddrUnix> {
    let address = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Ok(address) => address,
        Err(_) => {
            let dir = std::env::var("XDG_RUNTIME_DIR")
                .unwrap_or_else(|_| format!("/run/user/{}", rustix::process::geteuid().as_raw()));
            format!("unix:path={dir}/bus")
        }
    };
    socket_of(&address)
}

/// The socket a D-Bus address names (see `session_socket`).
fn socket_of(address: &str) -> Result<SocketAddrUnix> {
    let Some(("unix", options)) = address.split_once(':') else {
        return Err("the session bus is not on a unix socket".into());
    };
    let (mut path, mut name) = (None, None);
    for option in options.split(',') {
        match option.split_once('=') {
            Some(("path", v)) if !v.is_empty() => path = Some(v),
            Some(("abstract", v)) if !v.is_empty() => name = Some(v),
            Some((key, v)) if !key.is_empty() && !v.is_empty() => {}
            _ => return Err("the session bus address is not valid".into()),
        }
    }
    Ok(match (path, name) {
        (Some(path), None) => SocketAddrUnix::new(path)?,
        (None, Some(name)) => SocketAddrUnix::new_abstract_name(name.as_bytes())?,
        _ => return Err("the session bus address names no socket".into()),
    })
}

impl Bus {
    /// Connects to the session bus. The authentication and Hello go out with the first call.
    pub fn connect() -> Result<Bus> {
        let addr = session_socket()?;
        // Never blocks: a bus whose backlog is full refuses at once, as an async client's
        // connect would.
        let fd = rustix::net::socket_with(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
            None,
        )?;
        rustix::net::connect(&fd, &addr)?;
        let sock = UnixStream::from(fd);
        sock.set_nonblocking(false)?;
        let uid = rustix::process::getuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        let hello = Call::to_bus("Hello", &[]);
        let mut unsent = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").into_bytes();
        unsent.extend_from_slice(&hello.encode(1)?);
        Ok(Bus {
            sock,
            buf: Vec::with_capacity(4096),
            unsent,
            authenticated: false,
            serial: 1,
        })
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

/// Time left until `deadline` (an error once it passed: a zero timeout would mean none).
fn remaining(deadline: Instant) -> Result<std::time::Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err("out of time".into());
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_addresses_name_their_socket_and_others_are_refused() {
        let path = socket_of("unix:path=/run/user/1000/bus").unwrap();
        assert_eq!(path.path().unwrap().to_str(), Ok("/run/user/1000/bus"));
        let named = socket_of("unix:abstract=/tmp/dbus-x1,guid=0123456789abcdef").unwrap();
        assert_eq!(named.abstract_name(), Some(&b"/tmp/dbus-x1"[..]));
        for bad in [
            "",
            "unix:",
            "tcp:host=localhost,port=1",
            "unix:dir=/tmp",
            "unix:path=/a,abstract=b",
            "unix:path=",
            "unix:path=/a,guid",
        ] {
            assert!(socket_of(bad).is_err(), "{bad:?}");
        }
    }
}
