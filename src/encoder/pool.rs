//! Online inference for shoppers' messages, off the request runtime.
//!
//! Data flow: a request task calls [`EncoderPool::embed`] → the text joins a bounded queue
//! (full queue → [`EncoderError::Busy`] at once, which the HTTP edge turns into 429) → a
//! worker thread takes it together with whatever else is waiting, up to `max_batch`
//! (micro-batching: concurrent messages of similar length share one forward pass, so a long
//! message never makes short ones pay for its length) → each caller's vector comes back on
//! its own oneshot channel. Workers are plain OS threads, so a slow forward pass never
//! blocks the async runtime. Dropping the pool closes the queue and the workers finish.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use super::model::EncoderError;
use super::routed::LanguageEncoders;

struct Job {
    text: String,
    reply: oneshot::Sender<Result<Vec<f32>, EncoderError>>,
}

/// Sizing of the inference pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub workers: usize,
    pub queue: usize,
    pub max_batch: usize,
    /// Vectors of recent messages kept in memory ([`super::recent`]); 0 keeps none.
    pub cached_messages: usize,
}

/// Worker threads embedding queued texts in micro-batches.
pub struct EncoderPool {
    sender: Sender<Job>,
    encoder: Arc<LanguageEncoders>,
}

impl std::fmt::Debug for EncoderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderPool")
            .field("queued", &self.sender.len())
            .finish()
    }
}

impl EncoderPool {
    pub fn start(encoder: Arc<LanguageEncoders>, options: PoolOptions) -> EncoderPool {
        let (sender, receiver) = crossbeam_channel::bounded::<Job>(options.queue.max(1));
        for n in 0..options.workers.max(1) {
            let receiver = receiver.clone();
            let encoder = encoder.clone();
            let max_batch = options.max_batch.max(1);
            let spawned = std::thread::Builder::new()
                .name(format!("baton-encoder-{n}"))
                .spawn(move || work(&encoder, &receiver, max_batch));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start an encoder worker");
            }
        }
        EncoderPool { sender, encoder }
    }

    pub fn encoder(&self) -> &Arc<LanguageEncoders> {
        &self.encoder
    }

    /// Embeds one text. Fails fast with [`EncoderError::Busy`] when the queue is full.
    pub async fn embed(&self, text: &str) -> Result<Vec<f32>, EncoderError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send(Job {
                text: text.to_string(),
                reply,
            })
            .map_err(|e| match e {
                TrySendError::Full(_) => EncoderError::Busy,
                TrySendError::Disconnected(_) => EncoderError::Stopped,
            })?;
        answer.await.map_err(|_| EncoderError::Stopped)?
    }
}

fn work(encoder: &LanguageEncoders, queue: &Receiver<Job>, max_batch: usize) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        // A caller that gave up (request timed out) needs no vector.
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let texts: Vec<&str> = jobs.iter().map(|j| j.text.as_str()).collect();
        match encoder.embed_many(&texts) {
            Ok(vectors) => {
                for (job, v) in jobs.into_iter().zip(vectors) {
                    let _ = job.reply.send(Ok(v));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(EncoderError::Tokenizer(message.clone())));
                }
            }
        }
    }
}
