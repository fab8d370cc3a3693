//! The few D-Bus messages the relay sends and reads, in the wire format of the D-Bus
//! specification, written by hand so that the relay needs nothing but std: method calls whose
//! arguments are strings and a dict of string and boolean variants, and replies whose bodies
//! are a boolean, or a string, an int32 and a string. Anything else is an error.

type Result<T> = std::result::Result<T, &'static str>;

/// A method call's argument.
pub enum Arg<'a> {
    Str(&'a str),
    /// `a{sv}`.
    Dict(&'a [(&'a str, Value<'a>)]),
}

/// A variant's value in a dict.
pub enum Value<'a> {
    Str(&'a str),
    Bool(bool),
}

/// The message types (the second byte of a message).
pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
/// The `NO_AUTO_START` flag: the bus must not start the destination.
pub const NO_AUTO_START: u8 = 0x2;
/// The fixed part of a header: endianness, type, flags, version, body length, serial, length
/// of the header fields.
pub const FIXED: usize = 16;

// Header field codes.
const PATH: u8 = 1;
const INTERFACE: u8 = 2;
const MEMBER: u8 = 3;
const REPLY_SERIAL: u8 = 5;
const DESTINATION: u8 = 6;
const SIGNATURE: u8 = 8;

/// A method call, little-endian.
pub struct Call<'a> {
    pub flags: u8,
    pub path: &'a str,
    pub destination: &'a str,
    pub interface: &'a str,
    pub member: &'a str,
    pub args: &'a [Arg<'a>],
}

