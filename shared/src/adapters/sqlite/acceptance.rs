//! Exactly-once acceptance in the `requests` table: one row per `(campaign_id, request_id)`,
//! decided and written in one `BEGIN IMMEDIATE` transaction.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Access, Fail, SqliteStore, decode, encode, executions, from_instant, instant};
use crate::domain::{Execution, ExecutionId};
use crate::ports::{
    AcceptanceStore, Begin, Conflict, RequestKey, StoreError, StoreResult, StoredResponse,
};

/// A stored request: `(body_hash, execution_id, lease_until, expires_at, response)`.
type Row = (String, String, i64, i64, Option<String>);

fn stored_execution(text: &str) -> StoreResult<ExecutionId> {
    ExecutionId::parse(text).map_err(|e| StoreError::Corrupt(format!("request execution id: {e}")))
}

/// Stores the response of the in-flight request with this hash; `Conflict(RevisionMismatch)`
/// when there is none.
fn finish(
    tx: &Connection,
    campaign: &str,
    request: &str,
    hash: &str,
    response: &str,
) -> Result<(), Fail> {
    let finished = tx
        .prepare_cached(
            "UPDATE requests SET response = ?4
             WHERE campaign_id = ?1 AND request_id = ?2 AND body_hash = ?3
               AND response IS NULL",
        )?
        .execute(params![campaign, request, hash, response])?;
    if finished == 0 {
        return Err(Conflict::RevisionMismatch.into());
    }
    Ok(())
}

impl AcceptanceStore for SqliteStore {
    async fn begin_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        new_execution: ExecutionId,
        now: Timestamp,
        lease_until: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<Begin> {
        let (campaign, request) = (key.campaign_id.to_string(), key.request_id.clone());
        let hash = body_hash.to_string();
        let (now, lease, expires) = (instant(now), instant(lease_until), instant(expires_at));
        self.run(Access::Write, move |tx| {
            let row: Option<Row> = tx
                .prepare_cached(
                    "SELECT body_hash, execution_id, lease_until, expires_at, response
                     FROM requests WHERE campaign_id = ?1 AND request_id = ?2",
                )?
                .query_row(params![campaign, request], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            // The execution a new owner runs: a new one, or the stored one for a takeover.
            let execution_id = match row {
                None => new_execution,
                Some((_, _, _, expires_at, _)) if expires_at <= now => new_execution,
                Some((stored_hash, ..)) if stored_hash != hash => return Ok(Begin::Mismatch),
                Some((_, _, _, _, Some(response))) => {
                    return Ok(Begin::Completed(decode("request response", &response)?));
                }
                Some((_, _, lease_until, _, None)) if lease_until > now => {
                    return Ok(Begin::InFlight {
                        lease_until: from_instant(lease_until)?,
                    });
                }
                Some((_, stored, ..)) => stored_execution(&stored)?,
            };
            tx.prepare_cached(
                "INSERT INTO requests
                     (campaign_id, request_id, body_hash, execution_id, lease_until, expires_at,
                      response)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)
                 ON CONFLICT (campaign_id, request_id) DO UPDATE SET
                     body_hash = excluded.body_hash, execution_id = excluded.execution_id,
                     lease_until = excluded.lease_until, expires_at = excluded.expires_at,
                     response = NULL",
            )?
            .execute(params![
                campaign,
                request,
                hash,
                execution_id.to_string(),
                lease,
                expires
            ])?;
            Ok(Begin::Started { execution_id })
        })
        .await
    }

    async fn finish_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let (campaign, request) = (key.campaign_id.to_string(), key.request_id.clone());
        let (hash, response) = (body_hash.to_string(), encode(response)?);
        self.run(Access::Write, move |tx| {
            finish(tx, &campaign, &request, &hash, &response)
        })
        .await
    }

    async fn complete_request(
        &self,
        key: &RequestKey,
        body_hash: &str,
        response: &StoredResponse,
        execution: &Execution,
    ) -> StoreResult<()> {
        let (campaign, request) = (key.campaign_id.to_string(), key.request_id.clone());
        let (hash, response) = (body_hash.to_string(), encode(response)?);
        let row = executions::row(execution)?;
        // One operation: a conflict in either rolls both back.
        self.run(Access::Write, move |tx| {
            executions::insert_row(tx, &row)?;
            finish(tx, &campaign, &request, &hash, &response)
        })
        .await
    }

    async fn abandon_request(&self, key: &RequestKey, body_hash: &str) -> StoreResult<()> {
        let (campaign, request) = (key.campaign_id.to_string(), key.request_id.clone());
        let hash = body_hash.to_string();
        self.run(Access::Write, move |tx| {
            tx.prepare_cached(
                "DELETE FROM requests
                 WHERE campaign_id = ?1 AND request_id = ?2 AND body_hash = ?3
                   AND response IS NULL",
            )?
            .execute(params![campaign, request, hash])?;
            Ok(())
        })
        .await
    }
}
