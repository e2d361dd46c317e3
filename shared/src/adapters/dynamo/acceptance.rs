//! Exactly-once acceptance: one record per `(campaignId, requestId)` at
//! `pk = request#{campaignId}#{requestId}, sk = _`, holding the body hash, the state
//! (`inFlight` | `completed`), the lease and, once completed, the response.
//!
//! `begin_request` is one conditional PutItem of a fresh in-flight record (with the new
//! execution id), allowed when there is no record or it expired. When that condition fails, the
//! old record, returned by `ReturnValuesOnConditionCheckFailure = ALL_OLD`, says which answer
//! applies, without another read. Only an abandoned lease (same body, in flight, lease over)
//! takes a second conditional write: an UpdateItem of the lease alone, under the condition that
//! the record is still the abandoned one seen, so the stored execution id is kept and only one
//! caller takes it over. Expiry and lease are compared as exact epoch nanoseconds inside the
//! conditions; `expiresAt` (seconds) is only for TTL cleanup.

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;

use super::DynamoStore;
use super::calls::{Cond, DynamoError, Update, Written};
use super::codec::{get_instant, instant, ttl};
use super::keys::{EXPIRES_AT, EXPIRES_AT_NS, Item, WHOLE, get_s, key, request_pk, s};
use crate::domain::{Execution, ExecutionId};
use crate::ports::{
    AcceptanceStore, Begin, Conflict, ExecutionStore, RequestKey, StoreError, StoreResult,
    StoredResponse,
};

const BODY_HASH: &str = "bodyHash";
const STATE: &str = "state";
const EXECUTION_ID: &str = "executionId";
const LEASE_UNTIL_NS: &str = "leaseUntilNs";
const RESPONSE_STATUS: &str = "responseStatus";
const RESPONSE_BODY: &str = "responseBody";
const IN_FLIGHT: &str = "inFlight";
const COMPLETED: &str = "completed";

/// Attempts of `begin_request` when the record changes between a refused write and the next
/// (it expired, or another caller took an abandoned lease first).
const BEGIN_ATTEMPTS: u32 = 4;

/// No live record: absent, or expired (a lingering item TTL has not removed yet).
const FRESH: &str = "attribute_not_exists(pk) OR #exp <= :now";

/// The abandoned lease seen: still live, same body, same execution, in flight, lease over.
const ABANDONED: &str = "#exp > :now AND #hash = :hash AND #state = :inFlight \
     AND #lease <= :now AND #execution = :execution";

/// An in-flight record of this body.
const IN_FLIGHT_WITH_HASH: &str = "#hash = :hash AND #state = :inFlight";

fn request_key(k: &RequestKey) -> Item {
    key(request_pk(k), WHOLE)
}

fn in_flight_with(body_hash: &str) -> Cond {
    Cond {
        expression: IN_FLIGHT_WITH_HASH,
        names: vec![("#hash", BODY_HASH), ("#state", STATE)],
        values: vec![(":hash", s(body_hash)), (":inFlight", s(IN_FLIGHT))],
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("an acceptance record {what}"))
}

/// What a live record found instead of a fresh start means.
enum Found {
    /// The record expired meanwhile: try the fresh write again.
    Gone,
    Answer(Begin),
    /// In flight with this body, its lease over: take it over.
    Abandoned(ExecutionId),
}

fn classify(old: &Item, body_hash: &str, now: Timestamp) -> StoreResult<Found> {
    let expires = get_instant(old, EXPIRES_AT_NS).ok_or_else(|| corrupt("has no expiry"))?;
    if expires <= now {
        return Ok(Found::Gone);
    }
    if get_s(old, BODY_HASH) != Some(body_hash) {
        return Ok(Found::Answer(Begin::Mismatch));
    }
    match get_s(old, STATE) {
        Some(COMPLETED) => {
            let status = match old.get(RESPONSE_STATUS) {
                Some(AttributeValue::N(n)) => n.parse::<u16>().ok(),
                _ => None,
            }
            .ok_or_else(|| corrupt("is completed without a response status"))?;
            let body = get_s(old, RESPONSE_BODY)
                .ok_or_else(|| corrupt("is completed without a response body"))?;
            Ok(Found::Answer(Begin::Completed(StoredResponse {
                status,
                body: body.to_string(),
            })))
        }
        Some(IN_FLIGHT) => {
            let lease_until =
                get_instant(old, LEASE_UNTIL_NS).ok_or_else(|| corrupt("has no lease"))?;
            if lease_until > now {
                return Ok(Found::Answer(Begin::InFlight { lease_until }));
            }
            let execution = get_s(old, EXECUTION_ID)
                .and_then(|id| ExecutionId::parse(id).ok())
                .ok_or_else(|| corrupt("has no execution id"))?;
            Ok(Found::Abandoned(execution))
        }
        _ => Err(corrupt("has an unknown state")),
    }
}

