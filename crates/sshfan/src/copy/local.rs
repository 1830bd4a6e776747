//! The local side of a download: everything a server sends is hostile.
//!
//! A download writes files whose names, sizes, modes and times come from a machine the
//! client does not control (the scp filename bug class, CVE-2019-6111, keeps coming back
//! in SSH clients). This module is the one place where such values become local files:
//! - [`safe_component`] turns a server-supplied name into exactly one path component below
//!   the target (never absolute, never `..`, never a `/`, NUL or control character);
//! - [`Incoming`] streams a file into a temporary sibling created new (never through a
//!   symlink), refuses more bytes than announced, checks the announced size against the
//!   free space first (no allocation is ever sized by the server), and removes the
//!   temporary file unless the download completes;
//! - [`LocalMode`] masks modes to the permission bits (no setuid, setgid or sticky bit
//!   from a server) and checks times for overflow.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Permission bits kept from a server with `preserve` (no setuid, setgid, sticky).
pub(crate) const PERMISSION_BITS: u32 = 0o777;

/// Checks that `name`, as a server sent it, is one safe local path component.
///
/// Refused: empty, `.`, `..`, anything with `/` or NUL, and control characters (a name
/// must not be able to rewrite the terminal that shows it). The error text shows the
/// name escaped.
pub(crate) fn safe_component(name: &str) -> Result<&str, String> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.chars().any(|c| c == '/' || c.is_control());
    if bad {
        Err(format!(
            "the server sent an unsafe file name {}",
            name.escape_debug()
        ))
    } else {
        Ok(name)
    }
}

/// The child `name` of a local directory, for a name the server sent.
pub(crate) fn child(dir: &Path, name: &str) -> Result<PathBuf, String> {
    Ok(dir.join(safe_component(name)?))
}

/// Creates the local directory `path` for a remote directory, without following a
/// symlink at its place: an existing real directory is fine, anything else is an error.
pub(crate) fn make_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(path),
        Err(err) => Err(err),
    }
}

/// Free bytes for an unprivileged writer in the file system holding `dir`.
fn free_space(dir: &Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(dir).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// What a server says about a file's mode and times, checked.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalMode {
    /// Permission bits to set (already masked).
    pub mode: Option<u32>,
    /// Modification (and access) time, seconds since the epoch.
    pub mtime: Option<SystemTime>,
}

impl LocalMode {
    /// Mode and time from the server, kept only with `preserve`; the mode is masked to
    /// [`PERMISSION_BITS`], and a time the system cannot represent is an error.
    pub(crate) fn from_server(
        preserve: bool,
        mode: Option<u32>,
        mtime: Option<u64>,
    ) -> Result<LocalMode, String> {
        if !preserve {
            return Ok(LocalMode::default());
        }
        let mtime = match mtime {
            None => None,
            Some(secs) => Some(
                SystemTime::UNIX_EPOCH
                    .checked_add(Duration::from_secs(secs))
                    .filter(|_| i64::try_from(secs).is_ok())
                    .ok_or_else(|| format!("the server sent an impossible time {secs}"))?,
            ),
        };
        Ok(LocalMode {
            mode: mode.map(|m| m & PERMISSION_BITS),
            mtime,
        })
    }
}

/// A file being received: written to a temporary sibling, renamed into place when every
/// announced byte has arrived, removed otherwise (also when dropped half-way).
#[derive(Debug)]
pub(crate) struct Incoming {
    temporary: PathBuf,
    target: PathBuf,
    file: Option<File>,
    expected: u64,
    received: u64,
}

