//! Opening the files that the user names or that an image lists: regular files only, and every
//! read bounded. A FIFO blocks `open()` and then `read()` until some writer comes, and a device
//! such as `/dev/zero` never ends: either would hang a scan or fill its memory.

use rustix::fs::{Mode, OFlags};
use std::fs::{File, FileType};
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// The settings files read whole (`plugins.toml`, the ignore file, Docker's `config.json`, the
/// AWS config file): far above any real one, and a bound on a file that is not one.
pub const SETTINGS_FILE_CEILING: u64 = 1 << 20;

/// Opens `path` for reading, following links, if it is a regular file; otherwise an error that
/// says what it is. Never blocks, whatever the path turns out to be.
pub fn open_regular(path: &Path) -> io::Result<File> {
    // Checked before opening too, because opening a device can act on it (a tape rewinds).
    require_regular(std::fs::metadata(path)?.file_type())?;
    // O_NONBLOCK: a path swapped for a FIFO since the check opens at once instead of waiting for
    // a writer, and the check of what was opened refuses it. Reads of a regular file ignore it.
    let opened =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
    let file = File::from(opened);
    require_regular(file.metadata()?.file_type())?;
    Ok(file)
}

/// An error that says what `kind` is, unless it is a regular file.
pub fn require_regular(kind: FileType) -> io::Result<()> {
    let what = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    };
    Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{what}, not a regular file; only regular files are read")))
}

/// The content of the regular file at `path`, refused when over `ceiling` bytes; `what` names the
/// kind of file in that message (e.g. "a plugins config").
pub fn read_regular(path: &Path, ceiling: u64, what: &str) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let size = file.metadata()?.len();
    if size > ceiling {
        return Err(too_large(&format!("{size} bytes, more"), ceiling, what));
    }
    // Still bounded: the file may grow while it is read.
    read_bounded(file, ceiling, what)
}

/// [`read_regular`] for text files.
pub fn read_regular_text(path: &Path, ceiling: u64, what: &str) -> io::Result<String> {
    String::from_utf8(read_regular(path, ceiling, what)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Reads `reader` to its end, refusing more than `ceiling` bytes.
pub fn read_bounded(reader: impl Read, ceiling: u64, what: &str) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(ceiling.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > ceiling {
        return Err(too_large("more", ceiling, what));
    }
    Ok(bytes)
}

fn too_large(how_much: &str, ceiling: u64, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::FileTooLarge, format!("{how_much} than the {ceiling}-byte limit for {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fifo(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &path, Mode::RUSR | Mode::WUSR).unwrap();
        path
    }

    #[test]
    fn refuses_what_is_not_a_regular_file_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let error = open_regular(&fifo(dir.path())).unwrap_err().to_string();
        assert!(error.contains("a FIFO (named pipe), not a regular file"), "{error}");
        let error = read_regular(Path::new("/dev/zero"), 10, "a test file").unwrap_err().to_string();
        assert!(error.contains("a character device, not a regular file"), "{error}");
        let error = open_regular(dir.path()).unwrap_err().to_string();
        assert!(error.contains("a directory"), "{error}");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(open_regular(&link).is_err());
        std::fs::write(dir.path().join("file"), "text").unwrap();
        std::os::unix::fs::symlink("file", dir.path().join("to-file")).unwrap();
        assert_eq!(read_regular_text(&dir.path().join("to-file"), 4, "a test file").unwrap(), "text");
    }

    #[test]
    fn reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        std::fs::write(&path, "12345").unwrap();
        let error = read_regular(&path, 4, "a test file").unwrap_err().to_string();
        assert_eq!(error, "5 bytes, more than the 4-byte limit for a test file");
        let error = read_bounded(std::io::repeat(0), 4, "a stream").unwrap_err().to_string();
        assert_eq!(error, "more than the 4-byte limit for a stream");
    }
}
