//! wiremeshd: wiremesh's userspace WireGuard daemon, following the wireguard-go convention so that
//! `WG_QUICK_USERSPACE_IMPLEMENTATION=wiremeshd wg-quick up FILE` works.
//!
//! `wiremeshd [-f|--foreground] IFNAME` creates the TUN interface IFNAME and its UAPI socket
//! `/var/run/wireguard/IFNAME.sock` (0600), then — unless `-f` — returns once both are ready, leaving
//! the daemon running detached. It exits cleanly on SIGINT/SIGTERM, when the interface is deleted, or
//! when the socket is removed, deleting the interface and the socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wiremesh::device::{Device, DeviceOptions, StopReason};

const CHILD_ENV: &str = "WIREMESHD_DAEMON_CHILD";
const READY: &str = "wiremeshd: ready";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

fn usage() -> ExitCode {
    eprintln!("usage: wiremeshd [-f|--foreground] INTERFACE-NAME");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut foreground = false;
    let mut ifname = None;
    for arg in &args {
        match arg.as_str() {
            "-f" | "--foreground" => foreground = true,
            "-h" | "--help" => {
                let _ = usage();
                return ExitCode::SUCCESS;
            }
            "--version" => {
                println!("wiremeshd {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => return usage(),
            s if ifname.is_none() => ifname = Some(s.to_string()),
            _ => return usage(),
        }
    }
    let Some(ifname) = ifname else { return usage() };
    if foreground {
        run(&ifname, std::env::var_os(CHILD_ENV).is_some())
    } else {
        daemonize(&ifname)
    }
}

/// Starts `wiremeshd -f IFNAME` detached (own session, stdin from /dev/null, output to a pipe we read
/// until it reports ready), then returns: 0 once the interface and socket exist, 1 with its error.
fn daemonize(ifname: &str) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wiremeshd: cannot find my own executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut command = Command::new(exe);
    command
        .arg("--foreground")
        .arg(ifname)
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid and dup2 are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::dup2(1, 2) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wiremeshd: cannot start the daemon: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + STARTUP_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line == READY => return ExitCode::SUCCESS,
            Ok(line) => eprintln!("{line}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait();
                eprintln!(
                    "wiremeshd: the daemon exited before it was ready ({})",
                    status.map(|s| s.to_string()).unwrap_or_default()
                );
                return ExitCode::FAILURE;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("wiremeshd: the daemon was not ready after {}s; stopping it", STARTUP_TIMEOUT.as_secs());
                let _ = child.kill();
                let _ = child.wait();
                return ExitCode::FAILURE;
            }
        }
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in every thread (the device's threads inherit the mask); the
/// main thread collects them with sigtimedwait.
fn block_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is initialised by sigemptyset before use; pthread_sigmask gets valid pointers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<i32> {
    let ts =
        libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    // SAFETY: valid pointers to a sigset and a timespec; the siginfo out-pointer may be null.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

fn run(ifname: &str, daemon_child: bool) -> ExitCode {
    let set = block_signals();
    // The socket and anything we create are private to root.
    // SAFETY: umask only changes this process's file creation mask.
    unsafe { libc::umask(0o077) };
    let device = match Device::start(&DeviceOptions::new(ifname)) {
        Ok(d) => d,
        Err(e) => {
            println!("wiremeshd: error[{}]: {e}", e.code());
            return ExitCode::FAILURE;
        }
    };
    if daemon_child {
        println!("{READY}");
        let _ = std::io::stdout().flush();
        // Detach from the parent's pipe: later output goes nowhere, as wireguard-go's does by default.
        // SAFETY: open and dup2 on valid arguments; the descriptor numbers 1 and 2 stay valid.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            if null >= 0 {
                libc::dup2(null, 1);
                libc::dup2(null, 2);
                libc::close(null);
            }
        }
    } else {
        eprintln!("wiremeshd: {ifname} is up; UAPI socket /var/run/wireguard/{ifname}.sock");
    }
    let reason = loop {
        if let Some(sig) = wait_signal(&set, Duration::from_millis(200)) {
            break format!("signal {sig}");
        }
        if device.is_stopped() {
            break match device.stop_reason() {
                Some(StopReason::InterfaceDeleted) => "the interface was deleted".to_string(),
                Some(StopReason::SocketRemoved) => "the UAPI socket was removed".to_string(),
                Some(StopReason::TunFailed) => "the TUN device failed".to_string(),
                _ => "stop requested".to_string(),
            };
        }
    };
    let counters = device.counters();
    device.stop();
    eprintln!(
        "wiremeshd: {ifname} stopped ({reason}); dropped: {} by the source-address check, {} without a route, {} without an endpoint, {} invalid; {} cookie replies",
        counters.ingress_dropped, counters.no_route_dropped, counters.no_endpoint_dropped, counters.invalid_dropped, counters.cookies_sent
    );
    ExitCode::SUCCESS
}
