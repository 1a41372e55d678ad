//! Starting a device that disappeared: `program args… IFNAME`, then its addresses, MTU, link state and
//! routes with `ip` (what `wg-quick up` would have done for the interface itself).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DaemonCommand, InterfaceSetup, Launcher};

/// How long the start command may take to report the device ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one `ip` command may take.
const IP_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts devices with a command such as `wiremeshd` or `wireguard-go` (both detach once the device
/// is ready), then configures the interface with `ip`.
#[derive(Debug)]
pub struct CommandLauncher {
    command: DaemonCommand,
    /// A start command that did not exit (a foreground daemon): reaped later.
    running: Option<Child>,
}

impl CommandLauncher {
    /// A launcher running `command`.
    pub fn new(command: DaemonCommand) -> Self {
        CommandLauncher { command, running: None }
    }
}

/// Runs a command to completion within `timeout`; Err with what failed.
fn run(program: &str, args: &[String], timeout: Duration) -> Result<(), String> {
    let line = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{line}: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{line}: {status}")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{line}: no answer within {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{line}: {e}")),
        }
    }
}

fn socket_answers(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

impl Launcher for CommandLauncher {
    fn launch(&mut self, interface: &str, setup: &InterfaceSetup) -> Result<(), String> {
        if let Some(mut old) = self.running.take() {
            if old.try_wait().ok().flatten().is_none() {
                let _ = old.kill();
            }
            let _ = old.wait();
        }
        let socket = crate::uapi::socket_path(interface).map_err(|e| e.to_string())?;
        // A stale socket file from a dead daemon would make the new one fail to bind.
        if socket.exists() && !socket_answers(&socket) {
            let _ = std::fs::remove_file(&socket);
        }
        let mut child = Command::new(&self.command.program)
            .args(&self.command.args)
            .arg(interface)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", self.command.program.display()))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if !status.success() => {
                    return Err(format!("{} exited with {status}", self.command.program.display()))
                }
                Ok(Some(_)) if socket_answers(&socket) => break,
                Ok(None) if socket_answers(&socket) => {
                    self.running = Some(child);
                    break;
                }
                Err(e) => return Err(e.to_string()),
                _ if Instant::now() >= deadline => {
                    if child.try_wait().ok().flatten().is_none() {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    return Err(format!("{interface}: no UAPI socket within {} s", START_TIMEOUT.as_secs()));
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        for address in &setup.addresses {
            let args = ["address", "replace", &address.to_string(), "dev", interface].map(String::from);
            run("ip", &args, IP_TIMEOUT)?;
        }
        if let Some(mtu) = setup.mtu {
            run("ip", &["link", "set", "dev", interface, "mtu", &mtu.to_string()].map(String::from), IP_TIMEOUT)?;
        }
        run("ip", &["link", "set", "dev", interface, "up"].map(String::from), IP_TIMEOUT)?;
        for route in &setup.routes {
            // `replace`: the route went away with the old interface, or still points at it.
            let mut args =
                vec!["route".to_string(), "replace".into(), route.to_string(), "dev".into(), interface.into()];
            if let Some(table) = &setup.table {
                args.extend(["table".to_string(), table.clone()]);
            }
            run("ip", &args, IP_TIMEOUT)?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut line = self.command.program.display().to_string();
        for arg in &self.command.args {
            line.push(' ');
            line.push_str(arg);
        }
        line
    }
}

impl Drop for CommandLauncher {
    fn drop(&mut self) {
        // A foreground daemon we started keeps running (it is the device); only reap it if it ended.
        if let Some(child) = self.running.as_mut() {
            let _ = child.try_wait();
        }
    }
}