impl AcceptanceStore for DynamoStore {
    async fn begin_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        new_execution: ExecutionId,
        now: Timestamp,
        lease_until: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<Begin> {
        let mut item = request_key(key);
        item.insert("campaignId".into(), s(key.campaign_id.to_string()));
        item.insert("requestId".into(), s(key.request_id.clone()));
        item.insert(BODY_HASH.into(), s(body_hash));
        item.insert(STATE.into(), s(IN_FLIGHT));
        item.insert(EXECUTION_ID.into(), s(new_execution.to_string()));
        item.insert(LEASE_UNTIL_NS.into(), instant(lease_until));
        item.insert(EXPIRES_AT_NS.into(), instant(expires_at));
        item.insert(EXPIRES_AT.into(), ttl(expires_at));
        for _ in 0..BEGIN_ATTEMPTS {
            let fresh = Cond {
                expression: FRESH,
                names: vec![("#exp", EXPIRES_AT_NS)],
                values: vec![(":now", instant(now))],
            };
            let old = match self.put_if(item.clone(), fresh).await? {
                Written::Done => {
                    return Ok(Begin::Started {
                        execution_id: new_execution,
                    });
                }
                Written::Refused(Some(old)) => Some(old),
                // Not returned (it should be): read it.
                Written::Refused(None) => self.get_raw(request_key(key)).await?,
            };
            let Some(old) = old else { continue };
            let execution = match classify(&old, body_hash, now)? {
                Found::Gone => continue,
                Found::Answer(answer) => return Ok(answer),
                Found::Abandoned(execution) => execution,
            };
            // Take the abandoned lease over, keeping its execution (and so its message ids).
            let take_over = Update::new(request_key(key), "SET #lease = :lease")
                .value(":lease", instant(lease_until))
                .when(Cond {
                    expression: ABANDONED,
                    names: vec![
                        ("#exp", EXPIRES_AT_NS),
                        ("#hash", BODY_HASH),
                        ("#state", STATE),
                        ("#lease", LEASE_UNTIL_NS),
                        ("#execution", EXECUTION_ID),
                    ],
                    values: vec![
                        (":now", instant(now)),
                        (":hash", s(body_hash)),
                        (":inFlight", s(IN_FLIGHT)),
                        (":execution", s(execution.to_string())),
                    ],
                });
            if let Written::Done = self.update_if(take_over).await? {
                return Ok(Begin::Started {
                    execution_id: execution,
                });
            }
        }
        Err(DynamoError::Contended("begin_request").into())
    }
    async fn finish_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let update = Update::new(
            request_key(key),
            "SET #state = :completed, #status = :status, #body = :body",
        )
        .name("#status", RESPONSE_STATUS)
        .name("#body", RESPONSE_BODY)
        .value(":completed", s(COMPLETED))
        .value(":status", AttributeValue::N(response.status.to_string()))
        .value(":body", s(response.body.clone()))
        .when(in_flight_with(body_hash));
        match self.update_if(update).await? {
            Written::Done => Ok(()),
            Written::Refused(_) => Err(StoreError::Conflict(Conflict::RevisionMismatch)),
        }
    }

    /// Two writes one after the other (a transaction would double their write units): the
    /// execution, then the finish. A refused finish leaves the execution written.
    async fn complete_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        response: &StoredResponse,
        execution: &Execution,
    ) -> StoreResult<()> {
        self.insert_execution(execution).await?;
        self.finish_request(key, body_hash, response).await
    }

    async fn abandon_request(&self, key: &RequestKey, body_hash: &str) -> StoreResult<()> {
        // Nothing to do when the record is completed, of another body, or gone.
        self.delete_if(request_key(key), in_flight_with(body_hash))
            .await
            .map(|_| ())
    }
}
