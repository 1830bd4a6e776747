//! The fleet's SFTP subsystem: real files under each virtual host's own root directory.
//!
//! Every path a client names (absolute or relative) is taken inside the host's root, so
//! that 500 hosts sharing one machine still each have their own files: tests upload to
//! `/srv/app.bin` on every host and find `<root of hostN>/srv/app.bin` for each.

use std::collections::HashMap;
use std::io::SeekFrom;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;

use crate::script::SftpTrick;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// What an open handle refers to.
enum Open {
    File(tokio::fs::File),
    Dir {
        path: PathBuf,
        listed: bool,
    },
    /// A hostile server's made-up file.
    Pwned,
    /// A hostile server's listing without end: how many names given so far.
    Endless(u64),
}

/// One SFTP session on one virtual host.
pub(crate) struct SftpSession {
    root: PathBuf,
    handles: HashMap<String, Open>,
    next: u64,
    /// How this server lies, when it is a hostile one.
    trick: Option<SftpTrick>,
}

/// What a hostile server serves for a path that does not exist.
const PWNED: &[u8] = b"pwned\n";

impl SftpSession {
    pub(crate) fn new(root: PathBuf, trick: Option<SftpTrick>) -> Self {
        SftpSession {
            root,
            handles: HashMap::new(),
            next: 0,
            trick,
        }
    }

    /// A stalling server never answers.
    async fn maybe_stall(&self) {
        if self.trick == Some(SftpTrick::Stall) {
            std::future::pending::<()>().await;
        }
    }

    fn lies_about_names(&self) -> bool {
        matches!(self.trick, Some(SftpTrick::Names(_)))
    }

    /// Attributes as this server reports them.
    fn report(&self, mut attrs: FileAttributes) -> FileAttributes {
        if let (Some(SftpTrick::Size(size)), false) = (&self.trick, attrs.is_dir()) {
            attrs.size = Some(*size);
        }
        attrs
    }

    fn pwned_attrs() -> FileAttributes {
        FileAttributes {
            size: Some(PWNED.len() as u64),
            permissions: Some(0o100644),
            ..FileAttributes::empty()
        }
    }

    /// Maps a client path into the root: `..` cannot climb out.
    fn local(&self, path: &str) -> PathBuf {
        let mut local = self.root.clone();
        for part in Path::new(path).components() {
            match part {
                Component::Normal(name) => local.push(name),
                Component::ParentDir if local != self.root => {
                    local.pop();
                }
                _ => {}
            }
        }
        local
    }

    /// The client's view of a local path.
    fn remote(&self, local: &Path) -> String {
        let inside = local.strip_prefix(&self.root).unwrap_or(local);
        format!("/{}", inside.display())
    }

    fn handle(&mut self, open: Open) -> String {
        self.next += 1;
        let name = self.next.to_string();
        self.handles.insert(name.clone(), open);
        name
    }
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".to_owned(),
        language_tag: "en-US".to_owned(),
    }
}

fn io_error(err: std::io::Error) -> StatusReply {
    let code = match err.kind() {
        std::io::ErrorKind::NotFound => StatusCode::NoSuchFile,
        std::io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    };
    code.with_message(err.to_string())
}

