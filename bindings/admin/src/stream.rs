//! `/events`: server-sent events, one message per state change of any
//! breaker of the registry, fanned out to every open stream.

use std::io::Write;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Messages held for a stream that does not keep up; more are dropped
/// for it (the page also polls `/breakers`).
const QUEUE: usize = 256;

/// A comment line sent when nothing happened for this long, so that a
/// stream whose client went away is noticed and closed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The open streams.
pub(crate) struct Hub {
    streams: Mutex<Option<Vec<SyncSender<String>>>>,
    max: usize,
}

impl Hub {
    pub(crate) fn new(max: usize) -> Hub {
        Hub {
            streams: Mutex::new(Some(Vec::new())),
            max,
        }
    }

    /// Send `message` (one JSON line) to every stream.
    pub(crate) fn publish(&self, message: &str) {
        let mut guard = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(streams) = guard.as_mut() {
            streams.retain(|s| match s.try_send(message.to_owned()) {
                Ok(()) | Err(TrySendError::Full(_)) => true,
                Err(TrySendError::Disconnected(_)) => false,
            });
        }
    }

    /// A new stream's queue; `None` when closed or `max` are open.
    pub(crate) fn subscribe(&self) -> Option<Receiver<String>> {
        let mut guard = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        let streams = guard.as_mut()?;
        if streams.len() >= self.max {
            return None;
        }
        let (tx, rx) = sync_channel(QUEUE);
        streams.push(tx);
        Some(rx)
    }

    /// End every stream and refuse new ones.
    pub(crate) fn close(&self) {
        *self.streams.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Write the response head and then each message of `queue` as an event,
/// until the queue is closed (the response then ends with the last chunk:
/// the client sees the stream end) or the client goes away.
pub(crate) fn run(mut out: impl Write, queue: Receiver<String>) {
    let head = "HTTP/1.1 200 OK\r\n\
                Content-Type: text/event-stream\r\n\
                Cache-Control: no-cache\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let send = |out: &mut dyn Write, text: &str| -> std::io::Result<()> {
        write!(out, "{:x}\r\n{text}\r\n", text.len())?;
        out.flush()
    };
    if out
        .write_all(head.as_bytes())
        .and_then(|_| send(&mut out, "retry: 1000\n: connected\n\n"))
        .is_err()
    {
        return;
    }
    loop {
        let event = match queue.recv_timeout(KEEP_ALIVE) {
            Ok(message) => format!("event: transition\ndata: {message}\n\n"),
            Err(RecvTimeoutError::Timeout) => ": keep-alive\n\n".to_owned(),
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if send(&mut out, &event).is_err() {
            return;
        }
    }
    let _ = out.write_all(b"0\r\n\r\n").and_then(|_| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_limit_and_close() {
        let hub = Hub::new(2);
        let a = hub.subscribe().unwrap();
        let b = hub.subscribe().unwrap();
        assert!(hub.subscribe().is_none(), "at most 2");
        hub.publish("{}");
        assert_eq!(a.try_recv().unwrap(), "{}");
        assert_eq!(b.try_recv().unwrap(), "{}");
        drop(a);
        hub.publish("x"); // a's sender is dropped here
        assert!(hub.subscribe().is_some(), "room again");
        hub.close();
        assert!(
            b.recv().is_ok() && b.recv().is_err(),
            "closed after its last message"
        );
        assert!(hub.subscribe().is_none());
    }

    #[test]
    fn events_are_written_until_the_queue_closes() {
        let hub = Hub::new(1);
        let rx = hub.subscribe().unwrap();
        hub.publish(r#"{"to":"open"}"#);
        hub.close();
        let mut out = Vec::new();
        run(&mut out, rx);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"));
        assert!(text.contains("\r\n\r\n19\r\nretry: 1000\n: connected\n\n\r\n"));
        assert!(
            text.ends_with("\r\n27\r\nevent: transition\ndata: {\"to\":\"open\"}\n\n\r\n0\r\n\r\n")
        );
    }
}
