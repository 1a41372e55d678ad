//! File writes that never leave a partial or over-readable file behind.
//!
//! Every file wiremesh writes goes through [`write_atomic`]: a temporary file created next to the
//! target with its final mode (0600 for secrets and configs), written, fsynced, renamed over the target,
//! and the directory fsynced. A crash at any point leaves either the old file or the new one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::IoError;

/// Mode of files holding private or preshared keys, and of rendered configs (which may embed them).
pub const SECRET_FILE_MODE: u32 = 0o600;
/// Mode of files with nothing secret in them (the mesh file itself).
pub const PUBLIC_FILE_MODE: u32 = 0o644;
/// Mode of directories holding secrets.
pub const SECRET_DIR_MODE: u32 = 0o700;

/// Reads a whole file as UTF-8, mapping failures to [`IoError`] naming the path.
pub fn read_to_string(path: &Path) -> Result<String, IoError> {
    fs::read_to_string(path).map_err(|err| IoError::new("read", path, &err))
}

/// Writes `contents` to `path` atomically with `mode` set from creation (see the module docs); a file
/// that already holds exactly this is left untouched.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), crate::Error> {
    if unchanged(path, contents, mode) {
        return Ok(());
    }
    let tmp = write_temp(path, contents, mode)?;
    commit(&[(tmp, path.to_path_buf())]).map_err(Into::into)
}

/// Writes many files atomically: every file goes to a synced temporary first (in parallel, since
/// flushing is mostly waiting), and only when all of them succeeded are they renamed into place. On
/// failure no target is touched and the temporaries are removed.
pub fn write_many_atomic(files: &[(PathBuf, String)], mode: u32) -> Result<(), crate::Error> {
    write_many_atomic_with(files.len(), |i| Ok((files[i].0.clone(), files[i].1.clone())), mode)
}

/// Like [`write_many_atomic`], but file `i` is produced by `produce(i)` inside the writer threads, so
/// producing (e.g. rendering) overlaps with writing and not every text is held in memory at once. If
/// any file fails to be produced or written, nothing is renamed into place.
pub fn write_many_atomic_with<F>(count: usize, produce: F, mode: u32) -> Result<(), crate::Error>
where
    F: Fn(usize) -> Result<(PathBuf, String), crate::Error> + Sync,
{
    write_many_atomic_gated(count, |i| produce(i).map(|(path, text)| (path, SecretText::whole(text))), mode, || Ok(()))
}

/// A produced file's text and how much of it, from the start, may hold secrets (wiped after writing;
/// the rest is public, like a config's `[Peer]` sections without preshared keys).
pub(crate) struct SecretText {
    pub text: String,
    pub secret_len: usize,
}

impl SecretText {
    /// All of `text` may be secret.
    pub fn whole(text: String) -> Self {
        let secret_len = text.len();
        SecretText { text, secret_len }
    }

    /// Wipes the part that may hold secrets and frees the text.
    pub fn wipe(self) {
        let mut bytes = self.text.into_bytes();
        let secret_len = self.secret_len.min(bytes.len());
        zeroize::Zeroize::zeroize(&mut bytes[..secret_len]);
    }
}

/// A synced temporary and the target it is renamed over.
type TempFor = (PathBuf, PathBuf);

/// How many writer threads [`write_many_atomic_gated`] runs for `count` files: flushing is mostly
/// waiting, so more than the cores (at most 8), and never more than there are files.
pub(crate) fn writer_threads(count: usize) -> usize {
    const IO_WORKERS: usize = 8;
    count.min(IO_WORKERS)
}

/// [`write_many_atomic_with`], plus a `gate` run on its own thread while the files are produced and
/// written to temporaries: they are renamed into place only when the gate (e.g. proving a plan) and
/// every file succeeded; the gate's error comes first. The [`writer_threads`] writers take files in
/// index order, each as soon as it is free.
pub(crate) fn write_many_atomic_gated<F, G>(count: usize, produce: F, mode: u32, gate: G) -> Result<(), crate::Error>
where
    F: Fn(usize) -> Result<(PathBuf, SecretText), crate::Error> + Sync,
    G: FnOnce() -> Result<(), crate::Error> + Send,
{
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let (produce, next) = (&produce, &next);
    let (gate_result, results) = std::thread::scope(|scope| {
        let gate = scope.spawn(gate);
        let handles: Vec<_> = (0..writer_threads(count))
            .map(|_| {
                scope.spawn(move || {
                    let mut results: Vec<(usize, Result<TempFor, crate::Error>)> = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break results;
                        }
                        let (target, produced) = match produce(i) {
                            Ok(file) => file,
                            Err(err) => {
                                results.push((i, Err(err)));
                                continue;
                            }
                        };
                        if !unchanged(&target, produced.text.as_bytes(), mode) {
                            let written = write_temp(&target, produced.text.as_bytes(), mode).map(|tmp| (tmp, target));
                            results.push((i, written.map_err(Into::into)));
                        }
                        // Rendered configs and key files hold secrets: wipe our copy of them.
                        produced.wipe();
                    }
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("writer thread panicked")).collect();
        (gate.join().expect("gate thread panicked"), results)
    });
    // Which writer took which file varies from run to run: report the failure of the first file.
    let mut temps = Vec::with_capacity(count);
    let mut first_failure: Option<(usize, crate::Error)> = None;
    for (index, result) in results.into_iter().flatten() {
        match result {
            Ok(pair) => temps.push(pair),
            Err(err) => {
                if first_failure.as_ref().map_or(true, |(first, _)| index < *first) {
                    first_failure = Some((index, err));
                }
            }
        }
    }
    if let Some(err) = gate_result.err().or(first_failure.map(|(_, err)| err)) {
        for (tmp, _) in &temps {
            let _ = fs::remove_file(tmp);
        }
        return Err(err);
    }
    commit(&temps).map_err(Into::into)
}

/// Whether `path` already holds exactly `contents` with exactly `mode` (then rewriting it is skipped:
/// re-rendering an unchanged mesh touches nothing, and config-management tools see no change).
fn unchanged(path: &Path, contents: &[u8], mode: u32) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else { return false };
    if !meta.is_file() || meta.len() != contents.len() as u64 || meta.permissions().mode() & 0o7777 != mode {
        return false;
    }
    fs::read(path).is_ok_and(|existing| existing == contents)
}

