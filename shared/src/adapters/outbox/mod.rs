//! The local outbox: the delivery sink of `herald serve`. Nothing leaves the machine; every
//! message is written to a directory (usually `<data-dir>/outbox`):
//!
//! - email: `<message-id>.eml` (the raw MIME SES would get, from [`crate::adapters::mime`])
//!   and `<message-id>.json`;
//! - SMS and push: `<message-id>.json`.
//!
//! The `.json` file is one [`OutboxEntry`] (channel, recipient, rendered content, tags,
//! creation time). Files are written to a temporary name and renamed, so a reader never sees a
//! half-written entry; the `.eml` is in place before its `.json`. Every send returns
//! `Accepted` with the provider message id `outbox-<message-id>`.
//!
//! Files are written by [`WRITERS`] threads of the outbox's own, which take the writes in turn:
//! a fan-out sends hundreds of messages at a time, and on tokio's blocking pool nearly every
//! write started a thread of its own (see `bench/findings.md`, B3, session 15).
//!
//! Reading back ([`Outbox::list`], [`Outbox::get`], [`Outbox::eml_path`]) works on the files
//! alone, so entries survive restarts and can be inspected with any editor. [`Outbox::list`]
//! is newest first: by `createdAt`, which the outbox also sets as the `.json` file's
//! modification time (so listing needs no parsing beyond the page), then by message id
//! (descending).
//!
//! **SES mailbox simulator.** A message to `success@`, `bounce@`, `complaint@`,
//! `suppressionlist@` or `ooto@simulator.amazonses.com` (also with `+label`) is written and
//! accepted like any other, and the events SES would publish are queued in memory
//! ([`SimulatorMailbox::feedback`]): `success` → `Delivery`; `bounce` and `suppressionlist` →
//! `Bounce { permanent: true }`; `complaint` → `Delivery` then `Complaint`; `ooto` → nothing.
//! The feedback service drains them with [`Outbox::take_feedback`] (or awaits them with
//! [`Outbox::next_feedback`]). The queue is shared by clones of one `Outbox` and is not
//! persisted: events not taken before the process stops are lost (the entry still records
//! its `simulator` mailbox).

mod entry;
mod simulator;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{Notify, oneshot};

pub use entry::{OutboxEmail, OutboxEntry, OutboxMessage, OutboxPush, OutboxSms};
pub use simulator::{FeedbackKind, SIMULATOR_DOMAIN, SimulatedFeedback, SimulatorMailbox};

use crate::adapters::mime;
use crate::domain::MessageId;
use crate::ports::delivery::{
    Accepted, EmailEnvelope, EmailSender, MessageTags, PushEnvelope, PushSender, SendError,
    SmsEnvelope, SmsSender,
};
use crate::ports::{Clock, Page, PageRequest, SystemClock};
use crate::render::sms::segment_info;

/// The `Message-ID` domain of outbox mail unless [`Outbox::with_message_id_domain`] says
/// otherwise.
pub const DEFAULT_MESSAGE_ID_DOMAIN: &str = "outbox.herald.localhost";

/// How many threads write outbox files; other writes wait for a turn as tasks.
pub const WRITERS: usize = 4;

