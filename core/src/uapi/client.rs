//! A small blocking UAPI client: one Unix-socket connection, `get` and `set`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{parse_get_response, parse_set_response, render_set_request, DeviceState, DeviceUpdate, MAX_MESSAGE_BYTES};
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

/// A connection to a device's UAPI socket (ours, wireguard-go, boringtun-cli).
#[derive(Debug)]
pub struct UapiClient {
    path: PathBuf,
    reader: BufReader<UnixStream>,
}

impl UapiClient {
    /// Connects to `/var/run/wireguard/IFNAME.sock`.
    pub fn connect(ifname: &str) -> Result<Self, Error> {
        Self::connect_path(&socket_path(ifname)?)
    }

    /// Connects to a socket at any path. Reads and writes time out after 30 s.
    pub fn connect_path(path: &Path) -> Result<Self, Error> {
        let stream = UnixStream::connect(path).map_err(|e| IoError::new("connect", path, &e))?;
        let timeout = Some(Duration::from_secs(30));
        stream.set_read_timeout(timeout).map_err(|e| IoError::new("connect", path, &e))?;
        stream.set_write_timeout(timeout).map_err(|e| IoError::new("connect", path, &e))?;
        Ok(UapiClient { path: path.to_path_buf(), reader: BufReader::new(stream) })
    }

    /// `get=1`: the device's configuration and statistics.
    pub fn get(&mut self) -> Result<DeviceState, Error> {
        self.send(b"get=1\n\n")?;
        let text = self.read_message()?;
        Ok(parse_get_response(&text)?)
    }

    /// `set=1`: applies `update`; a non-zero errno from the device is [`UapiError::Errno`].
    pub fn set(&mut self, update: &DeviceUpdate) -> Result<(), Error> {
        self.send(render_set_request(update).as_bytes())?;
        let text = self.read_message()?;
        Ok(parse_set_response(&text)?)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let path = &self.path;
        self.reader.get_mut().write_all(bytes).map_err(|e| IoError::new("write", path, &e).into())
    }

    /// Reads up to and including the blank line that ends a response, at most MAX_MESSAGE_BYTES.
    fn read_message(&mut self) -> Result<String, Error> {
        let mut out = Vec::with_capacity(4096);
        loop {
            let before = out.len();
            let limit = (MAX_MESSAGE_BYTES + 1 - before) as u64;
            let n = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut out)
                .map_err(|e| IoError::new("read", &self.path, &e))?;
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
}