/// Creates a temporary file next to `path` with `mode`, writes and fsyncs `contents`.
fn write_temp(path: &Path, contents: &[u8], mode: u32) -> Result<PathBuf, IoError> {
    let dir = parent_dir(path);
    let file_name = path
        .file_name()
        .ok_or_else(|| IoError::invalid("write", path, "the path has no file name"))?
        .to_string_lossy()
        .into_owned();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut attempt = 0u32;
    let (tmp_path, mut file) = loop {
        let serial = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp_path = dir.join(format!(".{file_name}.{}.{serial}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp_path) {
            Ok(file) => break (tmp_path, file),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(err) => return Err(IoError::new("create", &tmp_path, &err)),
        }
    };
    let result = (|| {
        // The umask (or a default ACL) may have narrowed the mode; set exactly what was asked. Looking
        // first is cheaper than a chmod, which dirties the new inode once more before the fsync.
        let created = file.metadata().map_err(|e| IoError::new("stat", &tmp_path, &e))?.permissions().mode() & 0o7777;
        if created != mode {
            file.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| IoError::new("chmod", &tmp_path, &e))?;
        }
        file.write_all(contents).map_err(|e| IoError::new("write", &tmp_path, &e))?;
        file.sync_all().map_err(|e| IoError::new("fsync", &tmp_path, &e))
    })();
    match result {
        Ok(()) => Ok(tmp_path),
        Err(err) => {
            let _ = fs::remove_file(&tmp_path);
            Err(err)
        }
    }
}

/// Renames synced temporaries over their targets, then syncs the directories.
fn commit(pairs: &[(PathBuf, PathBuf)]) -> Result<(), IoError> {
    for (i, (tmp, target)) in pairs.iter().enumerate() {
        if let Err(err) = fs::rename(tmp, target) {
            for (rest, _) in &pairs[i..] {
                let _ = fs::remove_file(rest);
            }
            return Err(IoError::new("rename", target, &err));
        }
    }
    let mut synced: Vec<&Path> = Vec::new();
    for (_, target) in pairs {
        let dir = parent_dir(target);
        if !synced.contains(&dir) {
            if let Ok(dir_file) = File::open(dir) {
                let _ = dir_file.sync_all();
            }
            synced.push(dir);
        }
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Creates `path` (and missing parents) as a directory with mode 0700; an existing directory is
/// tightened to 0700.
pub fn create_private_dir(path: &Path) -> Result<(), crate::Error> {
    fs::create_dir_all(path).map_err(|err| IoError::new("mkdir", path, &err))?;
    fs::set_permissions(path, fs::Permissions::from_mode(SECRET_DIR_MODE))
        .map_err(|err| IoError::new("chmod", path, &err).into())
}

/// Directories [`create_private_dir_undoable`] created (deepest first): removed again, while still empty,
/// when what was to be written into them failed.
#[must_use = "undo the directories when the write fails"]
pub(crate) struct CreatedDirs(Vec<PathBuf>);

impl CreatedDirs {
    /// Removes the directories that were created, deepest first, stopping at the first one that is not
    /// empty (or is gone).
    pub(crate) fn undo(self) {
        for dir in self.0 {
            if fs::remove_dir(&dir).is_err() {
                break;
            }
        }
    }
}

/// [`create_private_dir`], remembering which directories did not exist before, so that a failed write
/// leaves no new empty directory behind.
pub(crate) fn create_private_dir_undoable(path: &Path) -> Result<CreatedDirs, crate::Error> {
    let mut missing = Vec::new();
    let mut at = Some(path);
    while let Some(dir) = at {
        if dir.as_os_str().is_empty() || fs::symlink_metadata(dir).is_ok() {
            break;
        }
        missing.push(dir.to_path_buf());
        at = dir.parent();
    }
    let created = CreatedDirs(missing);
    match create_private_dir(path) {
        Ok(()) => Ok(created),
        Err(err) => {
            created.undo();
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        write_atomic(&path, b"one", SECRET_FILE_MODE).unwrap();
        write_atomic(&path, b"two", SECRET_FILE_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let err = write_atomic(Path::new("/nonexistent-dir-wiremesh/x"), b"x", 0o600).unwrap_err();
        assert_eq!(err.code(), "io_not_found");
    }
}
