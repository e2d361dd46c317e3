//! Outcome counters in the `counters` table: one row per `(scope, counter name)`, added to
//! with an upsert.
//!
//! In the writer's groups the additions are staged and summed, then added with one upsert per
//! counter just before the group commits ([`Staged`]): an audience fan-out adds to the same few
//! counters (its execution's and its campaign version's `targeted` and `sent`) for every
//! message, so a group of a hundred writes made a hundred upserts of four rows. Staged or not,
//! the counts commit with the writes that made them, or not at all.

use std::cell::RefCell;
use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::{Access, Fail, SqliteStore, Tx};
use crate::domain::OutcomeCounts;
use crate::domain::execution::{CountDelta, CountScope};
use crate::ports::{CountStore, StoreResult};

/// `execution:<id>` or `campaign:<id>:<version>`.
fn scope_key(scope: CountScope) -> String {
    match scope {
        CountScope::Execution(id) => format!("execution:{id}"),
        CountScope::CampaignVersion(id, version) => format!("campaign:{id}:{version}"),
    }
}

/// Counts to add inside another write: the delta and the keys of the scopes it goes to.
pub(super) struct Adding {
    scopes: Vec<String>,
    items: Vec<(String, i64)>,
}

impl Adding {
    pub(super) fn new(scopes: &[CountScope], delta: &CountDelta) -> Self {
        let items: Vec<(String, i64)> = delta.0.iter().filter(|(_, n)| *n != 0).cloned().collect();
        let scopes = if items.is_empty() {
            Vec::new()
        } else {
            scopes.iter().copied().map(scope_key).collect()
        };
        Self { scopes, items }
    }

    /// Adds them in the transaction `tx`: staged when it is one of the writer's groups.
    pub(super) fn run(&self, tx: &Tx<'_>) -> Result<(), Fail> {
        if self.items.is_empty() {
            return Ok(());
        }
        if let Some(staged) = tx.counts {
            staged.add(self);
            return Ok(());
        }
        add(
            tx,
            self.scopes.iter().flat_map(|scope| {
                self.items
                    .iter()
                    .map(move |(name, n)| (scope.as_str(), name.as_str(), *n))
            }),
        )
    }
}

/// Adds each `(scope, name, n)` with an upsert.
fn add<'a>(
    tx: &Connection,
    additions: impl IntoIterator<Item = (&'a str, &'a str, i64)>,
) -> Result<(), Fail> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO counters (scope, name, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope, name) DO UPDATE SET value = value + excluded.value",
    )?;
    for (scope, name, n) in additions {
        stmt.execute(params![scope, name, n])?;
    }
    Ok(())
}

/// The counter additions of one writer group, in the order its writes made them. A write whose
/// savepoint is rolled back takes its own back ([`Self::undo_to`]); [`Self::flush`] sums the
/// rest per counter and adds each sum once, in the group's transaction.
#[derive(Default)]
pub(super) struct Staged(RefCell<Vec<(String, String, i64)>>);

impl Staged {
    fn add(&self, adding: &Adding) {
        let mut staged = self.0.borrow_mut();
        for scope in &adding.scopes {
            for (name, n) in &adding.items {
                staged.push((scope.clone(), name.clone(), *n));
            }
        }
    }

    /// Where the additions made from now on start.
    pub(super) fn mark(&self) -> usize {
        self.0.borrow().len()
    }

    /// Drops the additions made since `mark`.
    pub(super) fn undo_to(&self, mark: usize) {
        self.0.borrow_mut().truncate(mark);
    }

    /// Adds every counter's sum (sums of zero are skipped).
    pub(super) fn flush(&self, tx: &Connection) -> Result<(), Fail> {
        let staged = self.0.take();
        if staged.is_empty() {
            return Ok(());
        }
        let mut sums: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for (scope, name, n) in &staged {
            *sums.entry((scope.as_str(), name.as_str())).or_default() += n;
        }
        add(
            tx,
            sums.into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|((scope, name), n)| (scope, name, n)),
        )
    }
}

impl CountStore for SqliteStore {
    async fn add_counts(&self, scope: CountScope, delta: &CountDelta) -> StoreResult<()> {
        let adding = Adding::new(&[scope], delta);
        if adding.items.is_empty() {
            return Ok(());
        }
        self.run(Access::Write, move |tx| adding.run(tx)).await
    }

    async fn get_counts(&self, scope: CountScope) -> StoreResult<OutcomeCounts> {
        let scope = scope_key(scope);
        let rows = self
            .run(Access::Read, move |tx| {
                let mut stmt =
                    tx.prepare_cached("SELECT name, value FROM counters WHERE scope = ?1")?;
                let rows = stmt
                    .query_map([scope], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<(String, i64)>>>()?;
                Ok(rows)
            })
            .await?;
        Ok(OutcomeCounts::from_counters(
            rows.iter().map(|(name, n)| (name.as_str(), *n)),
        ))
    }
}