/// The provider message id the outbox returns for a message.
pub fn provider_message_id(message_id: &MessageId) -> String {
    format!("outbox-{message_id}")
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("outbox entry {path} is not valid JSON for an entry")]
    Decode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("an outbox entry could not be encoded")]
    Encode(#[source] serde_json::Error),
    #[error("{0:?} is not a cursor from a previous outbox page")]
    BadCursor(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file-based delivery sink. Cheap to clone; clones share the feedback queue.
#[derive(Clone)]
pub struct Outbox {
    dir: Arc<PathBuf>,
    message_id_domain: Arc<str>,
    clock: Arc<dyn Clock>,
    feedback: Arc<FeedbackQueue>,
    webhook: crate::adapters::http_webhook::HttpWebhook,
    /// Hands writes to the [`WRITERS`] threads (they stop once every clone is dropped).
    writers: mpsc::Sender<FileWrite>,
}

#[derive(Default)]
struct FeedbackQueue {
    events: Mutex<Vec<SimulatedFeedback>>,
    notify: Notify,
}

impl FeedbackQueue {
    fn lock(&self) -> MutexGuard<'_, Vec<SimulatedFeedback>> {
        // A panic while holding the lock cannot leave the Vec half-updated.
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dir", &self.dir)
            .field("message_id_domain", &self.message_id_domain)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An outbox writing to `dir`, created (with its parents) when missing.
    pub fn open(dir: &Path) -> Result<Self, OutboxError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        Ok(Self {
            dir: Arc::new(dir.to_path_buf()),
            message_id_domain: Arc::from(DEFAULT_MESSAGE_ID_DOMAIN),
            clock: Arc::new(SystemClock),
            feedback: Arc::default(),
            webhook: crate::adapters::http_webhook::HttpWebhook::new(),
            writers: start_writers()?,
        })
    }

    /// Uses `clock` for `createdAt`, the `Date` header and feedback times.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The right-hand side of `Message-ID` in the `.eml` files.
    pub fn with_message_id_domain(mut self, domain: &str) -> Self {
        self.message_id_domain = Arc::from(domain);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a message's raw MIME is (or would be): `<dir>/<message-id>.eml`.
    pub fn eml_path(&self, message_id: &MessageId) -> PathBuf {
        self.dir.join(format!("{message_id}.eml"))
    }

    /// Where a message's entry is: `<dir>/<message-id>.json`.
    pub fn json_path(&self, message_id: &MessageId) -> PathBuf {
        self.dir.join(format!("{message_id}.json"))
    }

    /// The stored entry of a message, `None` when the outbox has none.
    pub async fn get(&self, message_id: &MessageId) -> Result<Option<OutboxEntry>, OutboxError> {
        read_entry(&self.json_path(message_id)).await
    }

    /// The raw MIME of an email, `None` when the outbox has none.
    pub async fn eml(&self, message_id: &MessageId) -> Result<Option<Vec<u8>>, OutboxError> {
        let path = self.eml_path(message_id);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// One page of entries, newest first (`createdAt`, kept as the `.json` file's modification
    /// time, then message id descending). The cursor is opaque; `page.limit` follows
    /// [`PageRequest::effective_limit`].
    pub async fn list(&self, page: &PageRequest) -> Result<Page<OutboxEntry>, OutboxError> {
        let after = page.cursor.as_deref().map(Position::parse).transpose()?;
        let mut positions = self.positions().await?;
        positions.sort_by(|a, b| b.cmp(a));
        let start = match &after {
            Some(c) => positions.partition_point(|p| p >= c),
            None => 0,
        };
        let limit = page.effective_limit();
        let mut items = Vec::with_capacity(limit.min(positions.len()));
        let mut next = None;
        let mut rest = positions.into_iter().skip(start).peekable();
        while let Some(p) = rest.next() {
            // An entry removed since the directory was read is skipped, and so is one edited
            // into something that is no entry (`get` reports that one).
            let entry = match read_entry(&self.json_path(&p.message_id)).await {
                Ok(entry) => entry,
                Err(e @ OutboxError::Decode { .. }) => {
                    tracing::warn!(error = %e, "skipping an unreadable outbox entry");
                    None
                }
                Err(e) => return Err(e),
            };
            if let Some(entry) = entry {
                items.push(entry);
                if items.len() == limit {
                    if rest.peek().is_some() {
                        next = Some(p.cursor());
                    }
                    break;
                }
            }
        }
        Ok(Page { items, next })
    }

    /// Every entry's position, read from the directory listing.
    async fn positions(&self) -> Result<Vec<Position>, OutboxError> {
        let dir = self.dir.as_path();
        let mut read = tokio::fs::read_dir(dir).await.map_err(io_error(dir))?;
        let mut out = Vec::new();
        while let Some(item) = read.next_entry().await.map_err(io_error(dir))? {
            let name = item.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(MessageId::parse)
            else {
                continue;
            };
            let modified = match item.metadata().await {
                Ok(m) => m.modified().map_err(io_error(&item.path()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&item.path())(e)),
            };
            let nanos = modified
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            out.push(Position {
                modified_nanos: nanos,
                message_id: id,
            });
        }
        Ok(out)
    }

    /// Drains the simulated SES feedback queued so far (oldest first).
    pub fn take_feedback(&self) -> Vec<SimulatedFeedback> {
        std::mem::take(&mut *self.feedback.lock())
    }

    /// Waits until simulated feedback is queued, then drains it.
    pub async fn next_feedback(&self) -> Vec<SimulatedFeedback> {
        loop {
            let notified = self.feedback.notify.notified();
            let events = self.take_feedback();
            if !events.is_empty() {
                return events;
            }
            notified.await;
        }
    }

    async fn email(&self, email: &EmailEnvelope) -> Result<Accepted, SendError> {
        let now = self.clock.now();
        let raw = mime::build_email_at(email, &self.message_id_domain, now).map_err(|e| {
            SendError::Rejected {
                reason: format!("the email could not be built: {e}"),
            }
        })?;
        let id = &email.tags.message_id;
        let eml = self.eml_path(id);
        self.write(&eml, raw, None).await.map_err(not_sent)?;
        let simulator = SimulatorMailbox::of(&email.to);
        let message = OutboxMessage::Email(OutboxEmail {
            to: email.to.clone(),
            from_address: email.from_address.clone(),
            from_name: email.from_name.clone(),
            reply_to: email.reply_to.clone(),
            configuration_set: email.configuration_set.clone(),
            list_unsubscribe: email.list_unsubscribe.as_ref().map(|u| u.url.clone()),
            content: email.content.clone(),
            eml_file: format!("{id}.eml"),
        });
        let accepted = self.store(&email.tags, message, simulator).await?;
        if let Some(mailbox) = simulator {
            self.queue_feedback(&accepted, &email.tags, &email.to, mailbox);
        }
        Ok(accepted)
    }

    async fn sms(&self, sms: &SmsEnvelope) -> Result<Accepted, SendError> {
        let info = segment_info(&sms.text);
        let message = OutboxMessage::Sms(OutboxSms {
            to: sms.to.clone(),
            text: sms.text.clone(),
            encoding: info.encoding.to_string(),
            segments: info.segments,
            sms_type: sms.sms_type,
            sender_id: sms.sender_id.clone(),
            origination_number: sms.origination_number.clone(),
        });
        self.store(&sms.tags, message, None).await
    }

    async fn push(&self, push: &PushEnvelope) -> Result<Accepted, SendError> {
        let message = OutboxMessage::Push(OutboxPush {
            platform: push.platform,
            token: push.token.clone(),
            platform_application_arn: push.platform_application_arn.clone(),
            content: push.content.clone(),
        });
        self.store(&push.tags, message, None).await
    }

    /// Writes the `.json` entry and answers like a provider.
    async fn store(
        &self,
        tags: &MessageTags,
        message: OutboxMessage,
        simulator: Option<SimulatorMailbox>,
    ) -> Result<Accepted, SendError> {
        let provider_message_id = provider_message_id(&tags.message_id);
        let entry = OutboxEntry {
            message_id: tags.message_id.clone(),
            provider_message_id: provider_message_id.clone(),
            execution_id: tags.execution_id,
            campaign_id: tags.campaign_id,
            campaign_version: tags.campaign_version,
            created_at: self.clock.now(),
            message,
            simulator,
        };
        let json = to_json(&entry).map_err(not_sent)?;
        let created = system_time(entry.created_at);
        self.write(&self.json_path(&tags.message_id), json, Some(created))
            .await
            .map_err(not_sent)?;
        tracing::debug!(message_id = %tags.message_id, dir = %self.dir.display(), "written to the outbox");
        Ok(Accepted {
            provider_message_id,
        })
    }

    fn queue_feedback(
        &self,
        accepted: &Accepted,
        tags: &MessageTags,
        address: &str,
        mailbox: SimulatorMailbox,
    ) {
        let kinds = mailbox.feedback();
        if kinds.is_empty() {
            return;
        }
        let now = self.clock.now();
        self.feedback
            .lock()
            .extend(kinds.iter().map(|kind| SimulatedFeedback {
                provider_message_id: accepted.provider_message_id.clone(),
                message_id: tags.message_id.clone(),
                tags: tags.clone(),
                kind: *kind,
                address: address.to_string(),
                occurred_at: now,
            }));
        self.feedback.notify.notify_waiters();
    }
}

/// Where an entry sits in the newest-first order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Position {
    modified_nanos: u128,
    message_id: MessageId,
}

impl Position {
    fn cursor(&self) -> String {
        format!("{}.{}", self.modified_nanos, self.message_id)
    }

    fn parse(cursor: &str) -> Result<Self, OutboxError> {
        let bad = || OutboxError::BadCursor(cursor.to_string());
        let (nanos, id) = cursor.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            modified_nanos: nanos.parse().map_err(|_| bad())?,
            message_id: MessageId::parse(id).ok_or_else(bad)?,
        })
    }
}