impl<'a> Call<'a> {
    /// A call to the bus itself (`org.freedesktop.DBus`).
    pub fn to_bus(member: &'a str, args: &'a [Arg<'a>]) -> Call<'a> {
        Call {
            flags: 0,
            path: "/org/freedesktop/DBus",
            destination: "org.freedesktop.DBus",
            interface: "org.freedesktop.DBus",
            member,
            args,
        }
    }

    /// The message's bytes, with `serial`; strings holding a NUL (which D-Bus forbids) are an
    /// error.
    pub fn encode(&self, serial: u32) -> Result<Vec<u8>> {
        let mut body = Writer::default();
        let mut signature = String::new();
        for arg in self.args {
            match arg {
                Arg::Str(s) => {
                    signature.push('s');
                    body.str(s)?;
                }
                Arg::Dict(entries) => {
                    signature.push_str("a{sv}");
                    body.dict(entries)?;
                }
            }
        }
        let mut h = Writer::default();
        h.buf.extend_from_slice(&[b'l', METHOD_CALL, self.flags, 1]);
        h.u32(u32::try_from(body.buf.len()).map_err(|_| "the body is too large")?);
        h.u32(serial);
        let fields = h.array_start();
        h.field(PATH, "o", |w| w.str(self.path))?;
        h.field(DESTINATION, "s", |w| w.str(self.destination))?;
        h.field(INTERFACE, "s", |w| w.str(self.interface))?;
        h.field(MEMBER, "s", |w| w.str(self.member))?;
        if !signature.is_empty() {
            h.field(SIGNATURE, "g", |w| w.sig(&signature))?;
        }
        h.array_end(fields);
        h.pad(8);
        h.buf.extend_from_slice(&body.buf);
        Ok(h.buf)
    }
}

/// Writes values aligned as D-Bus wants, from an 8-aligned start (a header, or a body).
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, align: usize) {
        let len = self.buf.len().next_multiple_of(align);
        self.buf.resize(len, 0);
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn str(&mut self, s: &str) -> Result<()> {
        if s.contains('\0') {
            return Err("a string holds a NUL");
        }
        self.u32(u32::try_from(s.len()).map_err(|_| "a string is too long")?);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    /// A signature (short and ours: its length fits a byte).
    fn sig(&mut self, s: &str) -> Result<()> {
        self.buf
            .push(u8::try_from(s.len()).map_err(|_| "a signature is too long")?);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    /// Starts an array of 8-aligned elements; returns where its length goes and where its
    /// elements begin.
    fn array_start(&mut self) -> (usize, usize) {
        self.u32(0);
        let at = self.buf.len() - 4;
        self.pad(8);
        (at, self.buf.len())
    }

    /// Writes the array's length (its elements' bytes, without the padding before them).
    fn array_end(&mut self, (at, start): (usize, usize)) {
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// A header field: the struct `(y v)`.
    fn field(
        &mut self,
        code: u8,
        sig: &str,
        value: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<()> {
        self.pad(8);
        self.buf.push(code);
        self.sig(sig)?;
        value(self)
    }

    fn dict(&mut self, entries: &[(&str, Value<'_>)]) -> Result<()> {
        let array = self.array_start();
        for (key, value) in entries {
            self.pad(8);
            self.str(key)?;
            match value {
                Value::Str(s) => {
                    self.sig("s")?;
                    self.str(s)?;
                }
                Value::Bool(b) => {
                    self.sig("b")?;
                    self.u32(u32::from(*b));
                }
            }
        }
        self.array_end(array);
        Ok(())
    }
}

/// A message read from the bus: its type, the serial it replies to, its signature and body.
pub struct Reply {
    pub kind: u8,
    pub reply_to: Option<u32>,
    signature: String,
    big_endian: bool,
    body: Vec<u8>,
}

/// The length of the whole message whose first `FIXED` bytes `fixed` holds (checked against
/// the most the relay reads, `max`).
pub fn message_len(fixed: &[u8], max: usize) -> Result<usize> {
    let big_endian = match fixed[0] {
        b'l' => false,
        b'B' => true,
        _ => return Err("not a D-Bus message"),
    };
    let u32_at = |at: usize| read_u32(&fixed[at..at + 4], big_endian) as usize;
    let total = (FIXED + u32_at(12)).next_multiple_of(8) + u32_at(4);
    match total > max {
        true => Err("a message too large for the relay"),
        false => Ok(total),
    }
}

fn read_u32(b: &[u8], big_endian: bool) -> u32 {
    let raw = [b[0], b[1], b[2], b[3]];
    match big_endian {
        true => u32::from_be_bytes(raw),
        false => u32::from_le_bytes(raw),
    }
}

impl Reply {
    /// Reads one whole message (`message_len` bytes).
    pub fn decode(msg: &[u8]) -> Result<Reply> {
        let big_endian = msg[0] == b'B';
        let fields_len = read_u32(&msg[12..16], big_endian) as usize;
        let body_at = (FIXED + fields_len).next_multiple_of(8);
        let mut r = Reader {
            buf: msg.get(..FIXED + fields_len).ok_or("a short message")?,
            at: FIXED,
            big_endian,
        };
        let (mut reply_to, mut signature) = (None, String::new());
        while r.at < r.buf.len() {
            r.align(8)?;
            let code = r.byte()?;
            match (code, r.sig()?.as_str()) {
                (REPLY_SERIAL, "u") => reply_to = Some(r.u32()?),
                (SIGNATURE, "g") => signature = r.sig()?,
                (_, "s" | "o") => drop(r.str()?),
                (_, "g") => drop(r.sig()?),
                (_, "u") => drop(r.u32()?),
                _ => return Err("a header field the relay does not know"),
            }
        }
        Ok(Reply {
            kind: msg[1],
            reply_to,
            signature,
            big_endian,
            body: msg.get(body_at..).ok_or("a short message")?.to_vec(),
        })
    }

    fn body(&self, signature: &str) -> Result<Reader<'_>> {
        match self.signature == signature {
            true => Ok(Reader {
                buf: &self.body,
                at: 0,
                big_endian: self.big_endian,
            }),
            false => Err("a reply of another signature"),
        }
    }

    /// The body `(b)`.
    pub fn bool(&self) -> Result<bool> {
        match self.body("b")?.u32()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("not a boolean"),
        }
    }

    /// The body `(s i s)`.
    pub fn str_int_str(&self) -> Result<(String, i32, String)> {
        let mut r = self.body("sis")?;
        let first = r.str()?;
        let int = r.u32()? as i32;
        Ok((first, int, r.str()?))
    }
}

/// Reads values aligned as D-Bus wants, from an 8-aligned start.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    big_endian: bool,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let bytes = self
            .buf
            .get(self.at..self.at + n)
            .ok_or("a short message")?;
        self.at += n;
        Ok(bytes)
    }

    fn align(&mut self, align: usize) -> Result<()> {
        let to = self.at.next_multiple_of(align);
        self.take(to - self.at).map(drop)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        let big_endian = self.big_endian;
        Ok(read_u32(self.take(4)?, big_endian))
    }

    /// A string (and its NUL), as UTF-8.
    fn str(&mut self) -> Result<String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len + 1)?;
        String::from_utf8(bytes[..len].to_vec()).map_err(|_| "a string that is not UTF-8")
    }

    fn sig(&mut self) -> Result<String> {
        let len = self.byte()? as usize;
        let bytes = self.take(len + 1)?;
        String::from_utf8(bytes[..len].to_vec()).map_err(|_| "a signature that is not ASCII")
    }
}
