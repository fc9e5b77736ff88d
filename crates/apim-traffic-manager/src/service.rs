//! The traffic manager's gRPC services: `Usage.Report` takes gateways' batches into the [`Ledger`] and
//! acknowledges each; `Usage.Analytics` passes a gateway's analytics rows on to the control plane and answers
//! once it has stored them; `Decisions.Subscribe` streams what is in force, then new decisions, with a heartbeat every
//! quiet second; `Decisions.Forward` takes a peer's decisions (`event_duplicate_url`) and passes them on.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use apim_wire::throttle::{
    AnalyticsAck, AnalyticsBatch, Decision, DecisionBatch, DecisionSubscription, ForwardAck, UsageAck, UsageBatch, decisions_server,
    usage_server,
};
use tokio::sync::{broadcast, mpsc};
use tonic::{Request, Response, Status, Streaming};

use crate::TrafficManager;

/// Heartbeat period on decision streams; subscribers give up after `DECISION_SILENCE_MS`.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Largest batch accepted, in records (a gateway sends at most `MAX_BATCH_RECORDS`).
const MAX_RECORDS: usize = 65_536;

type Stream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[derive(Clone)]
pub struct Service {
    pub(crate) tm: Arc<TrafficManager>,
}

impl Service {
    fn authenticate<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let given = req.metadata().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        if apim_jose::crypto::ct_eq(given, &self.tm.cfg.basic) {
            return Ok(());
        }
        self.tm.stats.unauthenticated.fetch_add(1, Ordering::Relaxed);
        Err(Status::unauthenticated("wrong or missing [apim.throttling] credentials (HTTP Basic in `authorization`)"))
    }
}

#[tonic::async_trait]
impl usage_server::Usage for Service {
    type ReportStream = Stream<UsageAck>;

    async fn report(&self, req: Request<Streaming<UsageBatch>>) -> Result<Response<Self::ReportStream>, Status> {
        self.authenticate(&req)?;
        let mut batches = req.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let tm = self.tm.clone();
        tm.stats.usage_streams.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let mut gateway: Option<(String, u32)> = None;
            loop {
                let batch = match batches.message().await {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(s) => {
                        tracing::debug!("usage stream broken: {}", s.message());
                        break;
                    }
                };
                if batch.gateway_id.is_empty() || batch.records.len() > MAX_RECORDS {
                    let why = if batch.gateway_id.is_empty() { "gateway_id is empty" } else { "a batch holds more than 65,536 records" };
                    tm.stats.bad_batches.fetch_add(1, Ordering::Relaxed);
                    let _ = tx.send(Err(Status::invalid_argument(why))).await;
                    break;
                }
                let id = match &gateway {
                    Some((name, id)) if *name == batch.gateway_id => *id,
                    _ => {
                        if let Some((_, old)) = &gateway {
                            tm.ledger.detach(*old, tm.now_ms());
                        }
                        let id = tm.ledger.attach(&batch.gateway_id, tm.now_ms());
                        tracing::info!(gateway = %batch.gateway_id, "gateway reporting usage");
                        gateway = Some((batch.gateway_id.clone(), id));
                        id
                    }
                };
                tm.ingest(id, &batch);
                if tx.send(Ok(UsageAck { seq: batch.seq })).await.is_err() {
                    break;
                }
            }
            if let Some((_, id)) = gateway {
                tm.ledger.detach(id, tm.now_ms());
            }
            tm.stats.usage_streams.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn analytics(&self, req: Request<AnalyticsBatch>) -> Result<Response<AnalyticsAck>, Status> {
        self.authenticate(&req)?;
        let stats = &self.tm.stats;
        let batch = apim_wire::analytics::AnalyticsBatch::try_from(req.into_inner()).map_err(|e| {
            stats.analytics_refused.fetch_add(1, Ordering::Relaxed);
            Status::invalid_argument(format!("analytics batch: {e}"))
        })?;
        if batch.gateway_id.is_empty() {
            stats.analytics_refused.fetch_add(1, Ordering::Relaxed);
            return Err(Status::invalid_argument("analytics batch: gatewayId is empty"));
        }
        let Some(relay) = self.tm.analytics.get() else {
            stats.analytics_unrelayed.fetch_add(1, Ordering::Relaxed);
            return Err(Status::unavailable("this traffic manager passes no analytics on yet"));
        };
        match relay.relay(&batch).await {
            Ok(()) => {
                stats.analytics_relayed.fetch_add(1, Ordering::Relaxed);
                Ok(Response::new(AnalyticsAck {}))
            }
            Err(apim_sync::CallError::Refused(e)) => {
                stats.analytics_refused.fetch_add(1, Ordering::Relaxed);
                Err(Status::invalid_argument(format!("the control plane refused the analytics batch: {e}")))
            }
            Err(e @ apim_sync::CallError::Unreachable(_)) => {
                stats.analytics_unrelayed.fetch_add(1, Ordering::Relaxed);
                Err(Status::unavailable(format!("no control plane took the analytics batch: {e}")))
            }
        }
    }
}

/// What is in force, in messages of at most 4,096 decisions (a subscriber takes at most 64 MB per message).
fn in_force_batches(tm: &TrafficManager) -> Vec<DecisionBatch> {
    let all = tm.in_force(tm.now_ms());
    if all.is_empty() {
        return vec![DecisionBatch::default()];
    }
    all.chunks(4096).map(|c| DecisionBatch { decisions: c.to_vec(), ..Default::default() }).collect()
}

#[tonic::async_trait]
impl decisions_server::Decisions for Service {
    type SubscribeStream = Stream<DecisionBatch>;

    async fn subscribe(&self, req: Request<DecisionSubscription>) -> Result<Response<Self::SubscribeStream>, Status> {
        self.authenticate(&req)?;
        let node = req.into_inner().node_id;
        let mut live = self.tm.decisions.subscribe();
        let (tx, rx) = mpsc::channel(256);
        let tm = self.tm.clone();
        tracing::info!(%node, "gateway following decisions");
        tokio::spawn(async move {
            for batch in in_force_batches(&tm) {
                if tx.send(Ok(batch)).await.is_err() {
                    return;
                }
            }
            loop {
                let next = tokio::time::timeout(HEARTBEAT, live.recv()).await;
                let batches = match next {
                    Err(_) => vec![DecisionBatch::default()],
                    Ok(Ok(b)) => vec![(*b).clone()],
                    // Too slow to keep up: what is in force replaces what was missed.
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => in_force_batches(&tm),
                    Ok(Err(broadcast::error::RecvError::Closed)) => return,
                };
                for batch in batches {
                    if tx.send(Ok(batch)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn forward(&self, req: Request<Streaming<DecisionBatch>>) -> Result<Response<ForwardAck>, Status> {
        self.authenticate(&req)?;
        let mut batches = req.into_inner();
        while let Some(b) = batches.message().await? {
            let now = self.tm.now_ms();
            let fresh: Vec<Decision> = b.decisions.into_iter().filter(|d| d.throttled_until_ms > now && !d.key.is_empty()).collect();
            if fresh.is_empty() {
                continue;
            }
            self.tm.stats.forwarded_in.fetch_add(fresh.len() as u64, Ordering::Relaxed);
            for d in &fresh {
                self.tm.forwarded.insert(d.key.clone(), (d.throttled_until_ms, d.condition.clone()));
            }
            let _ = self.tm.decisions.send(Arc::new(DecisionBatch { decisions: fresh, forwarded: true, allowances: Vec::new() }));
        }
        Ok(Response::new(ForwardAck {}))
    }
}
