//! The UAPI server: `/var/run/wireguard/IFNAME.sock`, mode 0600 from the moment it exists, one thread
//! per connection (at most MAX_CLIENTS), every read bounded in size and time.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{apply, state_of, sys, Shared};
use crate::uapi::{errno, parse_set_request, render_errno, render_get_response, MAX_LINE_BYTES, MAX_MESSAGE_BYTES};

/// Concurrent connections served; more are closed at once.
const MAX_CLIENTS: usize = 16;
/// A client that sends nothing for this long is disconnected.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket file we created: removed on stop only if it is still the same file.
pub(super) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    pub(super) fn still_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }

    pub(super) fn remove(self) {
        if self.still_ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds the socket in a private (0700) directory, makes it 0600, then renames it into place: it is
/// never reachable with a wider mode. A live socket at the path (another daemon) is an error; a stale
/// one is replaced.
pub(super) fn bind(path: &Path) -> io::Result<(UnixListener, SocketFile)> {
    let dir =
        path.parent().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "socket path has no directory"))?;
    std::fs::create_dir_all(dir)?;
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} is served by another process", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("wm.sock");
    let private = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode_0700().create(&private)?;
    let staged = private.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&staged)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        listener.set_nonblocking(true)?;
        let meta = std::fs::symlink_metadata(path)?;
        Ok((listener, SocketFile { path: path.to_path_buf(), dev: meta.dev(), ino: meta.ino() }))
    })();
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    result
}

trait Mode0700 {
    fn mode_0700(&mut self) -> &mut Self;
}

impl Mode0700 for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
}

/// Accepts connections until the device stops.
pub(super) fn serve(shared: &Arc<Shared>, listener: UnixListener) {
    let active = Arc::new(AtomicUsize::new(0));
    while !shared.stopping() {
        match sys::poll_readable(std::os::fd::AsRawFd::as_raw_fd(&listener)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        let Ok((stream, _)) = listener.accept() else { continue };
        if active.load(Ordering::SeqCst) >= MAX_CLIENTS {
            continue; // dropped: closed at once
        }
        active.fetch_add(1, Ordering::SeqCst);
        let s = shared.clone();
        let count = active.clone();
        let spawned = std::thread::Builder::new().name("wm-uapi-client".into()).spawn(move || {
            let _ = handle(&s, stream);
            count.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one line of at most `limit` bytes; Ok(None) at end of stream; Err when over the limit.
fn read_line(reader: &mut BufReader<UnixStream>, buf: &mut Vec<u8>, limit: usize) -> io::Result<Option<()>> {
    let start = buf.len();
    let n = reader.by_ref().take(limit as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() - start > limit || buf.last() != Some(&b'\n') {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long or cut"));
    }
    Ok(Some(()))
}

/// Serves one connection: any number of get/set operations, like wireguard-go.
fn handle(shared: &Arc<Shared>, stream: UnixStream) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut op = Vec::with_capacity(16);
    loop {
        op.clear();
        if read_line(&mut reader, &mut op, 16)?.is_none() {
            return Ok(());
        }
        match op.as_slice() {
            b"get=1\n" => {
                let mut blank = Vec::with_capacity(2);
                if read_line(&mut reader, &mut blank, 1)?.is_none() {
                    return Ok(());
                }
                if blank != b"\n" {
                    writer.write_all(render_errno(errno::EINVAL).as_bytes())?;
                    continue;
                }
                let text = render_get_response(&state_of(shared));
                writer.write_all(text.as_bytes())?;
            }
            b"set=1\n" => {
                let mut request = op.clone();
                let reply = loop {
                    let before = request.len();
                    if request.len() >= MAX_MESSAGE_BYTES {
                        // Over the limit: answer, then close (the rest of the request is not read).
                        writer.write_all(render_errno(errno::EMSGSIZE).as_bytes())?;
                        return Ok(());
                    }
                    match read_line(&mut reader, &mut request, MAX_LINE_BYTES) {
                        Ok(Some(())) => {}
                        Ok(None) => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                            writer.write_all(render_errno(errno::EMSGSIZE).as_bytes())?;
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    }
                    if &request[before..] == b"\n" {
                        break match std::str::from_utf8(&request) {
                            Err(_) => errno::EPROTO,
                            Ok(text) => match parse_set_request(text) {
                                Err(e) => e.errno(),
                                Ok(update) => match apply(shared, &update) {
                                    Ok(()) => 0,
                                    Err(e) => e.errno(),
                                },
                            },
                        };
                    }
                };
                writer.write_all(render_errno(reply).as_bytes())?;
            }
            _ => return Ok(()), // not the protocol: close, like wireguard-go
        }
    }
}
