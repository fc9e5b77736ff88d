//! The event hub (DESIGN §5): a gRPC stream of the durable event log `am_event` to other nodes. A subscriber
//! gets the backlog after its sequence number, then live events, in order, with a heartbeat every second. Any
//! control plane on the same database serves the same log, so a subscriber can move between them freely.
//!
//! Sequence numbers are taken when a transaction inserts and become visible when it commits, so a later number
//! can be read before an earlier one; both ends keep an `apim_wire::hub::Cursor` and a late commit is still
//! delivered, once.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use apim_store::ApiStore;
use apim_wire::hub::{self, Cursor, HubMessage, SubscribeRequest, hub_message::Kind};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::ControlPlane;
use crate::internal::GATEWAY_SEEN_EVERY;

/// Heartbeat period; subscribers reconnect after two silent seconds (`apim_sync::SILENCE`).
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Rows read per query.
const BATCH: i64 = 500;
/// While numbers are missing, the log is read this often (a late commit does not move the newest number).
const GAP_POLL: Duration = Duration::from_millis(20);
/// Events stay in the log at least this long, and the newest [`KEEP_EVENTS`] stay whatever their age.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
pub const KEEP_EVENTS: i64 = 100_000;

/// The gRPC service; `credentials` is the expected `Authorization` value (HTTP Basic of `[apim.event_hub]`).
pub struct HubService {
    cp: Arc<ControlPlane>,
    credentials: String,
}

impl ControlPlane {
    /// The event hub as a tonic service, for the wiring to serve on the event-hub port.
    pub fn event_hub(self: &Arc<Self>) -> hub::event_hub_server::EventHubServer<HubService> {
        let credentials = self.cfg.event_hub_basic();
        hub::event_hub_server::EventHubServer::new(HubService { cp: self.clone(), credentials })
    }

    /// Drops events older than [`RETENTION`] beyond the newest [`KEEP_EVENTS`], revoked tokens that have
    /// expired, what it knew of gateway nodes silent for [`RETENTION`] and of traffic managers silent for five
    /// minutes; then rolls up and prunes analytics. A subscriber older than what is left is told to resync from a
    /// snapshot.
    pub async fn prune(&self) -> Result<u64, apim_store::StoreError> {
        let head = self.db.last_event_seq().await?;
        let before = self.clock.unix_secs() - RETENTION.as_secs() as i64;
        let pruned = self.db.prune_events(before, head - KEEP_EVENTS).await?;
        self.prune_revocations().await?;
        self.prune_gateways().await?;
        self.prune_traffic_managers().await?;
        self.prune_analytics().await?;
        Ok(pruned)
    }
}

type Stream = Pin<Box<dyn tokio_stream::Stream<Item = Result<HubMessage, Status>> + Send>>;

#[tonic::async_trait]
impl hub::event_hub_server::EventHub for HubService {
    type SubscribeStream = Stream;

    async fn subscribe(&self, req: Request<SubscribeRequest>) -> Result<Response<Stream>, Status> {
        let given = req.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !apim_jose::crypto::ct_eq(given, &self.credentials) {
            return Err(Status::unauthenticated("wrong or missing [apim.event_hub] credentials (HTTP Basic in `authorization`)"));
        }
        let sub = req.into_inner();
        if sub.last_seq < 0 {
            return Err(Status::invalid_argument("last_seq must not be negative"));
        }
        let (first, head) = match tokio::try_join!(self.cp.db.first_event_seq(), self.cp.db.last_event_seq()) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("event hub cannot read the log: {e}");
                return Err(Status::unavailable("the control plane cannot read its event log; try another one"));
            }
        };
        tracing::info!(node = %sub.node_id, role = %sub.role, labels = ?sub.labels, last_seq = sub.last_seq, head, "event hub subscriber");
        let (tx, rx) = mpsc::channel(256);
        let resync = if sub.last_seq > head {
            Some("the subscriber is ahead of this log (was the database replaced?)")
        } else if first > 1 && sub.last_seq < first - 1 {
            Some("the subscriber is behind the retained log")
        } else {
            None
        };
        if let Some(reason) = resync {
            let msg = HubMessage { kind: Some(Kind::Resync(hub::Resync { reason: reason.into(), oldest_seq: first, head_seq: head })) };
            let _ = tx.try_send(Ok(msg));
        } else {
            let gateway = sub.role == "gateway";
            tokio::spawn(follow(self.cp.clone(), Cursor::new(sub.last_seq, &sub.pending, self.cp.now_ms()), tx, sub.node_id, gateway));
        }
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

/// Sends what the cursor has not seen, then waits for the log to move (or for a gap's late commit), sending a
/// heartbeat each quiet second; a `gateway` subscriber is noted as heard from every [`GATEWAY_SEEN_EVERY`]. Ends
/// when the subscriber goes away.
async fn follow(cp: Arc<ControlPlane>, mut cursor: Cursor, tx: mpsc::Sender<Result<HubMessage, Status>>, node: String, gateway: bool) {
    let mut tail = cp.shared_tail();
    let mut last_sent = tokio::time::Instant::now();
    // On the control plane's clock, which decides when a silent gateway is gone.
    let mut heard: Option<std::time::Instant> = None;
    loop {
        if gateway && heard.is_none_or(|t| cp.clock.instant().saturating_duration_since(t) >= GATEWAY_SEEN_EVERY) {
            heard = Some(cp.clock.instant());
            if let Err(e) = cp.gateway_heard(&node).await {
                tracing::debug!(%node, "cannot note the gateway as heard from: {e}");
            }
        }
        let mut after = cursor.floor();
        loop {
            let batch = match cp.db.events_after(after, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(%node, "event hub cannot read the log: {e}; closing the stream");
                    let _ = tx.send(Err(Status::unavailable("the control plane cannot read its event log"))).await;
                    return;
                }
            };
            let now = cp.now_ms();
            for e in &batch {
                if cursor.observe(e.seq, now) {
                    let msg =
                        hub::Event { seq: e.seq, event_type: e.event_type.clone(), payload: e.payload.clone(), created_at: e.created_at };
                    if tx.send(Ok(HubMessage { kind: Some(Kind::Event(msg)) })).await.is_err() {
                        return;
                    }
                    last_sent = tokio::time::Instant::now();
                }
            }
            match batch.last() {
                Some(last) if batch.len() as i64 == BATCH => after = last.seq,
                _ => break,
            }
        }
        let given_up = cursor.expire(cp.now_ms());
        if given_up > 0 {
            tracing::debug!(%node, given_up, "event numbers never committed (rolled back)");
        }
        if last_sent.elapsed() >= HEARTBEAT {
            let msg = HubMessage { kind: Some(Kind::Heartbeat(hub::Heartbeat { head_seq: cursor.high() })) };
            if tx.send(Ok(msg)).await.is_err() {
                return;
            }
            last_sent = tokio::time::Instant::now();
        }
        let wait = HEARTBEAT.saturating_sub(last_sent.elapsed());
        if !cursor.waiting() {
            tokio::select! {
                changed = tail.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
                _ = tx.closed() => return,
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(GAP_POLL.min(wait)) => {}
                _ = tx.closed() => return,
            }
        }
    }
}
