//! fusebox's [`Coordinator`] on etcd: leases, elections, revisions as
//! fencing tokens, and etcd's Raft quorum
//! (`docs/semantics.md#coordination-and-quorum`).
//!
//! [`EtcdCoordinator`] implements the trait method for method on etcd's v3
//! API, so a [`Candidate`](fusebox::failover::Candidate) (and through it a
//! failover group) becomes primary across hosts through a real quorum store:
//!
//! * **Leadership.** A node grants a lease with a TTL and keeps it alive; it
//!   campaigns by creating `{prefix}{election}/{lease id in hex}` attached to
//!   the lease (the key layout of etcd's own `concurrency.Election`, so
//!   `etcdctl elect -l {election}` sees the same leader). The leader is the
//!   live key with the lowest create revision. Resigning deletes the key;
//!   a crash leaves it to die with the lease, one TTL later at most.
//! * **Fencing token.** The leader key's create revision. etcd's revision
//!   only grows, so every later leader holds a larger token.
//! * **Fenced writes.** [`Coordinator::put_fenced`] (and
//!   [`EtcdCoordinator::txn_fenced`]) is one etcd transaction:
//!   `If(CreateRevision(leader key) == token) Then(writes)`. A deposed
//!   primary's late write finds its key gone or replaced and is refused by
//!   etcd itself ([`CoordError::NotLeader`]).
//! * **Quorum.** Every request is linearizable and sent with etcd's
//!   "require leader" flag: a member cut off from the majority answers
//!   "no leader" at once, and lease renewals need the Raft leader. A node on
//!   the minority side cannot renew, so its [`Candidate`] stops acting at
//!   TTL − margin (the self-fencing deadline) and cannot campaign.
//!
//! Every call is blocking with a deadline (the client runs on a small tokio
//! runtime of its own): it can be called from any thread, async ones
//! included, and it never panics. etcd's failures come back as
//! [`CoordError`]s with etcd's words in them: unreachable members and
//! timeouts as [`CoordError::Unavailable`], a lost lease as
//! [`CoordError::LeaseNotFound`], a compacted revision as
//! [`CoordError::Unavailable`] naming the compaction (the waits in
//! [`Coordinator::campaign`] and [`Coordinator::observe`] recover from a
//! compaction by reading again).
//!
//! [`Elector`] drives a [`Candidate`] on a thread: it keeps the term alive,
//! campaigns while the node may be primary (always, or while a
//! [`FailoverGroup`](fusebox::failover::FailoverGroup) routes to it), hands
//! over when it may not, and reports errors as events.
//!
//! [`Candidate`]: fusebox::failover::Candidate

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, GetOptions, KeyValue, PutOptions, SortOrder,
    SortTarget, Txn, TxnOp, WatchOptions,
};
use fusebox::coordination::{
    CoordError, Coordinator, LeaderInfo, Leadership, Lease, LeaseId, Revision,
};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod elector;

pub use elector::{Elector, ElectorBuilder, ElectorEvent};

/// The environment variable [`EtcdOptions::from_env`] reads: etcd client
/// URLs separated by commas (`http://127.0.0.1:2379,http://...`).
pub const ENDPOINTS_ENV: &str = "FUSEBOX_ETCD_ENDPOINTS";

/// How to reach etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Client URLs of the cluster's members (`http://host:port`).
    pub endpoints: Vec<String>,
    /// Deadline of one request (default 1 s). A lease renewal that takes
    /// longer counts as failed; keep it well under the lease TTL.
    pub request_timeout: Duration,
    /// Deadline of opening a connection to a member (default 1 s).
    pub connect_timeout: Duration,
    /// Prepended to election names to make the prefix of their keys
    /// (default empty: election `db` uses keys `db/...`, like `etcdctl elect`).
    pub election_prefix: String,
}

impl EtcdOptions {
    /// Options for these endpoints, with the defaults.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        EtcdOptions {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            request_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            election_prefix: String::new(),
        }
    }

    /// Endpoints from [`ENDPOINTS_ENV`], or `None` when it is unset or empty.
    pub fn from_env() -> Option<Self> {
        let v = std::env::var(ENDPOINTS_ENV).ok()?;
        let eps: Vec<String> = v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        (!eps.is_empty()).then(|| Self::new(eps))
    }

    /// Set the request deadline.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Set the connection deadline.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Set the prefix of election keys.
    pub fn election_prefix(mut self, p: &str) -> Self {
        self.election_prefix = p.to_string();
        self
    }
}