/// A timestamp as `SystemTime` (for a file's modification time).
fn system_time(t: jiff::Timestamp) -> SystemTime {
    let nanos = t.as_nanosecond();
    let magnitude =
        std::time::Duration::from_nanos(u64::try_from(nanos.unsigned_abs()).unwrap_or(u64::MAX));
    if nanos >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

fn not_sent(e: OutboxError) -> SendError {
    SendError::NotSent {
        detail: e.to_string(),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, OutboxError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(OutboxError::Encode)?;
    bytes.push(b'\n');
    Ok(bytes)
}

async fn read_entry(path: &Path) -> Result<Option<OutboxEntry>, OutboxError> {
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| OutboxError::Decode {
            path: path.to_path_buf(),
            source,
        })
}

/// One file for the writer threads to write, and where its result goes.
struct FileWrite {
    path: PathBuf,
    bytes: Vec<u8>,
    modified: Option<SystemTime>,
    done: oneshot::Sender<Result<(), OutboxError>>,
}

/// Starts the [`WRITERS`] threads, which share one channel of writes and end when it closes.
fn start_writers() -> Result<mpsc::Sender<FileWrite>, OutboxError> {
    let (tx, rx) = mpsc::channel::<FileWrite>();
    let rx = Arc::new(Mutex::new(rx));
    for n in 0..WRITERS {
        let rx = Arc::clone(&rx);
        std::thread::Builder::new()
            .name(format!("herald-outbox-{n}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next write.
                    let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(write) = next else { break };
                    let written = write_atomically(&write.path, &write.bytes, write.modified);
                    let _ = write.done.send(written);
                }
            })
            .map_err(|source| OutboxError::Io {
                path: PathBuf::from("<outbox writer thread>"),
                source,
            })?;
    }
    Ok(tx)
}