impl russh_sftp::server::Handler for SftpSession {
    type Error = StatusReply;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported.into()
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        self.maybe_stall().await;
        let path = self.local(&filename);
        if self.lies_about_names() && !path.exists() {
            let handle = self.handle(Open::Pwned);
            return Ok(Handle { id, handle });
        }
        let mut options = tokio::fs::OpenOptions::new();
        options
            .read(pflags.contains(OpenFlags::READ))
            .write(pflags.contains(OpenFlags::WRITE) || pflags.contains(OpenFlags::APPEND))
            .append(pflags.contains(OpenFlags::APPEND))
            .truncate(pflags.contains(OpenFlags::TRUNCATE));
        if pflags.contains(OpenFlags::CREATE) {
            if pflags.contains(OpenFlags::EXCLUDE) {
                options.create_new(true);
            } else {
                options.create(true);
            }
            options.mode(attrs.permissions.unwrap_or(0o644) & 0o7777);
        }
        let file = options.open(&path).await.map_err(io_error)?;
        if file.metadata().await.map_err(io_error)?.is_dir() {
            return Err(StatusCode::Failure.with_message(format!("{filename} is a directory")));
        }
        let handle = self.handle(Open::File(file));
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        if let Some(Open::File(mut file)) = self.handles.remove(&handle) {
            file.flush().await.map_err(io_error)?;
        }
        Ok(ok(id))
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        self.maybe_stall().await;
        if let Some(Open::Pwned) = self.handles.get(&handle) {
            let data = PWNED.get(offset as usize..).unwrap_or_default();
            if data.is_empty() {
                return Err(StatusCode::Eof.into());
            }
            return Ok(Data {
                id,
                data: data.to_vec(),
            });
        }
        let Some(Open::File(file)) = self.handles.get_mut(&handle) else {
            return Err(StatusCode::Failure.with_message("bad handle"));
        };
        file.seek(SeekFrom::Start(offset)).await.map_err(io_error)?;
        let mut data = vec![0; len as usize];
        let mut filled = 0;
        while filled < data.len() {
            let n = file.read(&mut data[filled..]).await.map_err(io_error)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Err(StatusCode::Eof.into());
        }
        data.truncate(filled);
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        if let Some(SftpTrick::SlowWrites(delay)) = &self.trick {
            tokio::time::sleep(*delay).await;
        }
        let Some(Open::File(file)) = self.handles.get_mut(&handle) else {
            return Err(StatusCode::Failure.with_message("bad handle"));
        };
        file.seek(SeekFrom::Start(offset)).await.map_err(io_error)?;
        file.write_all(&data).await.map_err(io_error)?;
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let meta = tokio::fs::symlink_metadata(self.local(&path))
            .await
            .map_err(io_error)?;
        Ok(Attrs {
            id,
            attrs: FileAttributes::from(&meta),
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.maybe_stall().await;
        let meta = match tokio::fs::metadata(self.local(&path)).await {
            Err(_) if self.lies_about_names() => {
                return Ok(Attrs {
                    id,
                    attrs: Self::pwned_attrs(),
                });
            }
            meta => meta.map_err(io_error)?,
        };
        Ok(Attrs {
            id,
            attrs: self.report(FileAttributes::from(&meta)),
        })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let Some(Open::File(file)) = self.handles.get(&handle) else {
            return Err(StatusCode::Failure.with_message("bad handle"));
        };
        let meta = file.metadata().await.map_err(io_error)?;
        Ok(Attrs {
            id,
            attrs: FileAttributes::from(&meta),
        })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let local = self.local(&path);
        if let Some(mode) = attrs.permissions {
            tokio::fs::set_permissions(&local, std::fs::Permissions::from_mode(mode & 0o7777))
                .await
                .map_err(io_error)?;
        }
        if let (Some(atime), Some(mtime)) = (attrs.atime, attrs.mtime) {
            let file = std::fs::File::options()
                .write(true)
                .open(&local)
                .or_else(|_| std::fs::File::open(&local));
            let times = std::fs::FileTimes::new()
                .set_accessed(std::time::UNIX_EPOCH + std::time::Duration::from_secs(atime.into()))
                .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.into()));
            file.and_then(|f| f.set_times(times)).map_err(io_error)?;
        }
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        self.maybe_stall().await;
        if self.trick == Some(SftpTrick::EndlessReaddir) {
            let handle = self.handle(Open::Endless(0));
            return Ok(Handle { id, handle });
        }
        let local = self.local(&path);
        if !tokio::fs::metadata(&local)
            .await
            .map_err(io_error)?
            .is_dir()
        {
            return Err(StatusCode::Failure.with_message(format!("{path} is not a directory")));
        }
        let handle = self.handle(Open::Dir {
            path: local,
            listed: false,
        });
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        if let Some(Open::Endless(given)) = self.handles.get_mut(&handle) {
            let files = (*given..*given + 1000)
                .map(|n| File::new(format!("f{n}"), Self::pwned_attrs()))
                .collect();
            *given += 1000;
            return Ok(Name { id, files });
        }
        if let Some(SftpTrick::Names(names)) = &self.trick {
            let Some(Open::Dir { listed, .. }) = self.handles.get_mut(&handle) else {
                return Err(StatusCode::Failure.with_message("bad handle"));
            };
            if *listed {
                return Err(StatusCode::Eof.into());
            }
            *listed = true;
            let files = names
                .iter()
                .map(|name| File::new(name.clone(), Self::pwned_attrs()))
                .collect();
            return Ok(Name { id, files });
        }
        let trick_size = match &self.trick {
            Some(SftpTrick::Size(size)) => Some(*size),
            _ => None,
        };
        let Some(Open::Dir { path, listed }) = self.handles.get_mut(&handle) else {
            return Err(StatusCode::Failure.with_message("bad handle"));
        };
        if *listed {
            return Err(StatusCode::Eof.into());
        }
        *listed = true;
        let mut files = Vec::new();
        let mut entries = tokio::fs::read_dir(&*path).await.map_err(io_error)?;
        while let Some(entry) = entries.next_entry().await.map_err(io_error)? {
            let meta = entry.metadata().await.map_err(io_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let mut attrs = FileAttributes::from(&meta);
            if let (Some(size), false) = (trick_size, meta.is_dir()) {
                attrs.size = Some(size);
            }
            files.push(File::new(name, attrs));
        }
        Ok(Name { id, files })
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        tokio::fs::remove_file(self.local(&filename))
            .await
            .map_err(io_error)?;
        Ok(ok(id))
    }

    async fn mkdir(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let local = self.local(&path);
        tokio::fs::create_dir(&local).await.map_err(io_error)?;
        if let Some(mode) = attrs.permissions {
            let _ =
                tokio::fs::set_permissions(&local, std::fs::Permissions::from_mode(mode & 0o7777))
                    .await;
        }
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Result<Status, Self::Error> {
        tokio::fs::remove_dir(self.local(&path))
            .await
            .map_err(io_error)?;
        Ok(ok(id))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let local = self.local(&path);
        let name = self.remote(&local);
        Ok(Name {
            id,
            files: vec![File::dummy(name)],
        })
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        tokio::fs::rename(self.local(&oldpath), self.local(&newpath))
            .await
            .map_err(io_error)?;
        Ok(ok(id))
    }
}
