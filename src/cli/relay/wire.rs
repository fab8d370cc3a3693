//! The relay's own session bus client: blocking, and only what one hook run needs. It connects
//! to the bus's unix socket, authenticates (EXTERNAL, the caller's uid), says Hello and makes
//! method calls, each within a deadline. Authentication, Hello and the first call go out in
//! one write (the bus reads what follows BEGIN as messages), so a call costs one round trip.
//! Messages are built and read with zbus's own (de)serializer; no runtime, no background
//! task, no match rule. Anything it cannot do (a bus that is not on a unix socket, a reply it
//! does not expect) is an error, and the relay fails open.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use serde::de::DeserializeOwned;
use zbus::address::transport::{Transport, UnixSocket};
use zbus::message::{Message, Type};
use zbus::wire::{BE, LE, serialized};
use zbus::{OwnedVariant, Variant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The fixed part of a message header: endianness, type, flags, version, body length, serial,
/// length of the header fields.
const FIXED: usize = 16;
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
}

impl Bus {
    /// Connects to the session bus (as zbus finds it: `DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`). The authentication and Hello go out with the first call.
    pub fn connect() -> Result<Bus> {
        let address = zbus::Address::session()?;
        let Transport::Unix(unix) = address.transport() else {
            return Err("the session bus is not on a unix socket".into());
        };
        let addr = match unix.path() {
            UnixSocket::File(path) => rustix::net::SocketAddrUnix::new(path.as_path())?,
            UnixSocket::Abstract(name) => {
                rustix::net::SocketAddrUnix::new_abstract_name(name.as_encoded_bytes())?
            }
            _ => return Err("the session bus address names no socket".into()),
        };
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
        let mut unsent = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").into_bytes();
        let hello = Message::method_call("/org/freedesktop/DBus", "Hello")
            .destination("org.freedesktop.DBus")
            .interface("org.freedesktop.DBus")
            .build(&())?;
        unsent.extend_from_slice(hello.data());
        Ok(Bus {
            sock,
            buf: Vec::with_capacity(4096),
            unsent,
            authenticated: false,
        })
    }

    /// Calls `msg` and returns its reply's body; an error reply is an error.
    pub fn call<R: DeserializeOwned + zbus::Type>(
        &mut self,
        msg: &Message,
        deadline: Instant,
    ) -> Result<R> {
        let mut out = std::mem::take(&mut self.unsent);
        out.extend_from_slice(msg.data());
        self.write(&out, deadline)?;
        if !self.authenticated {
            self.read_auth_answer(deadline)?;
            self.authenticated = true;
        }
        let serial = msg.primary_header().serial_num().get();
        loop {
            let (reply_to, kind, body) = self.next_message(deadline)?;
            if reply_to != Some(serial) {
                // Hello's reply (its name is of no use here), or a signal such as NameAcquired.
                continue;
            }
            return match kind {
                Type::MethodReturn => Ok(body.deserialize::<R>()?.0),
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

    /// The next whole message: the serial it replies to, its type and its body.
    fn next_message(
        &mut self,
        deadline: Instant,
    ) -> Result<(Option<u32>, Type, serialized::Data<'static, 'static>)> {
        while self.buf.len() < FIXED {
            self.fill(deadline)?;
        }
        let endian = match self.buf[0] {
            b'l' => LE,
            b'B' => BE,
            _ => return Err("not a D-Bus message".into()),
        };
        let u32_at = |b: &[u8], at: usize| {
            let raw = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            match self.buf[0] {
                b'l' => u32::from_le_bytes(raw),
                _ => u32::from_be_bytes(raw),
            }
        };
        let (body_len, fields_len) = (
            u32_at(&self.buf, 4) as usize,
            u32_at(&self.buf, 12) as usize,
        );
        let body_at = (FIXED + fields_len).next_multiple_of(8);
        let total = body_at + body_len;
        if total > MAX_MESSAGE {
            return Err("a message too large for the relay".into());
        }
        while self.buf.len() < total {
            self.fill(deadline)?;
        }
        let msg: Vec<u8> = self.buf.drain(..total).collect();
        let kind = match msg[1] {
            2 => Type::MethodReturn,
            3 => Type::Error,
            4 => Type::Signal,
            _ => Type::MethodCall,
        };
        let ctxt = serialized::Context::new(endian, 0);
        let header = serialized::Data::new(msg[..FIXED + fields_len].to_vec(), ctxt);
        type Fields = (u8, u8, u8, u8, u32, u32, Vec<(u8, OwnedVariant)>);
        let (fields, _) = header.deserialize::<Fields>()?;
        // Header field 5 is the serial of the call this message replies to.
        let reply_to = fields.6.iter().find_map(|(code, v)| match (code, &**v) {
            (5, Variant::U32(serial)) => Some(*serial),
            _ => None,
        });
        let body = serialized::Data::new(msg[body_at..].to_vec(), ctxt);
        Ok((reply_to, kind, body))
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
