//! The file transport's outbox (`file:PATH`): one JSON object per line, appended once the unit
//! that sent the message has committed, and rewritten as a whole by an erasure.
//!
//! A rewrite writes a new file beside the outbox and renames it over the old one, so a reader
//! never sees half of it. Appends and rewrites exclude each other: in this process by one
//! mutex, across processes sharing the file by an advisory lock (`flock`) on `PATH.lock`. The
//! lock cannot live on the outbox itself, whose file a rewrite replaces; for the same reason an
//! appender that finds the path on another file than the one it holds open opens it again.
//! A process that does not take the lock (an older Charter) can still lose a line appended
//! during a rewrite.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a rewrite does with one line.
pub(super) enum Line {
    Keep,
    Drop,
    Replace(String),
}

pub struct OutboxFile {
    path: PathBuf,
    lock_path: PathBuf,
    open: Mutex<Open>,
}

/// The files this process holds open: the outbox (for appending) and the lock file. Both are
/// opened on first use.
#[derive(Default)]
struct Open {
    outbox: Option<File>,
    lock: Option<File>,
}

impl OutboxFile {
    pub(super) fn new(path: PathBuf) -> OutboxFile {
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        OutboxFile {
            path,
            lock_path: PathBuf::from(lock_path),
            open: Mutex::new(Open::default()),
        }
    }

    /// Appends one line (blocking): one write of the whole line.
    pub(super) fn append(&self, line: &str) -> std::io::Result<()> {
        self.locked(|open| {
            if open.outbox.as_ref().is_some_and(|f| !self.is_current(f)) {
                open.outbox = None;
            }
            let file = match &mut open.outbox {
                Some(file) => file,
                none => none.insert(crate::files::append_owner_only(&self.path)?),
            };
            file.write_all(line.as_bytes())
        })
    }

    /// Rewrites the outbox line by line (blocking); the number of lines dropped or replaced.
    /// Nothing is written when no line changes, or when there is no outbox yet.
    pub(super) fn rewrite(&self, edit: impl Fn(&str) -> Line) -> std::io::Result<usize> {
        self.locked(|open| {
            // Through a symbolic link: the file it names is the one replaced, not the link.
            let path = match std::fs::canonicalize(&self.path) {
                Ok(path) => path,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(e),
            };
            let bytes = std::fs::read(&path)?;
            let mut out = Vec::with_capacity(bytes.len());
            let mut changed = 0;
            // A last line without its newline (a write cut short) is kept without one; a line
            // that is not UTF-8 (a write cut inside a character) is judged as read lossily and
            // kept byte for byte.
            for piece in bytes.split_inclusive(|&b| b == b'\n') {
                let (line, newline) = match piece.strip_suffix(b"\n") {
                    Some(line) => (line, "\n"),
                    None => (piece, ""),
                };
                match edit(&String::from_utf8_lossy(line)) {
                    Line::Keep => out.extend_from_slice(piece),
                    Line::Drop => changed += 1,
                    Line::Replace(new) => {
                        changed += 1;
                        out.extend_from_slice(new.as_bytes());
                        out.extend_from_slice(newline.as_bytes());
                    }
                }
            }
            if changed > 0 {
                replace(&path, &out)?;
                // The handle held open is on the old file now.
                open.outbox = None;
            }
            Ok(changed)
        })
    }

    /// Runs `work` holding this process's mutex and the lock file's exclusive lock.
    fn locked<T>(&self, work: impl FnOnce(&mut Open) -> std::io::Result<T>) -> std::io::Result<T> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| std::io::Error::other("outbox lock poisoned"))?;
        let lock = match open.lock.take() {
            Some(lock) => lock,
            None => crate::files::append_owner_only(&self.lock_path)?,
        };
        lock.lock()?;
        let result = work(&mut open);
        let unlocked = lock.unlock();
        open.lock = Some(lock);
        let value = result?;
        unlocked?;
        Ok(value)
    }

    /// Whether `file` is still the file at the outbox's path.
    fn is_current(&self, file: &File) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            match (file.metadata(), std::fs::metadata(&self.path)) {
                (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
                _ => false,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = file;
            true
        }
    }
}

/// Replaces `path` with `contents` whole: a new file only its owner can read, in the same
/// folder, synced, then renamed over the old one; the folder is synced so the rename survives
/// a crash.
fn replace(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = folder.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        crate::crypto::new_id("w")
    ));
    let written = crate::files::create_owner_only(&temporary)
        .and_then(|mut f| f.write_all(contents).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    File::open(folder).and_then(|d| d.sync_all())
}

#[cfg(test)]
mod tests {
    use super::{Line, OutboxFile};

    #[test]
    fn a_rewrite_replaces_the_file_and_later_appends_land_in_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        let first = OutboxFile::new(path.clone());
        // Another process's view of the same file: its own handles.
        let second = OutboxFile::new(path.clone());
        first.append("keep\n").unwrap();
        second.append("drop\n").unwrap();
        first.append("change").unwrap();
        let edit = |line: &str| match line {
            "drop" => Line::Drop,
            "change" => Line::Replace("changed".into()),
            _ => Line::Keep,
        };
        assert_eq!(first.rewrite(edit).unwrap(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep\nchanged");
        assert_eq!(first.rewrite(edit).unwrap(), 0);
        second.append("\nafter\n").unwrap();
        first.append("last\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "keep\nchanged\nafter\nlast\n"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["outbox.jsonl", "outbox.jsonl.lock"]);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_kept_and_the_rest_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        std::fs::write(&path, b"cut \xc3\ndrop\nkeep\n").unwrap();
        let outbox = OutboxFile::new(path.clone());
        let edit = |line: &str| match line {
            "drop" => Line::Drop,
            _ => Line::Keep,
        };
        assert_eq!(outbox.rewrite(edit).unwrap(), 1);
        assert_eq!(std::fs::read(&path).unwrap(), b"cut \xc3\nkeep\n");
    }

    #[cfg(unix)]
    #[test]
    fn through_a_symbolic_link_the_file_it_names_is_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.jsonl");
        let link = dir.path().join("outbox.jsonl");
        std::fs::write(&real, "drop\nkeep\n").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let outbox = OutboxFile::new(link.clone());
        assert_eq!(
            outbox
                .rewrite(|l| if l == "drop" { Line::Drop } else { Line::Keep })
                .unwrap(),
            1
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep\n");
        outbox.append("after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "keep\nafter\n");
    }

    #[test]
    fn no_outbox_no_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = OutboxFile::new(dir.path().join("outbox.jsonl"));
        assert_eq!(outbox.rewrite(|_| Line::Drop).unwrap(), 0);
        assert!(!dir.path().join("outbox.jsonl").exists());
    }
}
