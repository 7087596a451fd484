//! Opening a granted file to read, and telling one file from another.
//!
//! A feed's path is opened without blocking (`O_NONBLOCK`): a path that
//! names a FIFO would otherwise hang the opener until something writes to
//! it. Anything but a regular file is refused. A file is known by its
//! device and inode, which is how rotation shows: the path names another
//! file than the one being read.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

/// Which file a path names: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(metadata: &std::fs::Metadata) -> FileId {
        FileId {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// Open `path` read-only; the file and which it is.
pub fn open(path: &Path) -> io::Result<(File, FileId)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(io::Error::other(
            "not a regular file (a feed follows a file that grows)",
        ));
    }
    Ok((file, FileId::of(&metadata)))
}

/// Which file `path` names now, without opening it.
pub fn id_of(path: &Path) -> io::Result<FileId> {
    std::fs::metadata(path).map(|metadata| FileId::of(&metadata))
}