impl Incoming {
    /// Starts receiving `expected` bytes for `target`. Refuses an existing target when
    /// `overwrite` is off and a size beyond the free space of the target's file system.
    pub(crate) fn create(target: &Path, expected: u64, overwrite: bool) -> Result<Self, String> {
        let exists = std::fs::symlink_metadata(target);
        if let Ok(meta) = &exists {
            if meta.is_dir() {
                return Err(format!("{} is a local directory", target.display()));
            }
            if !overwrite {
                return Err(format!(
                    "{} already exists locally (overwrite is off)",
                    target.display()
                ));
            }
        }
        let parent = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if let Some(free) = free_space(parent)
            && expected > free
        {
            return Err(format!(
                "the server announces {expected} bytes, more than the {free} free in {}",
                parent.display()
            ));
        }
        let mut name = target.as_os_str().to_owned();
        name.push(".sshfan-tmp");
        let temporary = PathBuf::from(name);
        // A temporary file left by an earlier failure (or a symlink at its place) goes;
        // unlinking never follows a symlink.
        match std::fs::remove_file(&temporary) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("cannot replace {}: {err}", temporary.display()));
            }
            _ => {}
        }
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::File::options()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(0o600)
                .open(&temporary)
                .map_err(|err| format!("cannot write {}: {err}", temporary.display()))?
        };
        Ok(Incoming {
            temporary,
            target: target.to_owned(),
            file: Some(file),
            expected,
            received: 0,
        })
    }

    /// Bytes still expected.
    pub(crate) fn remaining(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// Bytes received so far.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Appends `data`; more than the announced size is an error.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), String> {
        let len = data.len() as u64;
        if len > self.remaining() {
            return Err(format!(
                "the server sent more than the {} bytes it announced",
                self.expected
            ));
        }
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| "the file is closed".to_owned())?;
        file.write_all(data)
            .map_err(|err| format!("cannot write {}: {err}", self.temporary.display()))?;
        self.received = self.received.saturating_add(len);
        Ok(())
    }

    /// Checks that every announced byte arrived, applies mode and time, and renames the
    /// file into place.
    pub(crate) fn commit(mut self, mode: LocalMode) -> Result<(), String> {
        if self.received != self.expected {
            return Err(format!(
                "the file ended short: {} of {} bytes received",
                self.received, self.expected
            ));
        }
        let fail = |err: std::io::Error| format!("cannot write {}: {err}", self.target.display());
        let file = self
            .file
            .take()
            .ok_or_else(|| "the file is closed".to_owned())?;
        if let Some(bits) = mode.mode {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(bits))
                .map_err(fail)?;
        } else {
            use std::os::unix::fs::PermissionsExt;
            // The temporary was created 0600; a plain download gets what a new file gets.
            file.set_permissions(std::fs::Permissions::from_mode(0o666 & !umask()))
                .map_err(fail)?;
        }
        if let Some(time) = mode.mtime {
            file.set_times(
                std::fs::FileTimes::new()
                    .set_modified(time)
                    .set_accessed(time),
            )
            .map_err(fail)?;
        }
        drop(file);
        std::fs::rename(&self.temporary, &self.target).map_err(fail)?;
        // Renamed: nothing to remove any more.
        self.temporary = PathBuf::new();
        Ok(())
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.temporary.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// The process's umask, read once (through `/proc`, without changing it; 022 when
/// unknown): every downloaded file gets `0666 & !umask`, as a newly created file would.
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("Umask:"))
                    .and_then(|mask| u32::from_str_radix(mask.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_servers_are_one_safe_component() {
        for good in ["a", "a.txt", ".hidden", "..x", "x..", "名前", "a b"] {
            assert_eq!(safe_component(good), Ok(good));
        }
        for bad in [
            "",
            ".",
            "..",
            "/etc/passwd",
            "../x",
            "a/b",
            "a/",
            "a\0b",
            "a\nb",
            "\x1b[2J",
            "a\rb",
        ] {
            let err = safe_component(bad).unwrap_err();
            assert!(err.contains("unsafe file name"), "{bad:?}: {err}");
            assert!(!err.contains('\x1b') && !err.contains('\n'), "{err:?}");
        }
    }

    #[test]
    fn modes_are_masked_and_times_checked() {
        let kept = LocalMode::from_server(true, Some(0o4755), Some(1_000)).unwrap();
        assert_eq!(kept.mode, Some(0o755));
        assert_eq!(
            kept.mtime,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000))
        );
        assert!(LocalMode::from_server(true, None, Some(u64::MAX)).is_err());
        let ignored = LocalMode::from_server(false, Some(0o4755), Some(u64::MAX)).unwrap();
        assert_eq!((ignored.mode, ignored.mtime), (None, None));
    }

    #[test]
    fn incoming_files_complete_or_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        let mut file = Incoming::create(&target, 4, true).unwrap();
        file.write(b"ab").unwrap();
        assert!(file.write(b"cde").is_err(), "more than announced");
        let err = file.commit(LocalMode::default()).unwrap_err();
        assert!(err.contains("2 of 4 bytes"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let mut file = Incoming::create(&target, 4, true).unwrap();
        file.write(b"abcd").unwrap();
        file.commit(LocalMode::default()).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"abcd");
        let err = Incoming::create(&target, 1, false).unwrap_err();
        assert!(err.contains("already exists"), "{err}");

        drop(Incoming::create(&dir.path().join("g"), 1, true).unwrap());
        assert!(!dir.path().join("g.sshfan-tmp").exists());
        let err = Incoming::create(&dir.path().join("h"), u64::MAX, true).unwrap_err();
        assert!(err.contains("more than the"), "{err}");
    }

    #[test]
    fn a_symlink_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "keep").unwrap();
        let target = dir.path().join("f");
        std::os::unix::fs::symlink(&outside, dir.path().join("f.sshfan-tmp")).unwrap();
        let mut file = Incoming::create(&target, 3, true).unwrap();
        file.write(b"new").unwrap();
        file.commit(LocalMode::default()).unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        std::os::unix::fs::symlink(&outside, dir.path().join("d")).unwrap();
        assert!(make_dir(&dir.path().join("d")).is_err());
    }
}