/// A [`Coordinator`] on an etcd cluster. Cheap to share (`Arc`); every
/// method blocks for at most its deadline.
pub struct EtcdCoordinator {
    rt: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    client: Client,
    opts: EtcdOptions,
    /// TTLs granted by this client, to answer `keep_alive` in one round.
    ttls: Mutex<HashMap<i64, Duration>>,
}

impl fmt::Debug for EtcdCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdCoordinator")
            .field("endpoints", &self.opts.endpoints)
            .field("request_timeout", &self.opts.request_timeout)
            .finish()
    }
}

impl Drop for EtcdCoordinator {
    fn drop(&mut self) {
        // Never blocks, so dropping is fine from any thread (async included).
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn invalid(what: &'static str, detail: impl Into<String>) -> CoordError {
    CoordError::Invalid {
        what,
        detail: detail.into(),
    }
}

/// Turn an etcd client error into a [`CoordError`] that says what failed.
fn map_err(what: &str, lease: Option<i64>, e: etcd_client::Error) -> CoordError {
    use etcd_client::Error as E;
    let lease_gone = |msg: &str| msg.contains("lease not found");
    match e {
        E::LeaseKeepAliveError(m) if lease_gone(&m) => match lease {
            Some(id) => CoordError::LeaseNotFound(id as LeaseId),
            None => CoordError::Unavailable(format!("etcd {what}: {m}")),
        },
        E::GRpcStatus(s) => {
            let msg = s.message();
            if lease_gone(msg) {
                if let Some(id) = lease {
                    return CoordError::LeaseNotFound(id as LeaseId);
                }
            }
            if msg.contains("no leader") {
                return CoordError::Unavailable(format!(
                    "etcd {what}: the member reached has no leader \
                     (no majority of etcd members can reach each other): {msg}"
                ));
            }
            if msg.contains("compacted") {
                return CoordError::Unavailable(format!("etcd {what}: revision compacted: {msg}"));
            }
            // gRPC's INVALID_ARGUMENT (tonic is reached through etcd-client only).
            if i32::from(s.code()) == 3 {
                return invalid("request", format!("etcd {what}: {msg}"));
            }
            CoordError::Unavailable(format!("etcd {what}: {:?}: {msg}", s.code()))
        }
        E::InvalidArgs(m) => invalid("request", format!("etcd {what}: {m}")),
        E::InvalidUri(u) => invalid("endpoints", format!("{u}")),
        other => CoordError::Unavailable(format!("etcd {what}: {other}")),
    }
}

fn header_rev(h: Option<&etcd_client::ResponseHeader>) -> i64 {
    h.map_or(0, |h| h.revision())
}

fn info(kv: &KeyValue) -> LeaderInfo {
    LeaderInfo {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: String::from_utf8_lossy(kv.value()).into_owned(),
        revision: kv.create_revision() as Revision,
    }
}

fn check_election(election: &str) -> Result<(), CoordError> {
    if election.is_empty() || election.contains('/') {
        return Err(invalid(
            "election",
            format!("{election:?} (must be non-empty, without '/')"),
        ));
    }
    Ok(())
}

fn lease_i64(id: LeaseId) -> Result<i64, CoordError> {
    i64::try_from(id).map_err(|_| invalid("lease", format!("{id:x} is not an etcd lease id")))
}

fn rev_i64(rev: Revision) -> Result<i64, CoordError> {
    i64::try_from(rev).map_err(|_| invalid("revision", format!("{rev} is out of etcd's range")))
}

/// What a wait on a watch saw.
#[derive(Debug, PartialEq, Eq)]
enum Woke {
    /// Something under the prefix changed (or the watch was cancelled, e.g.
    /// because the start revision was compacted): read again.
    Changed,
    /// The deadline passed.
    Deadline,
}

/// One request with the request deadline.
async fn rq<T>(
    t: Duration,
    what: &str,
    lease: Option<i64>,
    f: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, CoordError> {
    match tokio::time::timeout(t, f).await {
        Ok(r) => r.map_err(|e| map_err(what, lease, e)),
        Err(_) => Err(CoordError::Unavailable(format!(
            "etcd {what}: no answer within {t:?}"
        ))),
    }
}

/// Wait until a key under `prefix` changes at or after revision `from`, or
/// until `deadline`.
async fn wait_change(
    c: &mut Client,
    t: Duration,
    prefix: &str,
    from: i64,
    deadline: Instant,
) -> Result<Woke, CoordError> {
    let opts = WatchOptions::new().with_prefix().with_start_revision(from);
    let mut ws = rq(t, "watch", None, c.watch(prefix, Some(opts))).await?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Woke::Deadline);
        }
        match tokio::time::timeout(left, ws.message()).await {
            Err(_) => return Ok(Woke::Deadline),
            Ok(Err(e)) => return Err(map_err("watch", None, e)),
            Ok(Ok(None)) => {
                return Err(CoordError::Unavailable(
                    "etcd watch: the stream ended".into(),
                ))
            }
            Ok(Ok(Some(resp))) => {
                if resp.canceled() || !resp.events().is_empty() {
                    // A compacted start revision cancels the watch: the
                    // caller reads the current state again, which is all a
                    // wait needs.
                    return Ok(Woke::Changed);
                }
            }
        }
    }
}

