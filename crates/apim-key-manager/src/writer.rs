//! Group commit for issued tokens: concurrent token requests hand their records to one writer task, which
//! inserts whatever has queued up in a single statement and then answers every request. A token is returned
//! to its client only after it is stored, so a restart never loses one; under load the database sees one
//! statement per batch instead of one per token.

use apim_domain::oauth::TokenRecord;
use apim_store::{Db, OAuthStore};

use tokio::sync::{mpsc, oneshot};

const QUEUE: usize = 4096;
/// Rows per statement: 10 bound values each, well under every driver's parameter limit.
const MAX_BATCH: usize = 256;

/// Why a write did not happen.
#[derive(Debug)]
pub enum WriteError {
    /// The client was deleted or its secret changed since it authenticated.
    StaleClient,
    Store(String),
}

/// Records, the secret hash the client authenticated with, and where to answer.
type Job = (Vec<TokenRecord>, String, oneshot::Sender<Result<(), WriteError>>);

#[derive(Clone)]
pub struct TokenWriter {
    tx: mpsc::Sender<Job>,
}

impl TokenWriter {
    pub fn start(db: Db) -> TokenWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, rx));
        TokenWriter { tx }
    }

    pub async fn write(&self, records: Vec<TokenRecord>, secret_hash: String) -> Result<(), WriteError> {
        let (done, wait) = oneshot::channel();
        self.tx.send((records, secret_hash, done)).await.map_err(|_| WriteError::Store("token writer stopped".into()))?;
        wait.await.map_err(|_| WriteError::Store("token writer stopped".into()))?
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let mut rows = jobs[0].0.len();
        while rows < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.0.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let batch: Vec<(TokenRecord, String)> = jobs.iter().flat_map(|(r, h, _)| r.iter().map(move |t| (t.clone(), h.clone()))).collect();
        match db.insert_tokens_checked(&batch).await {
            Ok(stale) => {
                for (records, _, done) in jobs {
                    let gone = records.first().is_some_and(|r| stale.contains(&r.client_id));
                    let _ = done.send(if gone { Err(WriteError::StaleClient) } else { Ok(()) });
                }
            }
            // One bad row must not fail its neighbours: retry each job on its own.
            Err(_) => {
                for (records, hash, done) in jobs {
                    let one: Vec<(TokenRecord, String)> = records.into_iter().map(|t| (t, hash.clone())).collect();
                    let result = match db.insert_tokens_checked(&one).await {
                        Ok(stale) if stale.is_empty() => Ok(()),
                        Ok(_) => Err(WriteError::StaleClient),
                        Err(e) => Err(WriteError::Store(e.to_string())),
                    };
                    let _ = done.send(result);
                }
            }
        }
    }
}
