//! Knowing at once when a transcript grows. Claude Code writes a reply's transcript line after
//! the hook events that follow it (about 100 ms after Stop), so a read that a hook starts can
//! find nothing new yet. One inotify instance watches the directories that hold transcripts
//! (a directory, because Claude Code creates the file with the conversation's first line, and
//! `/clear` or a fork start another file there), and reports which files were written. Nothing
//! is polled.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use tokio::io::unix::AsyncFd;

/// Watches directories for files written in them.
pub struct Follower {
    fd: AsyncFd<OwnedFd>,
    /// The directory of each watch descriptor.
    dirs: Mutex<HashMap<i32, PathBuf>>,
}

impl Follower {
    pub fn new() -> io::Result<Self> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        // SAFETY: the OwnedFd moves into the AsyncFd, which owns it until dropped, so the
        // descriptor stays open and refers to this inotify instance for the AsyncFd's life.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Follower {
            fd,
            dirs: Mutex::new(HashMap::new()),
        })
    }

    /// Reports writes to `file` from now on (watching its directory; watching one twice is a
    /// no-op, the kernel hands out the same descriptor).
    pub fn follow(&self, file: &Path) -> io::Result<()> {
        let dir = file.parent().filter(|d| d.is_absolute()).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "not an absolute file path")
        })?;
        let flags = WatchFlags::MODIFY
            | WatchFlags::CLOSE_WRITE
            | WatchFlags::CREATE
            | WatchFlags::MOVED_TO
            | WatchFlags::ONLYDIR;
        let wd = inotify::add_watch(self.fd.get_ref(), dir, flags)?;
        self.lock().insert(wd, dir.to_owned());
        Ok(())
    }

    /// The files written to since the last call, each once; waits until there is one.
    pub async fn changed(&self) -> io::Result<BTreeSet<PathBuf>> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        loop {
            let mut ready = self.fd.readable().await?;
            let mut files = BTreeSet::new();
            let mut reader = inotify::Reader::new(self.fd.get_ref(), &mut buf);
            loop {
                match reader.next() {
                    Ok(event) => {
                        if event.events().contains(ReadFlags::IGNORED) {
                            // The directory went away; its descriptor may be handed out again.
                            self.lock().remove(&event.wd());
                            continue;
                        }
                        let (Some(dir), Some(name)) =
                            (self.lock().get(&event.wd()).cloned(), event.file_name())
                        else {
                            continue;
                        };
                        files.insert(dir.join(OsStr::from_bytes(name.to_bytes())));
                    }
                    Err(rustix::io::Errno::WOULDBLOCK) => {
                        ready.clear_ready();
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if !files.is_empty() {
                return Ok(files);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, PathBuf>> {
        self.dirs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_in_a_followed_directory_are_reported_once_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t.jsonl");
        let f = Follower::new().unwrap();
        f.follow(&t).unwrap();
        f.follow(&t).unwrap();
        // Created after the watch began, written three times.
        for line in ["a\n", "b\n", "c\n"] {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&t)
                .unwrap()
                .write_all(line.as_bytes())
                .unwrap();
        }
        let changed = tokio::time::timeout(std::time::Duration::from_secs(5), f.changed())
            .await
            .expect("a write is reported")
            .unwrap();
        assert_eq!(changed.into_iter().collect::<Vec<_>>(), [t]);
        assert!(f.follow(Path::new("relative")).is_err());
    }
}