impl Outbox {
    /// Writes `bytes` to `path` on a writer thread (see [`write_atomically`]).
    async fn write(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        modified: Option<SystemTime>,
    ) -> Result<(), OutboxError> {
        let gone = || OutboxError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other("the outbox's writer threads have stopped"),
        };
        let (done, result) = oneshot::channel();
        self.writers
            .send(FileWrite {
                path: path.to_path_buf(),
                bytes,
                modified,
                done,
            })
            .map_err(|_| gone())?;
        result.await.map_err(|_| gone())?
    }
}

/// Writes `bytes` to a hidden temporary file beside `path`, sets its modification time when
/// asked, then renames it into place.
fn write_atomically(
    path: &Path,
    bytes: &[u8],
    modified: Option<SystemTime>,
) -> Result<(), OutboxError> {
    static NONCE: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}.{nonce}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        if let Some(t) = modified {
            file.set_modified(t)?;
        }
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(io_error(path))
}

impl EmailSender for Outbox {
    fn send_email(
        &self,
        email: &EmailEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send {
        self.email(email)
    }
}

impl SmsSender for Outbox {
    fn send_sms(
        &self,
        sms: &SmsEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send {
        self.sms(sms)
    }
}

impl PushSender for Outbox {
    fn send_push(
        &self,
        push: &PushEnvelope,
    ) -> impl Future<Output = Result<Accepted, SendError>> + Send {
        self.push(push)
    }
}

/// Messages stay local, but the feedback webhook is real: `herald serve` POSTs its events to the
/// configured URL, so a receiver can be developed against it.
impl crate::ports::WebhookSender for Outbox {
    async fn post(
        &self,
        url: &str,
        body: &str,
        headers: &[(&'static str, String)],
    ) -> Result<(), crate::ports::WebhookError> {
        self.webhook.post(url, body, headers).await
    }
}