/// The keys of an election, oldest first, and the revision they were read at.
async fn candidates(
    c: &mut Client,
    t: Duration,
    prefix: &str,
    limit: Option<i64>,
) -> Result<(Vec<KeyValue>, i64), CoordError> {
    let mut o = GetOptions::new()
        .with_prefix()
        .with_sort(SortTarget::Create, SortOrder::Ascend);
    if let Some(n) = limit {
        o = o.with_limit(n);
    }
    let mut r = rq(t, "range", None, c.get(prefix, Some(o))).await?;
    let rev = header_rev(r.header());
    Ok((r.take_kvs(), rev))
}

impl EtcdCoordinator {
    /// Connect to etcd. Members are dialled lazily: an unreachable cluster
    /// shows up as [`CoordError::Unavailable`] from the first call, not here.
    pub fn connect(opts: EtcdOptions) -> Result<Self, CoordError> {
        if opts.endpoints.is_empty() {
            return Err(invalid("endpoints", "no etcd endpoint given"));
        }
        if opts.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "must be positive"));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fusebox-etcd")
            .enable_all()
            .build()
            .map_err(|e| CoordError::Unavailable(format!("cannot start the etcd client: {e}")))?;
        let handle = rt.handle().clone();
        // No per-request timeout in the client: it would also cut watch
        // streams; each unary call gets its own deadline here instead.
        let copts = ConnectOptions::new()
            .with_connect_timeout(opts.connect_timeout)
            // HTTP/2 pings find dead connections; etcd answers pings more
            // frequent than every 5 s by closing the connection.
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(3))
            .with_require_leader(true);
        let eps = opts.endpoints.clone();
        let t = opts.connect_timeout + opts.request_timeout;
        let client = Self::run_on(&handle, t, "connect", async move {
            Client::connect(eps, Some(copts))
                .await
                .map_err(|e| map_err("connect", None, e))
        })?;
        Ok(EtcdCoordinator {
            rt: Some(rt),
            handle,
            client,
            opts,
            ttls: Mutex::new(HashMap::new()),
        })
    }

    /// Connect to the endpoints in [`ENDPOINTS_ENV`].
    pub fn from_env() -> Result<Self, CoordError> {
        let opts = EtcdOptions::from_env()
            .ok_or_else(|| invalid("endpoints", format!("{ENDPOINTS_ENV} is not set")))?;
        Self::connect(opts)
    }

    /// The options in use.
    pub fn options(&self) -> &EtcdOptions {
        &self.opts
    }

    /// The underlying async client, for calls this crate does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Run `f` on this coordinator's runtime with a client, waiting at most
    /// `timeout`: a way to make other etcd calls from blocking code.
    pub fn run<T, F>(&self, timeout: Duration, f: impl FnOnce(Client) -> F) -> Result<T, CoordError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, etcd_client::Error>> + Send + 'static,
    {
        let fut = f(self.client.clone());
        Self::run_on(&self.handle, timeout, "call", async move {
            fut.await.map_err(|e| map_err("call", None, e))
        })
    }

    /// The election's key prefix.
    fn prefix(&self, election: &str) -> String {
        format!("{}{election}/", self.opts.election_prefix)
    }

    fn call<T, F>(&self, what: &'static str, extra: Duration, fut: F) -> Result<T, CoordError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, CoordError>> + Send + 'static,
    {
        Self::run_on(&self.handle, self.opts.request_timeout + extra, what, fut)
    }

    /// Run `fut` on the runtime and wait for it from this (any) thread: no
    /// `block_on`, so callers inside an async runtime do not panic.
    fn run_on<T, F>(
        handle: &tokio::runtime::Handle,
        timeout: Duration,
        what: &'static str,
        fut: F,
    ) -> Result<T, CoordError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, CoordError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        handle.spawn(async move {
            let r = match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(CoordError::Unavailable(format!(
                    "etcd {what}: no answer within {timeout:?}"
                ))),
            };
            let _ = tx.send(r);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(CoordError::Unavailable(format!(
                "etcd {what}: the client runtime has stopped"
            )))
        })
    }

    /// Apply `ops` in one etcd transaction, only while `leadership` is still
    /// current (its leader key exists with the same create revision).
    /// Returns the revision of the transaction, or [`CoordError::NotLeader`].
    pub fn txn_fenced(
        &self,
        leadership: &Leadership,
        ops: Vec<TxnOp>,
    ) -> Result<Revision, CoordError> {
        if ops.is_empty() {
            return Err(invalid("ops", "a fenced transaction needs an operation"));
        }
        let rev = rev_i64(leadership.revision)?;
        if rev == 0 {
            return Err(invalid("leadership", "revision 0 is no term"));
        }
        let key = leadership.key.clone();
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        self.call("fenced txn", Duration::ZERO, async move {
            let txn = Txn::new()
                .when([Compare::create_revision(key, CompareOp::Equal, rev)])
                .and_then(ops);
            let r = rq(t, "fenced txn", None, c.txn(txn)).await?;
            if r.succeeded() {
                Ok(header_rev(r.header()) as Revision)
            } else {
                Err(CoordError::NotLeader)
            }
        })
    }

    /// Compact etcd's history up to `revision` (for tests and operators;
    /// elections keep working across compactions).
    pub fn compact(&self, revision: Revision) -> Result<(), CoordError> {
        let rev = rev_i64(revision)?;
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        self.call("compact", Duration::ZERO, async move {
            rq(t, "compact", None, c.compact(rev, None))
                .await
                .map(|_| ())
        })
    }

    /// The cluster's current revision.
    pub fn revision(&self) -> Result<Revision, CoordError> {
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        self.call("range", Duration::ZERO, async move {
            let r = rq(
                t,
                "range",
                None,
                c.get("\0", Some(GetOptions::new().with_count_only())),
            )
            .await?;
            Ok(header_rev(r.header()) as Revision)
        })
    }

    /// Wait until something under `prefix` changes at or after revision
    /// `from` (a watch), or `wait` passes. `Ok(true)` when it changed or the
    /// watch was cancelled (a compacted `from`): read again.
    pub fn wait_change(
        &self,
        prefix: &str,
        from: Revision,
        wait: Duration,
    ) -> Result<bool, CoordError> {
        let from = rev_i64(from)?;
        let prefix = prefix.to_string();
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        let deadline = Instant::now() + wait;
        self.call("watch", wait, async move {
            Ok(wait_change(&mut c, t, &prefix, from, deadline).await? == Woke::Changed)
        })
    }
}

