//! The incremental transcript reader: blocking file I/O (callers run it off the async
//! executor), reading only the bytes appended since the cursor, up to the size the file had
//! when the read began.
//!
//! The path comes from a hook payload: only a regular file of the daemon's own user is read,
//! never through a symbolic link, and nothing at that path (a FIFO, a device) can block the
//! reader. Anything else is refused (`InvalidInput`) and the figures stay as they were.
//!
//! Only complete lines count: a last line still being written is read again next time. A file
//! that shrank below the cursor or is another file now (other device or inode) is read from the
//! start with fresh figures. A malformed line is skipped and counted, never an error: lines
//! that could carry usage are parsed, the others only checked to look like a JSON object.

use std::borrow::Cow;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read as _, Seek};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use serde::Deserialize;

use super::{Reply, Telemetry, Usage};

/// Bytes read at a time (a first read of a long conversation is many of these).
const CHUNK: usize = 1 << 20;
/// A line longer than this is skipped without being kept whole in memory (pasted images and
/// huge tool results live in user lines; replies are far smaller).
const MAX_LINE: usize = 16 << 20;

/// The outcome of one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The figures after the read.
    pub telemetry: Telemetry,
    /// Lines skipped because they were not JSON (or were over-long).
    pub malformed: u64,
    /// The cursor did not fit the file (replaced or truncated): counted again from the start.
    pub started_over: bool,
}

/// Reads what was appended to the transcript at `path` since `before.cursor`.
pub fn read(path: &Path, before: &Telemetry) -> io::Result<Read> {
    let (file, meta) = open(path)?;
    let (dev, ino, size) = (meta.dev(), meta.ino(), meta.len());
    let c = &before.cursor;
    let fits = c.dev == dev && c.ino == ino && c.offset <= size;
    let mut telemetry = if fits {
        before.clone()
    } else {
        let mut fresh = Telemetry::default();
        (fresh.cursor.dev, fresh.cursor.ino) = (dev, ino);
        fresh
    };
    let mut malformed = 0;
    let start = telemetry.cursor.offset;
    telemetry.cursor.offset = scan(file, start, size - start, |line| {
        if !line.is_some_and(|l| count_line(&mut telemetry, l)) {
            malformed += 1;
        }
    })?;
    // The first read of a file is no news; a cursor that stopped fitting is.
    let started_over = !fits && *before != Telemetry::default();
    Ok(Read {
        telemetry,
        malformed,
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

/// Calls `each` with every complete line in `len` bytes from `start` (`None` for a line over
/// `MAX_LINE`) and returns the offset after the last complete line.
fn scan(
    mut file: File,
    start: u64,
    len: u64,
    mut each: impl FnMut(Option<&[u8]>),
) -> io::Result<u64> {
    file.seek(io::SeekFrom::Start(start))?;
    let mut file = file.take(len);
    let mut buf: Vec<u8> = Vec::with_capacity((len as usize).min(CHUNK));
    // The file offset of buf[0]; the end of the last complete line.
    let (mut at, mut done) = (start, start);
    let mut skipping = false;
    loop {
        let had = buf.len();
        let want = CHUNK.min(file.limit() as usize);
        if want == 0 {
            break;
        }
        buf.resize(had + want, 0);
        let n = loop {
            match file.read(&mut buf[had..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        buf.truncate(had + n);
        if n == 0 {
            break; // the file shrank while it was read
        }
        // buf[..had] is the start of a line: no newline there.
        let mut line_start = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[line_start.max(had)..]) {
            let end = line_start.max(had) + i;
            each((!skipping).then(|| &buf[line_start..end]));
            skipping = false;
            line_start = end + 1;
        }
        buf.drain(..line_start);
        at += line_start as u64;
        if line_start > 0 {
            done = at;
        }
        if buf.len() > MAX_LINE {
            // Forget this line's bytes; its end is still looked for.
            skipping = true;
            at += buf.len() as u64;
            buf.clear();
        }
    }
    Ok(done)
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

/// Counts one line when it is an assistant reply with usage; false when it is malformed.
fn count_line(t: &mut Telemetry, line: &[u8]) -> bool {
    // Only lines with a "usage" key can count: the rest (user lines, tool results, often most
    // of the file) are not parsed, only checked to look like the JSON object every line is.
    if memchr::memmem::find(line, b"\"usage\"").is_none() {
        let line = line.trim_ascii();
        return line.is_empty() || (line.starts_with(b"{") && line.ends_with(b"}"));
    }
    let Ok(l) = serde_json::from_slice::<Line<'_>>(line) else {
        return false;
    };
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
