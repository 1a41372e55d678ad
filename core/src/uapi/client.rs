//! A small blocking UAPI client: one Unix-socket connection, `get` and `set`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{
    parse_get_response, parse_set_response, render_set_request, whole_peer_requests, DeviceState, DeviceUpdate,
    MAX_MESSAGE_BYTES,
};
use crate::error::{Error, IoError, UapiError};

/// Where userspace WireGuard implementations put their control sockets.
pub const SOCKET_DIR: &str = "/var/run/wireguard";

/// `/var/run/wireguard/IFNAME.sock`, or an error when IFNAME is not a Linux interface name.
pub fn socket_path(ifname: &str) -> Result<PathBuf, Error> {
    if ifname.is_empty()
        || ifname.len() > 15
        || ifname == "."
        || ifname == ".."
        || ifname.bytes().any(|b| b == b'/' || b.is_ascii_whitespace() || b.is_ascii_control() || b == b':')
    {
        return Err(IoError::invalid(
            "connect",
            Path::new(ifname),
            "not an interface name (1-15 characters, no '/', ':' or spaces)",
        )
        .into());
    }
    Ok(Path::new(SOCKET_DIR).join(format!("{ifname}.sock")))
}

/// A client of a device's UAPI socket (ours, wireguard-go, boringtun-cli). Requests share one connection,
/// except with boringtun-cli, which answers one request per connection and closes it: it gets a connection
/// per request (and a connection the device closed meanwhile is opened again before a request is sent).
///
/// Programs that cannot change a peer in place are served by [`UapiClient::set`] all the same: for
/// boringtun-cli (whose UAPI panics on a request that names an existing peer and stops answering, and
/// refuses `update_only`), each peer the update changes is removed and added again whole, with the
/// configuration wireguard-go would have reached, one peer per request ([`whole_peer_requests`]): that
/// peer's session restarts, every other peer keeps its own.
#[derive(Debug)]
pub struct UapiClient {
    path: PathBuf,
    /// The open connection (none after boringtun-cli answered on it).
    connection: Option<BufReader<UnixStream>>,
    /// The name (`/proc/PID/comm`) of the process serving the socket, when this process can see it.
    program: Option<String>,
}

/// Reads and writes time out after this long.
const TIMEOUT: Duration = Duration::from_secs(30);

fn open(path: &Path) -> Result<UnixStream, Error> {
    let stream = UnixStream::connect(path).map_err(|e| IoError::new("connect", path, &e))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| IoError::new("connect", path, &e))?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| IoError::new("connect", path, &e))?;
    Ok(stream)
}

/// The name of the process at the other end of `stream` (`SO_PEERCRED`, then `/proc/PID/comm`); None
/// when the kernel does not say or the process is not visible from here (another PID namespace).
fn peer_program(stream: &UnixStream) -> Option<String> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: a valid socket descriptor, and a ucred-sized buffer whose size is passed in.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 || cred.pid <= 0 {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", cred.pid)).ok()?;
    Some(comm.trim_end().to_string())
}

impl UapiClient {
    /// Connects to `/var/run/wireguard/IFNAME.sock`.
    pub fn connect(ifname: &str) -> Result<Self, Error> {
        Self::connect_path(&socket_path(ifname)?)
    }

    /// Connects to a socket at any path (an error now when nothing listens there). Reads and writes
    /// time out after 30 s.
    pub fn connect_path(path: &Path) -> Result<Self, Error> {
        let stream = open(path)?;
        let program = peer_program(&stream);
        Ok(UapiClient { path: path.to_path_buf(), connection: Some(BufReader::new(stream)), program })
    }

    /// The name of the program serving the socket (as `/proc/PID/comm` has it: `wiremeshd`,
    /// `wireguard-go`, `boringtun-cli`), when visible from this process.
    pub fn program(&self) -> Option<&str> {
        self.program.as_deref()
    }

    /// False for programs that cannot change an existing peer (boringtun's UAPI: any name starting with
    /// `boringtun`); [`UapiClient::set`] then replaces changed peers whole.
    pub fn changes_peers_in_place(&self) -> bool {
        !self.is_boringtun()
    }

    fn is_boringtun(&self) -> bool {
        self.program.as_deref().is_some_and(|p| p.starts_with("boringtun"))
    }

    /// `get=1`: the device's configuration and statistics. boringtun-cli reports a handshake's age
    /// where the protocol has its time (`last_handshake_time_sec` since the epoch): from it, the time is
    /// worked out here, so that every program's state reads the same.
    pub fn get(&mut self) -> Result<DeviceState, Error> {
        let text = self.request(b"get=1\n\n")?;
        let mut state = parse_get_response(&text)?;
        if self.is_boringtun() {
            let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
            for peer in &mut state.peers {
                peer.last_handshake = peer.last_handshake.and_then(|age| now.checked_sub(age));
            }
        }
        Ok(state)
    }

    /// `set=1`: applies `update`; a non-zero errno from the device is [`UapiError::Errno`]. For a program
    /// that cannot change peers in place ([`UapiClient::changes_peers_in_place`]), the device's state is
    /// read first and the update sent as [`whole_peer_requests`] (not atomic: a refusal stops there,
    /// the requests before it applied).
    pub fn set(&mut self, update: &DeviceUpdate) -> Result<(), Error> {
        if !self.changes_peers_in_place() {
            let state = self.get()?;
            for request in whole_peer_requests(&state, update) {
                let text = self.request(render_set_request(&request).as_bytes())?;
                parse_set_response(&text)?;
            }
            return Ok(());
        }
        let text = self.request(render_set_request(update).as_bytes())?;
        Ok(parse_set_response(&text)?)
    }

    /// Sends one request and reads the response: on the open connection, or a new one when there is
    /// none or the device closed it before the request (nothing was sent on it then).
    fn request(&mut self, bytes: &[u8]) -> Result<String, Error> {
        let path = self.path.clone();
        let sent = match self.connection.take() {
            Some(mut reader) => match reader.get_mut().write_all(bytes) {
                Ok(()) => Some(reader),
                // Closed by the device since the last request: nothing went out on it.
                Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => None,
                Err(e) => return Err(IoError::new("write", &path, &e).into()),
            },
            None => None,
        };
        let mut reader = match sent {
            Some(reader) => reader,
            None => {
                let mut fresh = BufReader::new(open(&path)?);
                fresh.get_mut().write_all(bytes).map_err(|e| IoError::new("write", &path, &e))?;
                fresh
            }
        };
        let text = read_message(&mut reader, &path)?;
        if !self.is_boringtun() {
            self.connection = Some(reader);
        }
        Ok(text)
    }
}

/// Reads up to and including the blank line that ends a response, at most MAX_MESSAGE_BYTES.
fn read_message(reader: &mut BufReader<UnixStream>, path: &Path) -> Result<String, Error> {
    let mut out = Vec::with_capacity(4096);
    loop {
        let before = out.len();
        let limit = (MAX_MESSAGE_BYTES + 1 - before) as u64;
        let n = reader.take(limit).read_until(b'\n', &mut out).map_err(|e| IoError::new("read", path, &e))?;
        if out.len() > MAX_MESSAGE_BYTES {
            return Err(UapiError::TooLarge { what: "response", limit: MAX_MESSAGE_BYTES }.into());
        }
        if n == 0 {
            return Err(UapiError::Syntax {
                line: 0,
                reason: "the device closed the connection before the end of its response".into(),
            }
            .into());
        }
        if &out[before..] == b"\n" {
            break;
        }
    }
    String::from_utf8(out).map_err(|_| UapiError::Syntax { line: 0, reason: "response is not UTF-8".into() }.into())
}