impl Coordinator for EtcdCoordinator {
    fn grant(&self, ttl: Duration) -> Result<Lease, CoordError> {
        if ttl.is_zero() {
            return Err(invalid("ttl", "a lease needs a positive time to live"));
        }
        // etcd counts whole seconds: round up, so the store never ends a
        // lease before the caller's own reckoning does.
        let secs = i64::try_from(ttl.as_nanos().div_ceil(1_000_000_000))
            .map_err(|_| invalid("ttl", format!("{ttl:?} is too long")))?;
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        let lease = self.call("lease grant", Duration::ZERO, async move {
            let r = rq(t, "lease grant", None, c.lease_grant(secs, None)).await?;
            if !r.error().is_empty() {
                return Err(CoordError::Unavailable(format!(
                    "etcd lease grant: {}",
                    r.error()
                )));
            }
            // etcd may raise a short TTL to its minimum (1.5 election
            // timeouts); report what it granted.
            Ok(Lease {
                id: r.id() as LeaseId,
                ttl: Duration::from_secs(r.ttl().max(0) as u64),
            })
        })?;
        self.ttls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(lease.id as i64, lease.ttl);
        Ok(lease)
    }

    fn keep_alive(&self, lease: LeaseId) -> Result<Duration, CoordError> {
        let id = lease_i64(lease)?;
        let known = self
            .ttls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .copied();
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        let r = self.call("lease keep-alive", Duration::ZERO, async move {
            // One round of LeaseKeepAlive: the stream is opened, one renewal
            // is sent and its answer read (a TTL of 0 means "not found").
            rq(t, "lease keep-alive", Some(id), c.lease_keep_alive(id)).await?;
            match known {
                Some(ttl) => Ok(ttl),
                None => {
                    let r = rq(
                        t,
                        "lease time-to-live",
                        Some(id),
                        c.lease_time_to_live(id, None),
                    )
                    .await?;
                    if r.ttl() < 0 {
                        return Err(CoordError::LeaseNotFound(lease));
                    }
                    Ok(Duration::from_secs(r.granted_ttl().max(0) as u64))
                }
            }
        });
        if let Err(CoordError::LeaseNotFound(_)) = r {
            self.ttls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
        r
    }

    fn revoke(&self, lease: LeaseId) -> Result<(), CoordError> {
        let id = lease_i64(lease)?;
        self.ttls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        self.call("lease revoke", Duration::ZERO, async move {
            rq(t, "lease revoke", Some(id), c.lease_revoke(id))
                .await
                .map(|_| ())
        })
    }

    fn campaign(
        &self,
        election: &str,
        lease: LeaseId,
        value: &str,
        wait: Duration,
    ) -> Result<Leadership, CoordError> {
        check_election(election)?;
        let id = lease_i64(lease)?;
        let prefix = self.prefix(election);
        let key = format!("{prefix}{id:x}");
        let (election, value) = (election.to_string(), value.to_string());
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        // The wait, plus a few requests' worth for the reads around it.
        let extra = wait + 3 * t;
        self.call("campaign", extra, async move {
            // Stand: create our key unless it exists (a campaign again with
            // the same lease keeps its place in line, and its revision).
            let put = || {
                TxnOp::put(
                    key.clone(),
                    value.clone(),
                    Some(PutOptions::new().with_lease(id)),
                )
            };
            let txn = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                .and_then([put()])
                .or_else([TxnOp::get(key.clone(), None)]);
            let r = rq(t, "campaign", Some(id), c.txn(txn)).await?;
            let mine = if r.succeeded() {
                header_rev(r.header())
            } else {
                let kv = r.op_responses().into_iter().find_map(|op| match op {
                    etcd_client::TxnOpResponse::Get(mut g) => g.take_kvs().into_iter().next(),
                    _ => None,
                });
                let Some(kv) = kv else {
                    // Deleted between the compare and the read: stand again.
                    return Err(CoordError::Unavailable(
                        "etcd campaign: our key vanished while standing; try again".into(),
                    ));
                };
                if kv.value() != value.as_bytes() {
                    // Proclaim the new value (the create revision is kept).
                    let txn = Txn::new()
                        .when([Compare::create_revision(
                            key.clone(),
                            CompareOp::Equal,
                            kv.create_revision(),
                        )])
                        .and_then([put()]);
                    rq(t, "campaign", Some(id), c.txn(txn)).await?;
                }
                kv.create_revision()
            };
            let deadline = Instant::now() + wait;
            loop {
                let (kvs, rev) = candidates(&mut c, t, &prefix, None).await?;
                let Some(ours) = kvs.iter().find(|kv| kv.key() == key.as_bytes()) else {
                    // Our key died with its lease (or was deleted under us).
                    return Err(CoordError::LeaseNotFound(lease));
                };
                if ours.create_revision() != mine {
                    return Err(CoordError::LeaseNotFound(lease));
                }
                let first = &kvs[0];
                if first.key() == key.as_bytes() {
                    return Ok(Leadership {
                        election,
                        key,
                        revision: mine as Revision,
                        lease,
                    });
                }
                if Instant::now() >= deadline
                    || wait_change(&mut c, t, &prefix, rev + 1, deadline).await? == Woke::Deadline
                {
                    // Re-read once: the leader may have gone at the deadline.
                    let (kvs, _) = candidates(&mut c, t, &prefix, Some(1)).await?;
                    if kvs.first().is_some_and(|kv| kv.key() == key.as_bytes()) {
                        continue;
                    }
                    // Withdraw, as etcd's client does when a campaign's
                    // context ends; if this fails the key dies with the lease.
                    let txn = Txn::new()
                        .when([Compare::create_revision(
                            key.clone(),
                            CompareOp::Equal,
                            mine,
                        )])
                        .and_then([TxnOp::delete(key.clone(), None)]);
                    let _ = rq(t, "campaign withdraw", Some(id), c.txn(txn)).await;
                    return Err(CoordError::NotElected {
                        leader: kvs.first().map(info),
                    });
                }
            }
        })
    }

    fn resign(&self, leadership: &Leadership) -> Result<(), CoordError> {
        let rev = rev_i64(leadership.revision)?;
        let key = leadership.key.clone();
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        self.call("resign", Duration::ZERO, async move {
            let txn = Txn::new()
                .when([Compare::create_revision(key.clone(), CompareOp::Equal, rev)])
                .and_then([TxnOp::delete(key, None)]);
            rq(t, "resign", None, c.txn(txn)).await.map(|_| ())
        })
    }

    fn leader(&self, election: &str) -> Result<Option<LeaderInfo>, CoordError> {
        check_election(election)?;
        let prefix = self.prefix(election);
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        self.call("leader", Duration::ZERO, async move {
            let (kvs, _) = candidates(&mut c, t, &prefix, Some(1)).await?;
            Ok(kvs.first().map(info))
        })
    }

    fn observe(
        &self,
        election: &str,
        known: Revision,
        wait: Duration,
    ) -> Result<Option<LeaderInfo>, CoordError> {
        check_election(election)?;
        let prefix = self.prefix(election);
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        let deadline = Instant::now() + wait;
        self.call("observe", wait + 2 * t, async move {
            loop {
                let (kvs, rev) = candidates(&mut c, t, &prefix, Some(1)).await?;
                let l = kvs.first().map(info);
                if l.as_ref().map_or(0, |l| l.revision) != known || Instant::now() >= deadline {
                    return Ok(l);
                }
                if wait_change(&mut c, t, &prefix, rev + 1, deadline).await? == Woke::Deadline {
                    let (kvs, _) = candidates(&mut c, t, &prefix, Some(1)).await?;
                    return Ok(kvs.first().map(info));
                }
            }
        })
    }

    fn put_fenced(
        &self,
        leadership: &Leadership,
        key: &str,
        value: &str,
    ) -> Result<Revision, CoordError> {
        if key.is_empty() {
            return Err(invalid("key", "empty"));
        }
        self.txn_fenced(leadership, vec![TxnOp::put(key, value, None)])
    }

    fn get(&self, key: &str) -> Result<Option<(String, Revision)>, CoordError> {
        if key.is_empty() {
            return Err(invalid("key", "empty"));
        }
        let key = key.to_string();
        let t = self.opts.request_timeout;
        let mut c = self.client.clone();
        self.call("get", Duration::ZERO, async move {
            let mut r = rq(t, "get", None, c.get(key, None)).await?;
            Ok(r.take_kvs().into_iter().next().map(|kv| {
                (
                    String::from_utf8_lossy(kv.value()).into_owned(),
                    kv.mod_revision() as Revision,
                )
            }))
        })
    }
}
