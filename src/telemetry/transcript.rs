//! The incremental transcript reader: blocking file I/O (callers run it off the async
//! executor), reading only the bytes appended since the cursor, up to the size the file had
//! when the read began.
//!
//! The path comes from a hook payload: only a regular file of the daemon's own user is read,
//! never through a symbolic link, and nothing at that path (a FIFO, a device) can block the
//! reader. Anything else is refused (`InvalidInput`) and the figures stay as they were.
//!
//! Only complete lines count. A last line still being written is looked at once: the cursor
//! remembers how far, and its bytes are read again only when its end arrives. A line over
//! `MAX_LINE` is skipped up to its end, never held whole. A file that shrank below the cursor
//! or is another file now (other device or inode) is read from the start with fresh figures. A
//! malformed line is skipped and counted, never an error: lines that could carry usage are
//! parsed, the others only checked to look like a JSON object.

use std::borrow::Cow;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use serde::Deserialize;

use super::{Reply, Telemetry, Usage};

/// Bytes read at a time (a first read of a long conversation is many of these).
const CHUNK: usize = 1 << 20;
/// A line longer than this is skipped without being kept whole in memory. Replies (the lines
/// with usage) are far smaller; pasted images and huge tool results live in user lines.
pub const MAX_LINE: usize = 8 << 20;

/// The outcome of one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The figures after the read.
    pub telemetry: Telemetry,
    /// Lines skipped because they were not JSON.
    pub malformed: u64,
    /// Lines this read found over `MAX_LINE` (each is reported by one read only, though its
    /// end may come in a later one).
    pub long_lines: u64,
    /// Bytes read from the file: the appended ones, and the head of a line that an earlier read
    /// saw partly, once its end arrived.
    pub bytes_read: u64,
    /// The cursor did not fit the file (replaced or truncated): counted again from the start.
    pub started_over: bool,
}

/// Reads what was appended to the transcript at `path` since `before.cursor`.
pub fn read(path: &Path, before: &Telemetry) -> io::Result<Read> {
    let (file, meta) = open(path)?;
    let (dev, ino, size) = (meta.dev(), meta.ino(), meta.len());
    let c = &before.cursor;
    // Registries from before `scanned` was kept have 0 there.
    let scanned = c.offset.max(c.scanned);
    let fits = c.dev == dev && c.ino == ino && scanned <= size;
    let (mut telemetry, offset, scanned) = if fits {
        (before.clone(), c.offset, scanned)
    } else {
        let mut fresh = Telemetry::default();
        (fresh.cursor.dev, fresh.cursor.ino) = (dev, ino);
        (fresh, 0, 0)
    };
    let mut malformed = 0;
    let done = scan(&file, offset, scanned, size, |line| {
        if !count_line(&mut telemetry, line) {
            malformed += 1;
        }
    })?;
    (telemetry.cursor.offset, telemetry.cursor.scanned) = (done.offset, done.scanned);
    // The first read of a file is no news; a cursor that stopped fitting is.
    let started_over = !fits && *before != Telemetry::default();
    Ok(Read {
        telemetry,
        malformed,
        long_lines: done.long_lines,
        bytes_read: done.bytes_read,
        started_over,
    })
}

/// Opens `path` for reading when it names a regular file of this user, with its metadata.
fn open(path: &Path) -> io::Result<(File, Metadata)> {
    // Looked at before it is opened: opening a FIFO or a device has effects of its own (a
    // writer waiting on the FIFO goes on, a serial line resets).
    transcript_file(fs::symlink_metadata(path)?)?;
    // Something else may be there by now: the open neither follows a link nor waits for a
    // FIFO's writer (std adds O_CLOEXEC), and what it opened is checked again.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let meta = transcript_file(file.metadata()?)?;
    Ok((file, meta))
}

/// `meta` when it describes a regular file of this user, else why it is not read.
fn transcript_file(meta: Metadata) -> io::Result<Metadata> {
    let refused = if meta.file_type().is_symlink() {
        "a symbolic link"
    } else if !meta.is_file() {
        "not a regular file"
    } else if meta.uid() != rustix::process::geteuid().as_raw() {
        "a file of another user"
    } else {
        return Ok(meta);
    };
    Err(io::Error::new(io::ErrorKind::InvalidInput, refused))
}

/// Where a scan stopped.
struct Scan {
    /// The end of the last complete line: where the current line starts.
    offset: u64,
    /// The end of the bytes looked at; from `offset` to here the current line has no newline.
    scanned: u64,
    /// The current line is over `MAX_LINE`: its bytes are not kept, its end is looked for.
    skipping: bool,
    long_lines: u64,
    bytes_read: u64,
}

impl Scan {
    /// The current line is over `MAX_LINE`: counted once, however many reads it spans.
    fn too_long(&mut self) {
        if !self.skipping {
            self.long_lines += 1;
            self.skipping = true;
        }
    }
}

