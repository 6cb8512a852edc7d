//! The `tracing` feature: events for state changes and rejections, and the
//! `fusebox.call` span's decision, seen by a collecting Layer.

use fusebox::{Breaker, CallError, Config, ManualClock};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::Layer;

type Fields = BTreeMap<String, String>;

/// Every event (with the `decision` of the span it ran in, if any) and
/// every span opened.
#[derive(Clone, Default)]
struct Collect {
    events: Arc<Mutex<Vec<Fields>>>,
    spans: Arc<Mutex<Vec<Fields>>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl<S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for Collect {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut f = Fields::new();
        f.insert("span".into(), attrs.metadata().name().into());
        attrs.record(&mut Visitor(&mut f));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(f.clone());
        }
        self.spans.lock().unwrap().push(f);
    }
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut f = Fields::new();
        f.insert("target".into(), event.metadata().target().into());
        f.insert("level".into(), event.metadata().level().to_string());
        event.record(&mut Visitor(&mut f));
        if let Some(span) = ctx.event_span(event) {
            if let Some(d) = span
                .extensions()
                .get::<Fields>()
                .and_then(|s| s.get("decision"))
            {
                f.insert("in_span_decision".into(), d.clone());
            }
        }
        self.events.lock().unwrap().push(f);
    }
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Keep only `keys` of each record.
fn only(records: &[Fields], keys: &[&str]) -> Vec<Fields> {
    records
        .iter()
        .map(|r| {
            r.iter()
                .filter(|(k, _)| keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect()
}

fn breaker(clock: &Arc<ManualClock>) -> Breaker {
    let mut config = Config::builder()
        .min_calls(2)
        .failure_rate_threshold(0.5)
        .open_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    config.success_threshold = 1; // one probe closes it
    Breaker::named("db", config, clock.clone()).unwrap()
}

#[test]
fn transitions_and_rejections_are_events_with_a_reason() {
    let collect = Collect::default();
    let subscriber = tracing_subscriber::registry().with(collect.clone());
    let clock = Arc::new(ManualClock::new());
    tracing::subscriber::with_default(subscriber, || {
        let db = breaker(&clock);
        let _ = db.call(|| Err::<(), _>("down"));
        let _ = db.call(|| Err::<(), _>("down")); // trips
        assert!(matches!(
            db.call(|| Ok::<_, ()>(())),
            Err(CallError::Rejected(_))
        ));
        clock.advance(Duration::from_secs(10));
        db.call(|| Ok::<_, ()>(())).unwrap(); // the probe closes it
        db.force_open();
        assert!(db.try_acquire().is_err());
        db.reset();
    });

    let events = collect.events.lock().unwrap().clone();
    let keys = ["breaker", "from", "to", "reason", "level", "target"];
    assert_eq!(
        only(&events, &keys),
        vec![
            fields(&[
                ("target", "fusebox"),
                ("level", "INFO"),
                ("breaker", "db"),
                ("from", "closed"),
                ("to", "open"),
                ("reason", "failure_rate")
            ]),
            fields(&[
                ("target", "fusebox"),
                ("level", "DEBUG"),
                ("breaker", "db"),
                ("reason", "open")
            ]),
            fields(&[
                ("target", "fusebox"),
                ("level", "INFO"),
                ("breaker", "db"),
                ("from", "open"),
                ("to", "half_open"),
                ("reason", "open_timeout")
            ]),
            fields(&[
                ("target", "fusebox"),
                ("level", "INFO"),
                ("breaker", "db"),
                ("from", "half_open"),
                ("to", "closed"),
                ("reason", "probes_succeeded")
            ]),
            fields(&[
                ("target", "fusebox"),
                ("level", "INFO"),
                ("breaker", "db"),
                ("from", "closed"),
                ("to", "forced_open"),
                ("reason", "force_open")
            ]),
            fields(&[
                ("target", "fusebox"),
                ("level", "DEBUG"),
                ("breaker", "db"),
                ("reason", "forced_open")
            ]),
            fields(&[
                ("target", "fusebox"),
                ("level", "INFO"),
                ("breaker", "db"),
                ("from", "forced_open"),
                ("to", "closed"),
                ("reason", "reset")
            ]),
        ]
    );
    // The open breaker's rejection says when to come back.
    assert_eq!(
        events[1].get("retry_after_ms").map(String::as_str),
        Some("10000")
    );
}

#[test]
fn each_protected_call_has_a_span_with_its_decision() {
    let collect = Collect::default();
    let subscriber = tracing_subscriber::registry().with(collect.clone());
    let clock = Arc::new(ManualClock::new());
    tracing::subscriber::with_default(subscriber, || {
        let db = breaker(&clock);
        db.call(|| {
            tracing::info!("inside");
            Ok::<_, ()>(())
        })
        .unwrap();
        db.force_open();
        let _ = db.call(|| Ok::<_, ()>(()));
        db.reset();
        let _ = db.call(|| Err::<(), _>("down"));
        let _ = db.call(|| Err::<(), _>("down")); // trips
        clock.advance(Duration::from_secs(10));
        db.call(|| Ok::<_, ()>(())).unwrap();
        // try_acquire is not a protected call: no span.
        db.try_acquire().unwrap().success();
    });
    let spans = collect.spans.lock().unwrap().clone();
    let decisions: Vec<(&str, &str, &str)> = spans
        .iter()
        .map(|s| {
            (
                s["span"].as_str(),
                s["breaker"].as_str(),
                s["decision"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("fusebox.call", "db", "admitted"),
            ("fusebox.call", "db", "rejected"),
            ("fusebox.call", "db", "admitted"),
            ("fusebox.call", "db", "admitted"),
            ("fusebox.call", "db", "probe"),
        ]
    );
    let events = collect.events.lock().unwrap().clone();
    let inside = events
        .iter()
        .find(|e| e.get("message").map(String::as_str) == Some("inside"))
        .unwrap();
    assert_eq!(
        inside.get("in_span_decision").map(String::as_str),
        Some("admitted")
    );
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn async_calls_run_inside_their_span() {
    let collect = Collect::default();
    let subscriber = tracing_subscriber::registry().with(collect.clone());
    let clock = Arc::new(ManualClock::new());
    tracing::subscriber::with_default(subscriber, || {
        let db = breaker(&clock);
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let fut = db.call_async(|| async {
            tracing::info!("polled");
            Ok::<_, ()>(1)
        });
        assert_eq!(pin!(fut).poll(&mut cx), Poll::Ready(Ok(1)));
        db.force_open();
        let fut = db.call_async(|| async { Ok::<_, ()>(2) });
        assert!(matches!(
            pin!(fut).poll(&mut cx),
            Poll::Ready(Err(CallError::Rejected(_)))
        ));
    });
    let spans = collect.spans.lock().unwrap().clone();
    let decisions: Vec<&str> = spans.iter().map(|s| s["decision"].as_str()).collect();
    assert_eq!(decisions, ["admitted", "rejected"]);
    let events = collect.events.lock().unwrap().clone();
    let polled = events
        .iter()
        .find(|e| e.get("message").map(String::as_str) == Some("polled"))
        .unwrap();
    assert_eq!(
        polled.get("in_span_decision").map(String::as_str),
        Some("admitted")
    );
}
