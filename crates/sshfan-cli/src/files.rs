//! `--outdir` / `--errdir`: one file per host, named after the host.
//!
//! File names come from host labels, which come from the command line or host files: they
//! are made safe first (only `[A-Za-z0-9._@:+=,-]` and brackets are kept, anything else
//! becomes `_`, and a leading `.` gets a `_` before it), so no name can climb out of the
//! directory (`../x`), hide, or collide with `.`/`..`. Duplicate hosts get `.N` suffixes.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::render::{Event, Stream};

#[derive(Clone)]
pub struct HostFiles {
    outdir: Option<PathBuf>,
    errdir: Option<PathBuf>,
    names: Arc<[String]>,
}

impl HostFiles {
    pub fn new(outdir: Option<PathBuf>, errdir: Option<PathBuf>, labels: &[String]) -> HostFiles {
        let mut seen = HashSet::new();
        let names = labels
            .iter()
            .map(|label| {
                let base = safe_file_name(label);
                let mut name = base.clone();
                let mut n = 1;
                while !seen.insert(name.clone()) {
                    n += 1;
                    name = format!("{base}.{n}");
                }
                name
            })
            .collect();
        HostFiles {
            outdir,
            errdir,
            names,
        }
    }

    /// Creates the host's file for `stream`, if that stream is being saved.
    pub fn open(&self, host: usize, stream: Stream) -> Option<HostFile> {
        let dir = match stream {
            Stream::Stdout => self.outdir.as_ref()?,
            Stream::Stderr => self.errdir.as_ref()?,
        };
        let path = dir.join(self.names.get(host)?);
        let file = std::fs::File::create(&path).map(std::io::BufWriter::new);
        Some(match file {
            Ok(file) => HostFile {
                path,
                file: Some(file),
                error: None,
            },
            Err(err) => HostFile {
                path,
                file: None,
                error: Some(err),
            },
        })
    }
}

/// One host's output file; the first write error is kept and reported at close.
pub struct HostFile {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    error: Option<std::io::Error>,
}

impl HostFile {
    pub fn write(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.file
            && let Err(err) = file.write_all(bytes)
        {
            self.error = Some(err);
            self.file = None;
        }
    }

    pub async fn close(mut self, events: &mpsc::Sender<Event>, _host: usize) {
        if let Some(mut file) = self.file.take()
            && let Err(err) = file.flush()
        {
            self.error = Some(err);
        }
        if let Some(err) = self.error {
            let note = format!("sshfan: cannot write {}: {err}", self.path.display());
            let _ = events.send(Event::Note(note)).await;
        }
    }

    #[cfg(test)]
    fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// A host label made safe as a single file name.
pub fn safe_file_name(label: &str) -> String {
    let mut name: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._@:+=,-[]".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_or_hide() {
        assert_eq!(safe_file_name("web1"), "web1");
        assert_eq!(safe_file_name("root@[::1]:22"), "root@[::1]:22");
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._.._etc_passwd");
        assert_eq!(safe_file_name(".."), "_..");
        assert_eq!(safe_file_name(".hidden"), "_.hidden");
        assert_eq!(safe_file_name("a/b\0c d"), "a_b_c_d");
        assert_eq!(safe_file_name(""), "_");
    }

    #[test]
    fn duplicate_labels_get_suffixes() {
        let dir = tempfile::tempdir().unwrap();
        let labels = ["web1".to_owned(), "web1".to_owned(), "web1".to_owned()];
        let files = HostFiles::new(Some(dir.path().to_owned()), None, &labels);
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| files.open(i, Stream::Stdout).unwrap().path().to_owned())
            .collect();
        assert_eq!(paths[0], dir.path().join("web1"));
        assert_eq!(paths[1], dir.path().join("web1.2"));
        assert_eq!(paths[2], dir.path().join("web1.3"));
        assert!(files.open(0, Stream::Stderr).is_none());
    }
}