/// Calls `each` with every complete line up to `end`, the first one starting at `offset`, and
/// returns where the scan stopped. The bytes from `offset` to `scanned` were looked at by an
/// earlier read (they hold no newline): the scan starts after them and reads them again only
/// when the line they start ends, and is not over `MAX_LINE`; longer lines are skipped.
fn scan(
    file: &File,
    offset: u64,
    scanned: u64,
    end: u64,
    mut each: impl FnMut(&[u8]),
) -> io::Result<Scan> {
    let mut s = Scan {
        offset,
        scanned,
        skipping: scanned - offset > MAX_LINE as u64,
        long_lines: 0,
        bytes_read: 0,
    };
    // The bytes from file offset `held` up to `s.scanned`; the current line's head is not
    // among them when an earlier read saw it or when the line is being skipped.
    let (mut buf, mut held) = (Vec::new(), scanned);
    while s.scanned < end {
        let had = buf.len();
        buf.resize(had + CHUNK.min((end - s.scanned) as usize), 0);
        let n = read_at(file, &mut buf[had..], s.scanned)?;
        buf.truncate(had + n);
        if n == 0 {
            break; // the file shrank while it was read
        }
        (s.scanned, s.bytes_read) = (s.scanned + n as u64, s.bytes_read + n as u64);
        // Only the new bytes can hold a newline.
        let mut from = had;
        while let Some(i) = memchr::memchr(b'\n', &buf[from..]) {
            let newline = from + i;
            let line_end = held + newline as u64;
            if line_end - s.offset > MAX_LINE as u64 {
                s.too_long();
            } else if held > s.offset {
                // An earlier read saw the line's head: read it again now that the line is whole.
                let mut line = vec![0; (held - s.offset) as usize];
                file.read_exact_at(&mut line, s.offset)?;
                s.bytes_read += line.len() as u64;
                line.extend_from_slice(&buf[..newline]);
                each(&line);
            } else {
                each(&buf[(s.offset - held) as usize..newline]);
            }
            (s.offset, s.skipping) = (line_end + 1, false);
            from = newline + 1;
        }
        if s.scanned - s.offset > MAX_LINE as u64 {
            s.too_long();
        }
        // Keep the current line's bytes only, and none of a line being skipped.
        let keep = if s.skipping {
            s.scanned
        } else {
            s.offset.max(held)
        };
        buf.drain(..(keep - held) as usize);
        held = keep;
    }
    Ok(s)
}

/// `file.read_at`, again when a signal interrupted it.
fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, at) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// One line in the shape Claude Code 2.1.x writes; every other key is ignored.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Cow<'a, str>,
    #[serde(rename = "isSidechain", default)]
    sidechain: bool,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    model: Cow<'a, str>,
    usage: Option<WireUsage>,
}

/// `message.usage`; a missing or null count is 0.
#[derive(Deserialize)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

/// Notes the prompt a user line belongs to (its `promptId`), found without parsing the line:
/// in JSON these bytes can only be a key, as quotes inside strings are escaped.
fn see_prompt(t: &mut Telemetry, line: &[u8]) {
    const KEY: &[u8] = b"\"promptId\":\"";
    let Some(at) = memchr::memmem::find(line, KEY).map(|i| i + KEY.len()) else {
        return;
    };
    let id = line
        .get(at..at + 37)
        .and_then(|v| v.strip_suffix(b"\""))
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| uuid::Uuid::try_parse(v).ok())
        .map(|u| u.hyphenated().to_string());
    if let Some(id) = id {
        t.cursor.prompt = id;
    }
}

/// Counts one line when it is an assistant reply with usage; false when it is malformed.
fn count_line(t: &mut Telemetry, line: &[u8]) -> bool {
    // Only lines with a "usage" key can count: the rest (user lines, tool results, often most
    // of the file) are not parsed, only checked to look like the JSON object every line is.
    if memchr::memmem::find(line, b"\"usage\"").is_none() {
        let line = line.trim_ascii();
        let object = line.is_empty() || (line.starts_with(b"{") && line.ends_with(b"}"));
        if object {
            see_prompt(t, line);
        }
        return object;
    }
    let Ok(l) = serde_json::from_slice::<Line<'_>>(line) else {
        return false;
    };
    // A user line can hold "usage" too (a sub-agent's result).
    see_prompt(t, line);
    if l.kind != "assistant" {
        return true;
    }
    let Some(Message {
        id,
        model,
        usage: Some(u),
    }) = l.message
    else {
        return true;
    };
    t.count(Reply {
        id: &id,
        model: &model,
        usage: Usage {
            input: u.input_tokens.unwrap_or(0),
            output: u.output_tokens.unwrap_or(0),
            cache_creation: u.cache_creation_input_tokens.unwrap_or(0),
            cache_read: u.cache_read_input_tokens.unwrap_or(0),
        },
        // API errors are written as replies of the model "<synthetic>" with no usage.
        aside: l.sidechain || model == "<synthetic>",
    });
    true
}
