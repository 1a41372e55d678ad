//! A JavaScript function as the status server's device reader (`StatusServer.start(…, { dump })`): the
//! Node counterpart of Python's `dump=` callback.
//!
//! The server reads the device from its own native threads, but JavaScript runs on one thread only. So the
//! function is reached through a napi `ThreadsafeFunction`: a server thread queues a call on the JavaScript
//! thread and waits for the answer at most [`DUMP_TIMEOUT`]. The function may return the
//! `wg show IFNAME dump` text or a Promise of it. A throw, a rejection, a value that is not a string and a
//! missed deadline each become an `io_other` error of that one request (served as a 503 with the
//! message), never a crash or a hang; the text is parsed by the core (`wiremesh::parse_wg_dump`).

use std::path::Path;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use wiremesh::status_server::StateReader;
use wiremesh::{Error as CoreError, IoError};

/// The `dump` option as napi hands it over: called without arguments, its return value inspected on the
/// JavaScript thread. Weak: it does not keep Node's event loop alive (neither does the server).
pub type DumpFunction = ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>;

/// How long a request waits for `dump()` (and its Promise) before it fails.
pub const DUMP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the JavaScript thread answers: the text, or why there is none.
type Answer = std::result::Result<String, String>;

fn dump_error(kind: std::io::ErrorKind, message: String) -> CoreError {
    CoreError::Io(IoError::new("call dump()", Path::new("dump"), &std::io::Error::new(kind, message)))
}

/// A reader for the core's `StatusSource::Reader` that calls `dump` on the JavaScript thread and parses
/// what it returns. A read from the JavaScript thread itself (the server's start-up read that sets a
/// prober's targets) fails at once instead of waiting for a thread that is busy waiting: the targets are
/// then set by the first request.
pub fn reader(dump: DumpFunction) -> StateReader {
    let javascript_thread = thread::current().id();
    Arc::new(move || {
        if thread::current().id() == javascript_thread {
            return Err(dump_error(
                std::io::ErrorKind::WouldBlock,
                "dump() is not called from the JavaScript thread itself".into(),
            ));
        }
        wiremesh::parse_wg_dump(&call(&dump)?)
    })
}

/// Calls `dump()` on the JavaScript thread and waits for its text, at most [`DUMP_TIMEOUT`].
fn call(dump: &DumpFunction) -> std::result::Result<String, CoreError> {
    let (sender, receiver) = sync_channel::<Answer>(1);
    let queued = dump.call_with_return_value((), ThreadsafeFunctionCallMode::NonBlocking, move |returned, _env| {
        settle(returned, sender);
        Ok(())
    });
    if queued != Status::Ok {
        return Err(dump_error(std::io::ErrorKind::Other, format!("the JavaScript thread takes no calls ({queued})")));
    }
    match receiver.recv_timeout(DUMP_TIMEOUT) {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(message)) => Err(dump_error(std::io::ErrorKind::Other, message)),
        Err(RecvTimeoutError::Timeout) => Err(dump_error(
            std::io::ErrorKind::TimedOut,
            format!("no dump text within {} s (is the JavaScript thread blocked?)", DUMP_TIMEOUT.as_secs()),
        )),
        Err(RecvTimeoutError::Disconnected) => Err(dump_error(
            std::io::ErrorKind::Other,
            "the call was dropped before dump() answered (Node is shutting down?)".into(),
        )),
    }
}

/// On the JavaScript thread: answers with what `dump()` returned or threw, or follows its Promise. Never
/// blocks (the channel has room for the one answer) and never throws into JavaScript.
fn settle(returned: Result<Unknown<'_>>, sender: SyncSender<Answer>) {
    let value = match returned {
        Ok(value) => value,
        Err(thrown) => {
            let _ = sender.try_send(Err(reason(thrown)));
            return;
        }
    };
    if !value.is_promise().unwrap_or(false) {
        let _ = sender.try_send(text(value));
        return;
    }
    // SAFETY: `is_promise` said so.
    let followed = unsafe { value.cast::<PromiseRaw<'_, Unknown<'static>>>() }.and_then(|promise| {
        let on_value = sender.clone();
        let on_error = sender.clone();
        promise
            .then(move |resolved: CallbackContext<Unknown<'static>>| {
                let _ = on_value.try_send(text(resolved.value));
                Ok(())
            })?
            .catch(move |rejected: CallbackContext<Unknown<'static>>| {
                let _ = on_error.try_send(Err(reason(napi::Error::from_unknown_without_coercion(rejected.value))));
                Ok(())
            })
            .map(|_| ())
    });
    if let Err(e) = followed {
        let _ = sender.try_send(Err(format!("cannot follow the Promise dump() returned: {}", e.reason)));
    }
}

/// The text `dump()` gave, or why it is not text (its type only: the value may hold a key).
fn text(value: Unknown<'_>) -> Answer {
    match value.get_type() {
        // SAFETY: the type was checked.
        Ok(ValueType::String) => unsafe { value.cast::<String>() }.map_err(|e| e.reason),
        Ok(other) => {
            Err(format!("dump() must return a string or a Promise of one, not {}", other.to_string().to_lowercase()))
        }
        Err(e) => Err(e.reason),
    }
}

/// The message of a thrown or rejected value (an Error's `message`, a thrown string itself).
fn reason(error: napi::Error) -> String {
    if error.reason.is_empty() {
        "dump() failed without a message".into()
    } else {
        error.reason
    }
}
