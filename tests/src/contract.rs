//! # The store contract suite
//!
//! Every store (`SqliteStore`, `MemoryStore`, `DynamoStore`) must behave the same, because the
//! services are written against the ports alone. This module holds that behaviour as one set of
//! generic async cases, `pub async fn <case>(store: &impl Store)`, each starting from an EMPTY
//! store; [`contract_tests!`](crate::contract_tests) turns them into one `#[tokio::test]` per
//! case for a given store.
//!
//! ## Using it from a test file
//!
//! ```text
//! // tests/tests/contract_memory.rs: an async expression giving a fresh, empty store.
//! herald_tests::contract_tests!(async { herald_core::adapters::memory::MemoryStore::new() });
//!
//! // With something that must live as long as the store (a temporary directory, a table to
//! // delete afterwards): an async expression giving `(store, guard)`; the guard is dropped
//! // after the case, once the store is gone.
//! herald_tests::contract_tests!(with_guard: fresh_sqlite_store());
//! ```
//!
//! The expression is evaluated once per test (each test gets its own store), inside a
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` runtime, so it may await and
//! may `panic!` with a clear message when its prerequisites are missing. Each generated test is
//! named after its case (a sentence), so `cargo test --test contract_sqlite deleting_a` selects
//! cases by name. The calling crate needs `tokio` (with `macros` and `rt-multi-thread`).
//!
//! ## The contract, beyond what `ports.rs` says
//!
//! - Pages are in key order: records by key, campaigns and profiles by id, members by profile
//!   id (ids compare as their text, which is also their time order), suppressions by
//!   `(channel, address)` with channels in [`Channel`]'s order (email, sms, push).
//! - A page holds at most `limit` items (0 means [`PageRequest::DEFAULT_LIMIT`], larger than
//!   [`PageRequest::MAX_LIMIT`] means the maximum), and `next` is `None` on the last page, also
//!   when the last page is full: `n` items take exactly `max(1, ceil(n / limit))` pages.
//! - A cursor the store never issued must not panic the store: it may be answered with a page
//!   (of at most `limit` items) or an error, never with a conflict.
//! - Releasing an identity that another profile holds never takes it from its holder.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use herald_core::domain::audience::{Condition, Match, Operator};
use herald_core::domain::channel_config::{EmailSettings, PushSettings, SmsSettings};
use herald_core::domain::profile::PushPlatform;
use herald_core::domain::rules::{CapPeriod, FrequencyCap, QuietAction, QuietHours};
use herald_core::domain::{
    Audience, AudienceId, AudienceKind, AudienceRule, AudienceSpec, Campaign, CampaignId,
    CampaignSpec, CampaignStatus, CampaignType, CampaignVersion, Channel, ChannelConfig,
    ChannelConfigId, ChannelConfigSpec, ChannelSettings, Consent, ConsentValue, Content,
    EmailAddress, EmailMessage, Identity, LocalizedMessage, Message, Namespace, Profile, ProfileId,
    PushToken, RuleSet, RuleSetId, RuleSetSpec, Schedule, Suppression, SuppressionReason,
};
use herald_core::ports::{Conflict, Page, PageRequest, Record, StoreError, StoreResult};

pub use herald_core::ports::Store;

/// Generates one `#[tokio::test]` per contract case for a store; see the [module
/// documentation](crate::contract).
///
/// - `contract_tests!(make)`: `make` is an async expression producing a fresh, empty store.
/// - `contract_tests!(with_guard: make)`: `make` produces `(store, guard)`; `guard` is dropped
///   after the case and after the store.
#[macro_export]
macro_rules! contract_tests {
    (with_guard: $make:expr $(,)?) => {
        $crate::__contract_cases!(@cases with_guard, $make);
    };
    ($make:expr $(,)?) => {
        $crate::__contract_cases!(@cases plain, $make);
    };
}

/// The list of contract cases, expanded by [`contract_tests!`]. Every `pub async fn` case of
/// [`contract`](crate::contract) is listed here exactly once.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_cases {
    (@emit plain, $make:expr; $($case:ident)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make.await;
                $crate::contract::$case(&store).await;
            }
        )*
    };
    (@emit with_guard, $make:expr; $($case:ident)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, guard) = $make.await;
                $crate::contract::$case(&store).await;
                ::std::mem::drop(store);
                ::std::mem::drop(guard);
            }
        )*
    };
    (@cases $mode:ident, $make:expr) => {
        $crate::__contract_cases!(@emit $mode, $make;
            // records
            a_channel_config_can_be_inserted_and_read_back
            a_rule_set_can_be_inserted_and_read_back
            audiences_of_both_kinds_can_be_inserted_and_read_back
            a_missing_record_reads_as_none
            inserting_a_record_twice_conflicts_and_keeps_the_first
            records_of_different_kinds_with_the_same_key_are_separate
            replacing_a_record_at_its_revision_stores_the_new_one
            replacing_a_record_with_a_stale_revision_conflicts_and_changes_nothing
            replacing_a_missing_record_conflicts
            deleting_a_record_at_its_revision_removes_it
            deleting_a_record_with_a_stale_revision_conflicts_and_keeps_it
            deleting_a_missing_record_conflicts
            listing_records_pages_through_one_kind_in_key_order
            a_listing_that_ends_on_a_full_page_has_no_next_cursor
            every_empty_listing_is_a_single_empty_last_page
            // paging rules
            a_zero_limit_means_the_default_page_size
            no_page_holds_more_than_the_maximum_limit
            a_cursor_the_store_never_issued_does_not_panic_it
            // campaigns
            a_campaign_is_inserted_with_its_first_version
            a_missing_campaign_and_version_read_as_none
            inserting_a_campaign_twice_conflicts_and_writes_nothing
            updating_a_campaign_at_its_revision_writes_it_and_every_version_given
            a_stale_campaign_update_writes_neither_the_campaign_nor_its_versions
            updating_a_missing_campaign_conflicts_and_writes_no_versions
            deleting_a_campaign_removes_it_and_all_its_versions
            deleting_a_campaign_with_a_stale_revision_conflicts_and_keeps_it
            deleting_a_missing_campaign_conflicts
            listing_campaigns_pages_in_id_order
            concurrent_updates_of_one_campaign_let_exactly_one_win
            // profiles
            a_new_profile_is_saved_with_its_identities
            profiles_read_together_are_those_that_exist
            profiles_found_together_by_identity_come_in_the_order_asked
            saving_a_new_profile_whose_id_exists_conflicts
            updating_a_profile_at_its_revision_stores_it
            updating_a_profile_with_a_stale_revision_conflicts_and_changes_nothing
            updating_a_missing_profile_conflicts_and_claims_nothing
            an_unknown_identity_finds_no_profile
            a_new_profile_claiming_a_taken_identity_fails_and_writes_nothing
            an_update_claiming_a_taken_identity_fails_and_keeps_the_stored_profile
            claiming_an_identity_the_profile_already_holds_is_fine
            a_released_identity_can_be_claimed_by_another_profile
            releasing_an_identity_held_by_another_profile_never_takes_it_from_its_holder
            identities_with_the_same_value_in_different_namespaces_are_distinct
            deleting_a_profile_erases_it_and_frees_its_identities
            deleting_a_missing_profile_returns_false
            listing_profiles_pages_in_id_order
            // audience members
            adding_a_member_twice_keeps_one_membership
            removing_members_removes_only_them_and_ignores_non_members
            listing_members_pages_in_profile_id_order
            members_of_different_audiences_are_kept_apart
            clearing_an_audience_removes_every_member
            // suppressions
            a_new_suppression_is_reported_new_and_a_repeat_replaces_it
            a_suppression_is_found_only_on_its_own_channel
            deleting_a_suppression_reports_whether_there_was_one
            listing_one_channel_pages_through_only_its_suppressions
            listing_every_suppression_pages_in_channel_then_address_order
        );
    };
}

// ---------------------------------------------------------------------------------------------
// Domain values
// ---------------------------------------------------------------------------------------------

/// A fixed instant plus `seconds`.
fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + seconds).expect("a valid timestamp")
}

fn email(text: &str) -> EmailAddress {
    EmailAddress::parse(text).expect("a valid email address")
}

fn identity(namespace: &str, value: &str) -> Identity {
    Identity::parse(namespace, value).expect("a valid identity")
}

fn channel_config(name: &str) -> ChannelConfig {
    ChannelConfig {
        id: ChannelConfigId::new(),
        spec: ChannelConfigSpec {
            name: name.to_string(),
            category: CampaignType::Marketing,
            settings: ChannelSettings::Email(EmailSettings {
                from_address: email("news@example.com"),
                from_name: Some("Example News".into()),
                reply_to: Some(email("help@example.com")),
                configuration_set: Some("herald-events".into()),
                list_unsubscribe: true,
            }),
        },
        revision: 1,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn sms_channel_config(name: &str) -> ChannelConfig {
    ChannelConfig {
        spec: ChannelConfigSpec {
            name: name.to_string(),
            category: CampaignType::Transactional,
            settings: ChannelSettings::Sms(SmsSettings {
                origination_number: None,
                sender_id: Some("Example".into()),
            }),
        },
        ..channel_config(name)
    }
}

fn rule_set(name: &str) -> RuleSet {
    RuleSet {
        id: RuleSetId::new(),
        spec: RuleSetSpec {
            name: name.to_string(),
            caps: vec![
                FrequencyCap {
                    channel: Some(Channel::Email),
                    limit: 3,
                    period: CapPeriod::Week,
                },
                FrequencyCap {
                    channel: None,
                    limit: 1,
                    period: CapPeriod::Day,
                },
            ],
            quiet_hours: Some(QuietHours {
                start: jiff::civil::time(21, 0, 0, 0),
                end: jiff::civil::time(8, 0, 0, 0),
                action: QuietAction::Queue,
                default_timezone: Some("Europe/Paris".into()),
            }),
        },
        revision: 1,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn static_audience(name: &str) -> Audience {
    Audience {
        id: AudienceId::new(),
        spec: AudienceSpec {
            name: name.to_string(),
            description: "people who asked for news".into(),
            kind: AudienceKind::Static,
        },
        revision: 1,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn rule_audience(name: &str) -> Audience {
    Audience {
        spec: AudienceSpec {
            name: name.to_string(),
            description: String::new(),
            kind: AudienceKind::Rule {
                rule: AudienceRule {
                    r#match: Match::Any,
                    conditions: vec![
                        Condition {
                            attribute: "address.city".into(),
                            op: Operator::Eq,
                            value: serde_json::json!("Paris"),
                        },
                        Condition {
                            attribute: "orders".into(),
                            op: Operator::Gte,
                            value: serde_json::json!(3),
                        },
                        Condition {
                            attribute: "locale".into(),
                            op: Operator::Exists,
                            value: serde_json::Value::Null,
                        },
                    ],
                },
            },
        },
        ..static_audience(name)
    }
}

fn spec(name: &str) -> CampaignSpec {
    CampaignSpec {
        name: name.to_string(),
        description: "a campaign used by the store contract suite".into(),
        tags: vec!["contract".into()],
        campaign_type: CampaignType::Marketing,
        channel: Channel::Email,
        channel_config_id: Some(ChannelConfigId::new()),
        content: Content {
            base: LocalizedMessage {
                message: Message::Email(EmailMessage {
                    subject: format!("{name}: hello {{{{profile.firstName}}}}"),
                    html: "<p>Hi {{default profile.firstName \"there\"}}</p>".into(),
                    text: None,
                    preheader: Some("News".into()),
                }),
                locales: BTreeMap::from([(
                    "fr".to_string(),
                    Message::Email(EmailMessage {
                        subject: "Bonjour".into(),
                        html: "<p>Salut</p>".into(),
                        text: Some("Salut".into()),
                        preheader: None,
                    }),
                )]),
            },
            variants: Vec::new(),
        },
        audience: Some(herald_core::domain::AudienceRef {
            id: AudienceId::new(),
        }),
        schedule: Schedule {
            start_at: Some(at(60)),
            end_at: None,
        },
        rate_limit: Some(100),
        high_throughput: false,
        create_profiles: false,
        rule_set_id: Some(RuleSetId::new()),
    }
}

fn version(id: CampaignId, number: u32, name: &str) -> CampaignVersion {
    CampaignVersion {
        campaign_id: id,
        version: number,
        spec: spec(name),
        created_at: at(i64::from(number)),
        updated_at: at(i64::from(number)),
        activated_at: None,
    }
}

/// A new draft campaign and its first version.
fn campaign(name: &str) -> (Campaign, CampaignVersion) {
    let id = CampaignId::new();
    let campaign = Campaign {
        id,
        name: name.to_string(),
        campaign_type: CampaignType::Marketing,
        channel: Channel::Email,
        status: CampaignStatus::Draft,
        live_version: None,
        draft_version: Some(1),
        latest_version: 1,
        revision: 1,
        created_at: at(0),
        updated_at: at(0),
        duplicated_from: None,
    };
    (campaign, version(id, 1, name))
}

/// The campaign as the next write would store it: revision + 1 and a new name.
fn next_campaign(c: &Campaign, name: &str) -> Campaign {
    Campaign {
        name: name.to_string(),
        revision: c.revision + 1,
        updated_at: at(c.revision as i64 + 100),
        ..c.clone()
    }
}

/// A new profile holding `identities`.
fn profile(identities: &[&Identity]) -> Profile {
    let mut attributes = serde_json::Map::new();
    attributes.insert("firstName".into(), serde_json::json!("Ann"));
    attributes.insert("orders".into(), serde_json::json!(4));
    attributes.insert(
        "address".into(),
        serde_json::json!({"city": "Paris", "zip": "75001"}),
    );
    Profile {
        id: ProfileId::new(),
        identities: identities
            .iter()
            .map(|i| (i.namespace.clone(), i.value.clone()))
            .collect(),
        attributes,
        consent: Consent {
            email: Some(ConsentValue::In),
            sms: Some(ConsentValue::Out),
            push: None,
        },
        push_tokens: vec![PushToken {
            platform: PushPlatform::Fcm,
            app_id: "com.example.app".into(),
            token: "fcm-token-1".into(),
        }],
        timezone: Some("Europe/Paris".into()),
        locale: Some("fr".into()),
        revision: 1,
        created_at: at(0),
        updated_at: at(0),
    }
}

/// The profile as the next write would store it.
fn next_profile(p: &Profile) -> Profile {
    let mut next = p.clone();
    next.revision += 1;
    next.updated_at = at(p.revision as i64 + 100);
    next.attributes
        .insert("orders".into(), serde_json::json!(p.revision + 10));
    next
}

fn with_identity(mut p: Profile, i: &Identity) -> Profile {
    p.identities.insert(i.namespace.clone(), i.value.clone());
    p
}

fn without_identity(mut p: Profile, namespace: &str) -> Profile {
    p.identities
        .remove(&Namespace::parse(namespace).expect("a valid namespace"));
    p
}

fn suppression(channel: Channel, address: &str) -> Suppression {
    Suppression {
        channel,
        address: address.to_string(),
        reason: SuppressionReason::Manual,
        note: Some("added by the contract suite".into()),
        created_at: at(0),
    }
}

/// `count` profile ids, sorted as the stores order them.
fn sorted_profile_ids(count: usize) -> Vec<ProfileId> {
    let mut ids: Vec<ProfileId> = (0..count).map(|_| ProfileId::new()).collect();
    ids.sort_by_key(ToString::to_string);
    ids
}

// ---------------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------------

fn ok<T>(result: StoreResult<T>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

/// The conflict a write was refused with.
fn conflict<T: Debug>(result: StoreResult<T>, what: &str) -> Conflict {
    match result {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("{what}: expected a conflict, got {other:?}"),
    }
}

/// Reads a listing to its end with pages of `limit`, checking that no page is larger than
/// the limit and that `n` items take exactly `max(1, ceil(n / limit))` pages (so `next` is
/// `None` on the last page, even a full one).
async fn read_all<T, F, Fut>(limit: u32, mut list: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = StoreResult<Page<T>>>,
{
    let mut items = Vec::new();
    let mut request = PageRequest::first(limit);
    let mut pages = 0usize;
    loop {
        pages += 1;
        let page = ok(list(request.clone()).await, "listing a page");
        assert!(
            page.items.len() <= limit as usize,
            "page {pages} holds {} items, more than the limit {limit}",
            page.items.len()
        );
        items.extend(page.items);
        match page.next {
            Some(next) => {
                assert!(
                    pages <= items.len() / limit as usize + 1,
                    "page {pages} still points to another page after {} items",
                    items.len()
                );
                request = PageRequest {
                    cursor: Some(next),
                    limit,
                };
            }
            None => break,
        }
    }
    let expected_pages = items.len().div_ceil(limit as usize).max(1);
    assert_eq!(
        pages,
        expected_pages,
        "{} items in pages of {limit} took {pages} pages; the last page must have no `next`",
        items.len()
    );
    items
}

async fn stored<S: Store, T: Record>(store: &S, key: &str) -> Option<T> {
    ok(store.get_record::<T>(key).await, "reading a record")
}

async fn holder<S: Store>(store: &S, i: &Identity) -> Option<ProfileId> {
    ok(store.find_profile(i).await, "finding a profile by identity").map(|p| p.id)
}

/// Inserts `record`, reads it back, replaces it, deletes it.
async fn record_life<S, T>(store: &S, record: T, changed: impl FnOnce(&T) -> T)
where
    S: Store,
    T: Record + Clone + PartialEq + Debug,
{
    let key = record.key();
    ok(store.insert_record(&record).await, "inserting a record");
    assert_eq!(stored::<S, T>(store, &key).await, Some(record.clone()));
    let next = changed(&record);
    assert_eq!(next.key(), key, "the changed record keeps its key");
    ok(
        store.replace_record(&next, record.revision()).await,
        "replacing a record",
    );
    assert_eq!(stored::<S, T>(store, &key).await, Some(next.clone()));
    ok(
        store.delete_record::<T>(&key, next.revision()).await,
        "deleting a record",
    );
    assert_eq!(stored::<S, T>(store, &key).await, None);
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

pub async fn a_channel_config_can_be_inserted_and_read_back<S: Store>(store: &S) {
    record_life(store, channel_config("news"), |c| ChannelConfig {
        spec: ChannelConfigSpec {
            settings: ChannelSettings::Push(PushSettings {
                apns_platform_arn: Some("arn:aws:sns:eu-west-1:1:app/APNS/x".into()),
                apns_sandbox_platform_arn: None,
                fcm_platform_arn: Some("arn:aws:sns:eu-west-1:1:app/GCM/x".into()),
            }),
            ..c.spec.clone()
        },
        revision: c.revision + 1,
        ..c.clone()
    })
    .await;
}

pub async fn a_rule_set_can_be_inserted_and_read_back<S: Store>(store: &S) {
    record_life(store, rule_set("weekly"), |r| RuleSet {
        spec: RuleSetSpec {
            caps: Vec::new(),
            quiet_hours: None,
            ..r.spec.clone()
        },
        revision: r.revision + 1,
        ..r.clone()
    })
    .await;
}

pub async fn audiences_of_both_kinds_can_be_inserted_and_read_back<S: Store>(store: &S) {
    record_life(store, static_audience("vip"), |a| Audience {
        spec: AudienceSpec {
            name: "very important".into(),
            ..a.spec.clone()
        },
        revision: a.revision + 1,
        ..a.clone()
    })
    .await;
    record_life(store, rule_audience("parisians"), |a| Audience {
        spec: AudienceSpec {
            kind: AudienceKind::Static,
            ..a.spec.clone()
        },
        revision: a.revision + 5,
        ..a.clone()
    })
    .await;
}

pub async fn a_missing_record_reads_as_none<S: Store>(store: &S) {
    let c = channel_config("present");
    ok(store.insert_record(&c).await, "inserting");
    let absent = ChannelConfigId::new().to_string();
    assert_eq!(stored::<S, ChannelConfig>(store, &absent).await, None);
    assert_eq!(stored::<S, RuleSet>(store, &absent).await, None);
}

pub async fn inserting_a_record_twice_conflicts_and_keeps_the_first<S: Store>(store: &S) {
    let first = rule_set("first");
    ok(store.insert_record(&first).await, "the first insert");
    let second = RuleSet {
        spec: RuleSetSpec {
            name: "second".into(),
            ..first.spec.clone()
        },
        revision: 7,
        ..first.clone()
    };
    assert_eq!(
        conflict(store.insert_record(&second).await, "the second insert"),
        Conflict::AlreadyExists
    );
    assert_eq!(stored::<S, RuleSet>(store, &first.key()).await, Some(first));
}

pub async fn records_of_different_kinds_with_the_same_key_are_separate<S: Store>(store: &S) {
    let config = channel_config("shared key");
    let same = config.id.as_uuid().to_string();
    let rules = RuleSet {
        id: RuleSetId::parse(&same).expect("the same uuid"),
        ..rule_set("shared key")
    };
    let audience = Audience {
        id: AudienceId::parse(&same).expect("the same uuid"),
        ..static_audience("shared key")
    };
    ok(store.insert_record(&config).await, "inserting the config");
    ok(store.insert_record(&rules).await, "inserting the rule set");
    ok(
        store.insert_record(&audience).await,
        "inserting the audience",
    );
    ok(
        store.delete_record::<RuleSet>(&same, 1).await,
        "deleting the rule set",
    );
    assert_eq!(
        stored::<S, ChannelConfig>(store, &same).await,
        Some(config.clone())
    );
    assert_eq!(stored::<S, RuleSet>(store, &same).await, None);
    assert_eq!(stored::<S, Audience>(store, &same).await, Some(audience));
    let configs = read_all(10, |p| async move {
        store.list_records::<ChannelConfig>(&p).await
    })
    .await;
    assert_eq!(configs, vec![config]);
}

pub async fn replacing_a_record_at_its_revision_stores_the_new_one<S: Store>(store: &S) {
    let a = static_audience("before");
    ok(store.insert_record(&a).await, "inserting");
    let mut current = a.clone();
    for step in 0..3 {
        let next = Audience {
            spec: AudienceSpec {
                name: format!("after {step}"),
                ..current.spec.clone()
            },
            revision: current.revision + 1,
            updated_at: at(step + 10),
            ..current.clone()
        };
        ok(
            store.replace_record(&next, current.revision).await,
            "replacing at the stored revision",
        );
        assert_eq!(
            stored::<S, Audience>(store, &a.key()).await,
            Some(next.clone())
        );
        current = next;
    }
}

pub async fn replacing_a_record_with_a_stale_revision_conflicts_and_changes_nothing<S: Store>(
    store: &S,
) {
    let c = channel_config("v1");
    ok(store.insert_record(&c).await, "inserting");
    let v2 = ChannelConfig {
        revision: 2,
        ..sms_channel_config("v2")
    };
    let v2 = ChannelConfig { id: c.id, ..v2 };
    ok(store.replace_record(&v2, 1).await, "replacing 1 → 2");
    let stale = ChannelConfig {
        revision: 2,
        spec: ChannelConfigSpec {
            name: "stale".into(),
            ..c.spec.clone()
        },
        ..c.clone()
    };
    for expected in [1, 3, 0] {
        assert_eq!(
            conflict(
                store.replace_record(&stale, expected).await,
                "replacing at a stale revision"
            ),
            Conflict::RevisionMismatch
        );
    }
    assert_eq!(stored::<S, ChannelConfig>(store, &c.key()).await, Some(v2));
}

pub async fn replacing_a_missing_record_conflicts<S: Store>(store: &S) {
    let r = rule_set("never stored");
    assert_eq!(
        conflict(
            store.replace_record(&r, 1).await,
            "replacing a missing record"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(stored::<S, RuleSet>(store, &r.key()).await, None);
}

pub async fn deleting_a_record_at_its_revision_removes_it<S: Store>(store: &S) {
    let keep = channel_config("keep");
    let gone = channel_config("gone");
    ok(store.insert_record(&keep).await, "inserting");
    ok(store.insert_record(&gone).await, "inserting");
    ok(
        store.delete_record::<ChannelConfig>(&gone.key(), 1).await,
        "deleting",
    );
    assert_eq!(stored::<S, ChannelConfig>(store, &gone.key()).await, None);
    assert_eq!(
        stored::<S, ChannelConfig>(store, &keep.key()).await,
        Some(keep.clone())
    );
    // The key is free again.
    ok(store.insert_record(&gone).await, "inserting again");
    assert_eq!(
        stored::<S, ChannelConfig>(store, &gone.key()).await,
        Some(gone)
    );
}

pub async fn deleting_a_record_with_a_stale_revision_conflicts_and_keeps_it<S: Store>(store: &S) {
    let a = rule_audience("kept");
    ok(store.insert_record(&a).await, "inserting");
    for expected in [0, 2] {
        assert_eq!(
            conflict(
                store.delete_record::<Audience>(&a.key(), expected).await,
                "deleting at a stale revision"
            ),
            Conflict::RevisionMismatch
        );
    }
    assert_eq!(stored::<S, Audience>(store, &a.key()).await, Some(a));
}

pub async fn deleting_a_missing_record_conflicts<S: Store>(store: &S) {
    let key = RuleSetId::new().to_string();
    assert_eq!(
        conflict(
            store.delete_record::<RuleSet>(&key, 1).await,
            "deleting a missing record"
        ),
        Conflict::RevisionMismatch
    );
}

pub async fn listing_records_pages_through_one_kind_in_key_order<S: Store>(store: &S) {
    let mut configs: Vec<ChannelConfig> = (0..7)
        .map(|i| channel_config(&format!("config {i}")))
        .collect();
    for c in &configs {
        ok(store.insert_record(c).await, "inserting a config");
    }
    // Other kinds never show up in the listing.
    for i in 0..4 {
        ok(
            store.insert_record(&rule_set(&format!("rules {i}"))).await,
            "inserting a rule set",
        );
        ok(
            store
                .insert_record(&static_audience(&format!("audience {i}")))
                .await,
            "inserting an audience",
        );
    }
    configs.sort_by_key(Record::key);
    for limit in [1, 3, 7, 50] {
        let listed = read_all(limit, |p| async move {
            store.list_records::<ChannelConfig>(&p).await
        })
        .await;
        assert_eq!(listed, configs, "pages of {limit}");
    }
    let rules = read_all(
        3,
        |p| async move { store.list_records::<RuleSet>(&p).await },
    )
    .await;
    assert_eq!(rules.len(), 4);
}

pub async fn a_listing_that_ends_on_a_full_page_has_no_next_cursor<S: Store>(store: &S) {
    let mut sets: Vec<RuleSet> = (0..6).map(|i| rule_set(&format!("rules {i}"))).collect();
    for r in &sets {
        ok(store.insert_record(r).await, "inserting");
    }
    sets.sort_by_key(Record::key);
    let first = ok(
        store.list_records::<RuleSet>(&PageRequest::first(6)).await,
        "listing",
    );
    assert_eq!(first.items, sets);
    assert_eq!(first.next, None, "six items fit one page of six");
    // read_all checks that 6 items in pages of 3 take exactly two pages.
    let listed = read_all(
        3,
        |p| async move { store.list_records::<RuleSet>(&p).await },
    )
    .await;
    assert_eq!(listed, sets);
}

pub async fn every_empty_listing_is_a_single_empty_last_page<S: Store>(store: &S) {
    let first = PageRequest::first(10);
    let empty = |what: &str, len: usize, next: Option<String>| {
        assert_eq!((len, next), (0, None), "{what} of an empty store");
    };
    let p = ok(store.list_records::<ChannelConfig>(&first).await, "records");
    empty("channel configs", p.items.len(), p.next);
    let p = ok(store.list_records::<Audience>(&first).await, "records");
    empty("audiences", p.items.len(), p.next);
    let p = ok(store.list_campaigns(&first).await, "campaigns");
    empty("campaigns", p.items.len(), p.next);
    let p = ok(store.list_profiles(&first).await, "profiles");
    empty("profiles", p.items.len(), p.next);
    let p = ok(
        store.list_members(AudienceId::new(), &first).await,
        "members",
    );
    empty("members", p.items.len(), p.next);
    assert_eq!(
        ok(store.count_members(AudienceId::new()).await, "counting"),
        0
    );
    let p = ok(store.list_suppressions(None, &first).await, "suppressions");
    empty("suppressions", p.items.len(), p.next);
    let p = ok(
        store.list_suppressions(Some(Channel::Sms), &first).await,
        "suppressions",
    );
    empty("sms suppressions", p.items.len(), p.next);
}

// ---------------------------------------------------------------------------------------------
// Paging rules
// ---------------------------------------------------------------------------------------------

pub async fn a_zero_limit_means_the_default_page_size<S: Store>(store: &S) {
    let audience = AudienceId::new();
    let count = PageRequest::DEFAULT_LIMIT as usize + 1;
    let ids = sorted_profile_ids(count);
    ok(store.add_members(audience, &ids).await, "adding members");
    let first = ok(
        store.list_members(audience, &PageRequest::first(0)).await,
        "listing with limit 0",
    );
    assert_eq!(first.items.len(), PageRequest::DEFAULT_LIMIT as usize);
    assert_eq!(first.items[..], ids[..count - 1]);
    let next = PageRequest {
        cursor: Some(first.next.expect("a second page")),
        limit: 0,
    };
    let second = ok(store.list_members(audience, &next).await, "the second page");
    assert_eq!(second.items, ids[count - 1..]);
    assert_eq!(second.next, None);
}

pub async fn no_page_holds_more_than_the_maximum_limit<S: Store>(store: &S) {
    let audience = AudienceId::new();
    let count = PageRequest::MAX_LIMIT as usize + 1;
    let ids = sorted_profile_ids(count);
    for chunk in ids.chunks(250) {
        ok(store.add_members(audience, chunk).await, "adding members");
    }
    let first = ok(
        store
            .list_members(audience, &PageRequest::first(u32::MAX))
            .await,
        "listing with a huge limit",
    );
    assert_eq!(first.items.len(), PageRequest::MAX_LIMIT as usize);
    assert_eq!(first.items[..], ids[..count - 1]);
    let next = PageRequest {
        cursor: Some(first.next.expect("a second page")),
        limit: u32::MAX,
    };
    let second = ok(store.list_members(audience, &next).await, "the second page");
    assert_eq!(second.items, ids[count - 1..]);
    assert_eq!(second.next, None);
}

pub async fn a_cursor_the_store_never_issued_does_not_panic_it<S: Store>(store: &S) {
    fn check<T: Debug>(what: &str, cursor: &str, result: StoreResult<Page<T>>) {
        match result {
            Ok(page) => assert!(
                page.items.len() <= 2,
                "{what} with cursor {cursor:?}: {} items for a limit of 2",
                page.items.len()
            ),
            Err(StoreError::Conflict(c)) => {
                panic!("{what} with cursor {cursor:?} answered with a conflict: {c:?}")
            }
            Err(_) => {}
        }
    }
    let audience = AudienceId::new();
    for i in 0..3 {
        ok(
            store.insert_record(&channel_config(&format!("c{i}"))).await,
            "inserting",
        );
        let (c, v) = campaign(&format!("c{i}"));
        ok(store.insert_campaign(&c, &v).await, "inserting");
        ok(
            store.save_profile(&profile(&[]), None, &[], &[]).await,
            "saving",
        );
        ok(
            store.add_members(audience, &[ProfileId::new()]).await,
            "adding",
        );
        ok(
            store
                .put_suppression(&suppression(Channel::Push, &format!("token-{i}")))
                .await,
            "suppressing",
        );
    }
    let cursors = [
        "",
        "not a cursor",
        "zzzzzzzz",
        "0",
        "email:",
        "push:token-0",
        "carrier:pigeon",
        "'; DROP TABLE records; --",
        "\u{0}\u{fffd}é#:%",
        "7b226b6579223a2278227d",
    ];
    for cursor in cursors {
        let page = PageRequest {
            cursor: Some(cursor.to_string()),
            limit: 2,
        };
        check(
            "list_records",
            cursor,
            store.list_records::<ChannelConfig>(&page).await,
        );
        check("list_campaigns", cursor, store.list_campaigns(&page).await);
        check("list_profiles", cursor, store.list_profiles(&page).await);
        check(
            "list_members",
            cursor,
            store.list_members(audience, &page).await,
        );
        check(
            "list_suppressions",
            cursor,
            store.list_suppressions(None, &page).await,
        );
        check(
            "list_suppressions(push)",
            cursor,
            store.list_suppressions(Some(Channel::Push), &page).await,
        );
    }
    // The store still works afterwards.
    let listed = read_all(2, |p| async move {
        store.list_records::<ChannelConfig>(&p).await
    })
    .await;
    assert_eq!(listed.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------------

async fn stored_campaign<S: Store>(store: &S, id: CampaignId) -> Option<Campaign> {
    ok(store.get_campaign(id).await, "reading a campaign")
}

async fn stored_version<S: Store>(store: &S, id: CampaignId, v: u32) -> Option<CampaignVersion> {
    ok(
        store.get_campaign_version(id, v).await,
        "reading a campaign version",
    )
}

pub async fn a_campaign_is_inserted_with_its_first_version<S: Store>(store: &S) {
    let (c, v1) = campaign("welcome");
    ok(store.insert_campaign(&c, &v1).await, "inserting");
    assert_eq!(stored_campaign(store, c.id).await, Some(c.clone()));
    assert_eq!(stored_version(store, c.id, 1).await, Some(v1));
    assert_eq!(stored_version(store, c.id, 2).await, None);
}

pub async fn a_missing_campaign_and_version_read_as_none<S: Store>(store: &S) {
    let (c, v1) = campaign("present");
    ok(store.insert_campaign(&c, &v1).await, "inserting");
    let absent = CampaignId::new();
    assert_eq!(stored_campaign(store, absent).await, None);
    assert_eq!(stored_version(store, absent, 1).await, None);
    assert_eq!(stored_version(store, c.id, 0).await, None);
    assert_eq!(stored_version(store, c.id, u32::MAX).await, None);
}

pub async fn inserting_a_campaign_twice_conflicts_and_writes_nothing<S: Store>(store: &S) {
    let (c, v1) = campaign("original");
    ok(store.insert_campaign(&c, &v1).await, "the first insert");
    let again = next_campaign(&c, "impostor");
    let other_v1 = version(c.id, 1, "impostor");
    assert_eq!(
        conflict(
            store.insert_campaign(&again, &other_v1).await,
            "the second insert"
        ),
        Conflict::AlreadyExists
    );
    assert_eq!(stored_campaign(store, c.id).await, Some(c.clone()));
    assert_eq!(stored_version(store, c.id, 1).await, Some(v1));
}

pub async fn updating_a_campaign_at_its_revision_writes_it_and_every_version_given<S: Store>(
    store: &S,
) {
    let (c, v1) = campaign("spring sale");
    ok(store.insert_campaign(&c, &v1).await, "inserting");
    // Activation: version 1 becomes live (replaced), version 2 is a new draft.
    let live_v1 = CampaignVersion {
        activated_at: Some(at(500)),
        ..v1.clone()
    };
    let v2 = version(c.id, 2, "spring sale, take two");
    let updated = Campaign {
        status: CampaignStatus::Live,
        live_version: Some(1),
        draft_version: Some(2),
        latest_version: 2,
        ..next_campaign(&c, "spring sale")
    };
    ok(
        store
            .update_campaign(&updated, c.revision, &[live_v1.clone(), v2.clone()])
            .await,
        "updating",
    );
    assert_eq!(stored_campaign(store, c.id).await, Some(updated.clone()));
    assert_eq!(stored_version(store, c.id, 1).await, Some(live_v1));
    assert_eq!(stored_version(store, c.id, 2).await, Some(v2.clone()));
    // An update with no versions touches only the campaign.
    let stopped = Campaign {
        status: CampaignStatus::Stopped,
        ..next_campaign(&updated, "spring sale")
    };
    ok(
        store.update_campaign(&stopped, updated.revision, &[]).await,
        "updating without versions",
    );
    assert_eq!(stored_campaign(store, c.id).await, Some(stopped));
    assert_eq!(stored_version(store, c.id, 2).await, Some(v2));
}

pub async fn a_stale_campaign_update_writes_neither_the_campaign_nor_its_versions<S: Store>(
    store: &S,
) {
    let (c, v1) = campaign("stale");
    ok(store.insert_campaign(&c, &v1).await, "inserting");
    let fresh = next_campaign(&c, "fresh");
    ok(
        store.update_campaign(&fresh, c.revision, &[]).await,
        "the first update",
    );
    // A writer that read revision 1 tries to replace version 1 and add version 2.
    let stale = Campaign {
        latest_version: 2,
        ..next_campaign(&c, "stale writer")
    };
    let changed_v1 = version(c.id, 1, "changed by the stale writer");
    let v2 = version(c.id, 2, "added by the stale writer");
    assert_eq!(
        conflict(
            store
                .update_campaign(&stale, c.revision, &[changed_v1, v2])
                .await,
            "a stale update"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(stored_campaign(store, c.id).await, Some(fresh));
    assert_eq!(stored_version(store, c.id, 1).await, Some(v1));
    assert_eq!(stored_version(store, c.id, 2).await, None);
}

pub async fn updating_a_missing_campaign_conflicts_and_writes_no_versions<S: Store>(store: &S) {
    let (c, v1) = campaign("never inserted");
    assert_eq!(
        conflict(
            store
                .update_campaign(&c, 1, std::slice::from_ref(&v1))
                .await,
            "updating a missing campaign"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(stored_campaign(store, c.id).await, None);
    assert_eq!(stored_version(store, c.id, 1).await, None);
}

pub async fn deleting_a_campaign_removes_it_and_all_its_versions<S: Store>(store: &S) {
    let (c, v1) = campaign("doomed");
    let (other, other_v1) = campaign("bystander");
    ok(store.insert_campaign(&c, &v1).await, "inserting");
    ok(store.insert_campaign(&other, &other_v1).await, "inserting");
    let versions: Vec<CampaignVersion> = (2..=4).map(|n| version(c.id, n, "later")).collect();
    let updated = Campaign {
        latest_version: 4,
        ..next_campaign(&c, "doomed")
    };
    ok(
        store.update_campaign(&updated, 1, &versions).await,
        "adding versions",
    );
    ok(
        store.delete_campaign(c.id, updated.revision).await,
        "deleting",
    );
    assert_eq!(stored_campaign(store, c.id).await, None);
    for n in 1..=4 {
        assert_eq!(stored_version(store, c.id, n).await, None, "version {n}");
    }
    assert_eq!(stored_campaign(store, other.id).await, Some(other.clone()));
    assert_eq!(stored_version(store, other.id, 1).await, Some(other_v1));
    // Nothing of the deleted campaign is left in the way of a new one with the same id.
    ok(store.insert_campaign(&c, &v1).await, "inserting again");
    assert_eq!(stored_version(store, c.id, 2).await, None);
    let listed = read_all(10, |p| async move { store.list_campaigns(&p).await }).await;
    assert_eq!(listed.len(), 2);
}

pub async fn deleting_a_campaign_with_a_stale_revision_conflicts_and_keeps_it<S: Store>(store: &S) {
    let (c, v1) = campaign("kept");
    ok(store.insert_campaign(&c, &v1).await, "inserting");
    for expected in [0, 2] {
        assert_eq!(
            conflict(
                store.delete_campaign(c.id, expected).await,
                "deleting at a stale revision"
            ),
            Conflict::RevisionMismatch
        );
    }
    assert_eq!(stored_campaign(store, c.id).await, Some(c.clone()));
    assert_eq!(stored_version(store, c.id, 1).await, Some(v1));
}

pub async fn deleting_a_missing_campaign_conflicts<S: Store>(store: &S) {
    assert_eq!(
        conflict(
            store.delete_campaign(CampaignId::new(), 1).await,
            "deleting a missing campaign"
        ),
        Conflict::RevisionMismatch
    );
}

pub async fn listing_campaigns_pages_in_id_order<S: Store>(store: &S) {
    let mut campaigns = Vec::new();
    for i in 0..7 {
        let (c, v1) = campaign(&format!("campaign {i}"));
        ok(store.insert_campaign(&c, &v1).await, "inserting");
        // Versions are not campaigns: they never appear in the listing.
        let more = [version(c.id, 2, "two"), version(c.id, 3, "three")];
        let updated = next_campaign(&c, &format!("campaign {i}"));
        ok(store.update_campaign(&updated, 1, &more).await, "updating");
        campaigns.push(updated);
    }
    campaigns.sort_by_key(|c| c.id.to_string());
    for limit in [1, 2, 7, 100] {
        let listed = read_all(limit, |p| async move { store.list_campaigns(&p).await }).await;
        assert_eq!(listed, campaigns, "pages of {limit}");
    }
}

pub async fn concurrent_updates_of_one_campaign_let_exactly_one_win<S: Store>(store: &S) {
    const WRITERS: usize = 20;
    let (c, v1) = campaign("contested");
    ok(store.insert_campaign(&c, &v1).await, "inserting");
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        let barrier = Arc::clone(&barrier);
        let name = format!("writer {writer}");
        let update = Campaign {
            latest_version: 2,
            ..next_campaign(&c, &name)
        };
        let v2 = version(c.id, 2, &name);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let result = store.update_campaign(&update, 1, &[v2]).await;
            (name, result)
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let (name, result) = task.await.expect("a writer task panicked");
        match result {
            Ok(()) => winners.push(name),
            Err(StoreError::Conflict(Conflict::RevisionMismatch)) => {}
            Err(e) => panic!("{name} failed with something other than a conflict: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let winner = &winners[0];
    let stored = stored_campaign(store, c.id).await.expect("the campaign");
    assert_eq!(&stored.name, winner);
    assert_eq!(stored.revision, 2);
    let v2 = stored_version(store, c.id, 2).await.expect("version 2");
    assert_eq!(
        &v2.spec.name, winner,
        "version 2 comes from the same write as the campaign"
    );
}

// ---------------------------------------------------------------------------------------------
// Profiles
// ---------------------------------------------------------------------------------------------

async fn stored_profile<S: Store>(store: &S, id: ProfileId) -> Option<Profile> {
    ok(store.get_profile(id).await, "reading a profile")
}

/// Saves a new profile claiming all its identities.
async fn create<S: Store>(store: &S, p: &Profile) {
    ok(
        store.save_profile(p, None, &p.identity_list(), &[]).await,
        "saving a new profile",
    );
}

pub async fn a_new_profile_is_saved_with_its_identities<S: Store>(store: &S) {
    let mail = identity("email", "Ann@Example.com");
    let phone = identity("phone", "+1 415 555 2671");
    let crm = identity("crmId", "A-42");
    let p = profile(&[&mail, &phone, &crm]);
    create(store, &p).await;
    assert_eq!(stored_profile(store, p.id).await, Some(p.clone()));
    for i in [&mail, &phone, &crm] {
        assert_eq!(
            ok(store.find_profile(i).await, "finding"),
            Some(p.clone()),
            "found by {i}"
        );
    }
}

pub async fn profiles_read_together_are_those_that_exist<S: Store>(store: &S) {
    let ann = profile(&[&identity("ecid", "together-ann")]);
    let bob = profile(&[&identity("ecid", "together-bob")]);
    create(store, &ann).await;
    create(store, &bob).await;
    let missing = ProfileId::new();
    let mut read = ok(
        store.get_profiles(&[bob.id, missing, ann.id]).await,
        "reading profiles together",
    );
    read.sort_by_key(|p| p.id);
    let mut expected = vec![ann, bob];
    expected.sort_by_key(|p| p.id);
    assert_eq!(
        read, expected,
        "the two that exist, and nothing for the missing id"
    );
    assert_eq!(ok(store.get_profiles(&[]).await, "reading no profiles"), []);
}

pub async fn profiles_found_together_by_identity_come_in_the_order_asked<S: Store>(store: &S) {
    let (ann_mail, ann_phone) = (
        identity("email", "ann@together.example"),
        identity("phone", "+1 415 555 2672"),
    );
    let bob_mail = identity("email", "bob@together.example");
    let ann = profile(&[&ann_mail, &ann_phone]);
    let bob = profile(&[&bob_mail]);
    create(store, &ann).await;
    create(store, &bob).await;
    let nobody = identity("email", "nobody@together.example");
    let found = ok(
        store
            .find_profiles(&[
                ann_phone.clone(),
                nobody,
                bob_mail.clone(),
                ann_mail.clone(),
                ann_phone,
            ])
            .await,
        "finding profiles together",
    );
    assert_eq!(
        found,
        vec![
            Some(ann.clone()),
            None,
            Some(bob),
            Some(ann.clone()),
            Some(ann)
        ],
        "one answer per identity, in order; an identity asked twice is answered twice"
    );
    assert_eq!(
        ok(store.find_profiles(&[]).await, "finding no profiles"),
        []
    );
}

pub async fn saving_a_new_profile_whose_id_exists_conflicts<S: Store>(store: &S) {
    let first = profile(&[&identity("ecid", "first")]);
    create(store, &first).await;
    let ecid = identity("ecid", "second");
    let second = with_identity(first.clone(), &ecid);
    assert_eq!(
        conflict(
            store
                .save_profile(&second, None, std::slice::from_ref(&ecid), &[])
                .await,
            "saving a second new profile with the same id"
        ),
        Conflict::AlreadyExists
    );
    assert_eq!(stored_profile(store, first.id).await, Some(first));
    assert_eq!(holder(store, &ecid).await, None);
}

pub async fn updating_a_profile_at_its_revision_stores_it<S: Store>(store: &S) {
    let mail = identity("email", "bob@example.com");
    let p = profile(&[&mail]);
    create(store, &p).await;
    let phone = identity("phone", "+14155552671");
    let v2 = with_identity(next_profile(&p), &phone);
    ok(
        store
            .save_profile(&v2, Some(p.revision), &v2.identity_list(), &[])
            .await,
        "updating",
    );
    assert_eq!(stored_profile(store, p.id).await, Some(v2.clone()));
    assert_eq!(holder(store, &phone).await, Some(p.id));
    assert_eq!(
        ok(store.find_profile(&mail).await, "finding"),
        Some(v2.clone()),
        "an identity finds the latest profile"
    );
    let v3 = next_profile(&v2);
    ok(
        store.save_profile(&v3, Some(v2.revision), &[], &[]).await,
        "updating again",
    );
    assert_eq!(stored_profile(store, p.id).await, Some(v3));
}

pub async fn updating_a_profile_with_a_stale_revision_conflicts_and_changes_nothing<S: Store>(
    store: &S,
) {
    let crm = identity("crmId", "C-1");
    let p = profile(&[&crm]);
    create(store, &p).await;
    let v2 = next_profile(&p);
    ok(
        store.save_profile(&v2, Some(1), &[], &[]).await,
        "updating 1 → 2",
    );
    let ecid = identity("ecid", "stale-claim");
    let stale = with_identity(next_profile(&p), &ecid);
    for expected in [1, 3] {
        assert_eq!(
            conflict(
                store
                    .save_profile(
                        &stale,
                        Some(expected),
                        std::slice::from_ref(&ecid),
                        std::slice::from_ref(&crm)
                    )
                    .await,
                "a stale profile update"
            ),
            Conflict::RevisionMismatch
        );
    }
    assert_eq!(stored_profile(store, p.id).await, Some(v2));
    assert_eq!(holder(store, &ecid).await, None, "nothing was claimed");
    assert_eq!(
        holder(store, &crm).await,
        Some(p.id),
        "nothing was released"
    );
}

pub async fn updating_a_missing_profile_conflicts_and_claims_nothing<S: Store>(store: &S) {
    let ecid = identity("ecid", "orphan");
    let p = profile(&[&ecid]);
    assert_eq!(
        conflict(
            store
                .save_profile(&p, Some(1), std::slice::from_ref(&ecid), &[])
                .await,
            "updating a missing profile"
        ),
        Conflict::RevisionMismatch
    );
    assert_eq!(stored_profile(store, p.id).await, None);
    assert_eq!(holder(store, &ecid).await, None);
    let later = profile(&[&ecid]);
    create(store, &later).await;
    assert_eq!(
        holder(store, &ecid).await,
        Some(later.id),
        "the identity is still free"
    );
}

pub async fn an_unknown_identity_finds_no_profile<S: Store>(store: &S) {
    let p = profile(&[&identity("email", "known@example.com")]);
    create(store, &p).await;
    assert_eq!(
        holder(store, &identity("email", "unknown@example.com")).await,
        None
    );
    assert_eq!(
        holder(store, &identity("ecid", "known@example.com")).await,
        None,
        "the same value in another namespace is another identity"
    );
    assert_eq!(stored_profile(store, ProfileId::new()).await, None);
}

pub async fn a_new_profile_claiming_a_taken_identity_fails_and_writes_nothing<S: Store>(store: &S) {
    let mail = identity("email", "taken@example.com");
    let owner = profile(&[&mail]);
    create(store, &owner).await;
    let phone = identity("phone", "+14155552671");
    let crm = identity("crmId", "newcomer");
    let newcomer = profile(&[&phone, &mail, &crm]);
    let claims = [phone.clone(), mail.clone(), crm.clone()];
    assert_eq!(
        conflict(
            store.save_profile(&newcomer, None, &claims, &[]).await,
            "claiming a taken identity"
        ),
        Conflict::IdentityTaken(mail.clone())
    );
    assert_eq!(stored_profile(store, newcomer.id).await, None);
    assert_eq!(holder(store, &phone).await, None, "no claim was kept");
    assert_eq!(holder(store, &crm).await, None, "no claim was kept");
    assert_eq!(holder(store, &mail).await, Some(owner.id));
    // The identities the failed write would have claimed are still free.
    let later = profile(&[&phone, &crm]);
    create(store, &later).await;
    assert_eq!(holder(store, &phone).await, Some(later.id));
}

pub async fn an_update_claiming_a_taken_identity_fails_and_keeps_the_stored_profile<S: Store>(
    store: &S,
) {
    let mail = identity("email", "owner@example.com");
    let owner = profile(&[&mail]);
    create(store, &owner).await;
    let old = identity("ecid", "old");
    let other = profile(&[&old]);
    create(store, &other).await;
    let fresh = identity("crmId", "fresh");
    let update = with_identity(
        with_identity(without_identity(next_profile(&other), "ecid"), &fresh),
        &mail,
    );
    assert_eq!(
        conflict(
            store
                .save_profile(
                    &update,
                    Some(other.revision),
                    &[fresh.clone(), mail.clone()],
                    std::slice::from_ref(&old)
                )
                .await,
            "an update claiming a taken identity"
        ),
        Conflict::IdentityTaken(mail.clone())
    );
    assert_eq!(stored_profile(store, other.id).await, Some(other.clone()));
    assert_eq!(holder(store, &old).await, Some(other.id), "not released");
    assert_eq!(holder(store, &fresh).await, None, "not claimed");
    assert_eq!(holder(store, &mail).await, Some(owner.id));
}

pub async fn claiming_an_identity_the_profile_already_holds_is_fine<S: Store>(store: &S) {
    let mail = identity("email", "same@example.com");
    let p = profile(&[&mail]);
    create(store, &p).await;
    let v2 = next_profile(&p);
    ok(
        store
            .save_profile(&v2, Some(1), &v2.identity_list(), &[])
            .await,
        "claiming held identities again",
    );
    assert_eq!(stored_profile(store, p.id).await, Some(v2));
    assert_eq!(holder(store, &mail).await, Some(p.id));
}

pub async fn a_released_identity_can_be_claimed_by_another_profile<S: Store>(store: &S) {
    let mail = identity("email", "moving@example.com");
    let ecid = identity("ecid", "stays");
    let first = profile(&[&mail, &ecid]);
    create(store, &first).await;
    let released = without_identity(next_profile(&first), "email");
    ok(
        store
            .save_profile(&released, Some(1), &[], std::slice::from_ref(&mail))
            .await,
        "releasing",
    );
    assert_eq!(holder(store, &mail).await, None);
    assert_eq!(holder(store, &ecid).await, Some(first.id));
    let second = profile(&[&mail]);
    create(store, &second).await;
    assert_eq!(holder(store, &mail).await, Some(second.id));
    assert_eq!(stored_profile(store, first.id).await, Some(released));
}

pub async fn releasing_an_identity_held_by_another_profile_never_takes_it_from_its_holder<
    S: Store,
>(
    store: &S,
) {
    let mail = identity("email", "mine@example.com");
    let owner = profile(&[&mail]);
    create(store, &owner).await;
    let other = profile(&[]);
    create(store, &other).await;
    let result = store
        .save_profile(
            &next_profile(&other),
            Some(1),
            &[],
            std::slice::from_ref(&mail),
        )
        .await;
    assert!(
        matches!(result, Ok(()) | Err(StoreError::Conflict(_))),
        "releasing someone else's identity: {result:?}"
    );
    assert_eq!(holder(store, &mail).await, Some(owner.id));
}

pub async fn identities_with_the_same_value_in_different_namespaces_are_distinct<S: Store>(
    store: &S,
) {
    let ecid = identity("ecid", "42");
    let crm = identity("crmId", "42");
    let a = profile(&[&ecid]);
    let b = profile(&[&crm]);
    create(store, &a).await;
    create(store, &b).await;
    assert_eq!(holder(store, &ecid).await, Some(a.id));
    assert_eq!(holder(store, &crm).await, Some(b.id));
}

pub async fn deleting_a_profile_erases_it_and_frees_its_identities<S: Store>(store: &S) {
    let mail = identity("email", "erase-me@example.com");
    let phone = identity("phone", "+14155552671");
    let p = profile(&[&mail, &phone]);
    let bystander = profile(&[&identity("ecid", "bystander")]);
    create(store, &p).await;
    create(store, &bystander).await;
    assert!(ok(store.delete_profile(p.id).await, "deleting"));
    assert_eq!(stored_profile(store, p.id).await, None);
    assert_eq!(holder(store, &mail).await, None);
    assert_eq!(holder(store, &phone).await, None);
    assert_eq!(
        stored_profile(store, bystander.id).await,
        Some(bystander.clone())
    );
    let successor = profile(&[&mail, &phone]);
    create(store, &successor).await;
    assert_eq!(holder(store, &mail).await, Some(successor.id));
    assert!(
        !ok(store.delete_profile(p.id).await, "deleting again"),
        "a second delete finds nothing"
    );
}

pub async fn deleting_a_missing_profile_returns_false<S: Store>(store: &S) {
    assert!(!ok(
        store.delete_profile(ProfileId::new()).await,
        "deleting a missing profile"
    ));
}

pub async fn listing_profiles_pages_in_id_order<S: Store>(store: &S) {
    let mut profiles = Vec::new();
    for i in 0..9 {
        let p = profile(&[&identity("ecid", &format!("p{i}"))]);
        create(store, &p).await;
        profiles.push(p);
    }
    profiles.sort_by_key(|p| p.id.to_string());
    for limit in [1, 4, 9, 1000] {
        let listed = read_all(limit, |p| async move { store.list_profiles(&p).await }).await;
        assert_eq!(listed, profiles, "pages of {limit}");
    }
}

// ---------------------------------------------------------------------------------------------
// Audience members
// ---------------------------------------------------------------------------------------------

async fn members<S: Store>(store: &S, audience: AudienceId, limit: u32) -> Vec<ProfileId> {
    read_all(
        limit,
        |p| async move { store.list_members(audience, &p).await },
    )
    .await
}

async fn count<S: Store>(store: &S, audience: AudienceId) -> u64 {
    ok(store.count_members(audience).await, "counting members")
}

pub async fn adding_a_member_twice_keeps_one_membership<S: Store>(store: &S) {
    let audience = AudienceId::new();
    let ids = sorted_profile_ids(3);
    ok(store.add_members(audience, &ids).await, "adding");
    ok(store.add_members(audience, &ids[1..]).await, "adding again");
    ok(
        store.add_members(audience, &[ids[0], ids[0]]).await,
        "adding one member twice in one call",
    );
    ok(store.add_members(audience, &[]).await, "adding nobody");
    assert_eq!(count(store, audience).await, 3);
    assert_eq!(members(store, audience, 10).await, ids);
}

pub async fn removing_members_removes_only_them_and_ignores_non_members<S: Store>(store: &S) {
    let audience = AudienceId::new();
    let ids = sorted_profile_ids(5);
    ok(store.add_members(audience, &ids).await, "adding");
    ok(
        store
            .remove_members(audience, &[ids[1], ids[3], ProfileId::new()])
            .await,
        "removing two members and a stranger",
    );
    ok(
        store.remove_members(audience, &[ids[1]]).await,
        "removing a former member again",
    );
    ok(
        store.remove_members(AudienceId::new(), &[ids[0]]).await,
        "removing from an audience with no members",
    );
    assert_eq!(count(store, audience).await, 3);
    assert_eq!(
        members(store, audience, 2).await,
        vec![ids[0], ids[2], ids[4]]
    );
}

pub async fn listing_members_pages_in_profile_id_order<S: Store>(store: &S) {
    let audience = AudienceId::new();
    let ids = sorted_profile_ids(23);
    // Added out of order, in several calls.
    let mut shuffled = ids.clone();
    shuffled.reverse();
    shuffled.rotate_left(7);
    for chunk in shuffled.chunks(6) {
        ok(store.add_members(audience, chunk).await, "adding");
    }
    for limit in [1, 5, 23, 1000] {
        assert_eq!(
            members(store, audience, limit).await,
            ids,
            "pages of {limit}"
        );
    }
}

pub async fn members_of_different_audiences_are_kept_apart<S: Store>(store: &S) {
    let (a, b) = (AudienceId::new(), AudienceId::new());
    let ids = sorted_profile_ids(6);
    ok(store.add_members(a, &ids[..4]).await, "adding to a");
    ok(store.add_members(b, &ids[2..]).await, "adding to b");
    assert_eq!(count(store, a).await, 4);
    assert_eq!(count(store, b).await, 4);
    ok(store.remove_members(a, &[ids[2]]).await, "removing from a");
    assert_eq!(members(store, b, 3).await, ids[2..]);
    ok(store.clear_members(a).await, "clearing a");
    assert_eq!(count(store, a).await, 0);
    assert_eq!(members(store, b, 10).await, ids[2..]);
}

pub async fn clearing_an_audience_removes_every_member<S: Store>(store: &S) {
    let audience = AudienceId::new();
    let ids = sorted_profile_ids(60);
    ok(store.add_members(audience, &ids).await, "adding");
    ok(store.clear_members(audience).await, "clearing");
    assert_eq!(count(store, audience).await, 0);
    assert_eq!(members(store, audience, 10).await, Vec::<ProfileId>::new());
    ok(
        store.clear_members(audience).await,
        "clearing an empty audience",
    );
    ok(store.add_members(audience, &ids[..2]).await, "adding again");
    assert_eq!(members(store, audience, 10).await, ids[..2]);
}

// ---------------------------------------------------------------------------------------------
// Suppressions
// ---------------------------------------------------------------------------------------------

async fn suppressed<S: Store>(store: &S, channel: Channel, address: &str) -> Option<Suppression> {
    ok(
        store.get_suppression(channel, address).await,
        "reading a suppression",
    )
}

pub async fn a_new_suppression_is_reported_new_and_a_repeat_replaces_it<S: Store>(store: &S) {
    let s = suppression(Channel::Email, "bounce@example.com");
    assert!(ok(store.put_suppression(&s).await, "suppressing"), "new");
    let again = Suppression {
        reason: SuppressionReason::HardBounce,
        note: None,
        created_at: at(90),
        ..s.clone()
    };
    assert!(
        !ok(store.put_suppression(&again).await, "suppressing again"),
        "not new the second time"
    );
    assert_eq!(
        suppressed(store, Channel::Email, "bounce@example.com").await,
        Some(again)
    );
    let listed = read_all(
        10,
        |p| async move { store.list_suppressions(None, &p).await },
    )
    .await;
    assert_eq!(listed.len(), 1);
}

pub async fn a_suppression_is_found_only_on_its_own_channel<S: Store>(store: &S) {
    let token = "ann@example.com";
    let push = suppression(Channel::Push, token);
    assert!(ok(store.put_suppression(&push).await, "suppressing"));
    assert_eq!(suppressed(store, Channel::Push, token).await, Some(push));
    assert_eq!(suppressed(store, Channel::Email, token).await, None);
    assert_eq!(suppressed(store, Channel::Sms, token).await, None);
    assert_eq!(
        suppressed(store, Channel::Push, "other@example.com").await,
        None
    );
    let email = suppression(Channel::Email, token);
    assert!(
        ok(store.put_suppression(&email).await, "suppressing"),
        "the same address on another channel is a new suppression"
    );
    assert_eq!(suppressed(store, Channel::Email, token).await, Some(email));
}

pub async fn deleting_a_suppression_reports_whether_there_was_one<S: Store>(store: &S) {
    let sms = suppression(Channel::Sms, "+14155552671");
    let email = suppression(Channel::Email, "+14155552671");
    ok(store.put_suppression(&sms).await, "suppressing");
    ok(store.put_suppression(&email).await, "suppressing");
    assert!(ok(
        store.delete_suppression(Channel::Sms, "+14155552671").await,
        "deleting"
    ));
    assert_eq!(suppressed(store, Channel::Sms, "+14155552671").await, None);
    assert_eq!(
        suppressed(store, Channel::Email, "+14155552671").await,
        Some(email)
    );
    assert!(!ok(
        store.delete_suppression(Channel::Sms, "+14155552671").await,
        "deleting again"
    ));
    assert!(!ok(
        store
            .delete_suppression(Channel::Push, "never-suppressed")
            .await,
        "deleting a missing suppression"
    ));
    assert!(
        ok(store.put_suppression(&sms).await, "suppressing again"),
        "new again after a delete"
    );
}

/// Suppressions on every channel, in the order the stores list them.
async fn suppress_many<S: Store>(store: &S) -> Vec<Suppression> {
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(suppression(Channel::Push, &format!("token-{i:02}")));
        all.push(suppression(Channel::Email, &format!("u{i:02}@example.com")));
        all.push(suppression(Channel::Sms, &format!("+3361234567{i}")));
    }
    // Addresses that would sort differently if the channel were not compared first, or if a
    // separator in the key were compared as part of the address.
    all.push(suppression(Channel::Sms, "+1"));
    all.push(suppression(Channel::Email, "zz@example.com"));
    all.push(suppression(Channel::Push, "a:b#c"));
    all.push(suppression(Channel::Push, "a"));
    for s in &all {
        assert!(ok(store.put_suppression(s).await, "suppressing"));
    }
    all.sort_by(|a, b| (a.channel, &a.address).cmp(&(b.channel, &b.address)));
    all
}

pub async fn listing_one_channel_pages_through_only_its_suppressions<S: Store>(store: &S) {
    let all = suppress_many(store).await;
    for channel in Channel::ALL {
        let expected: Vec<Suppression> = all
            .iter()
            .filter(|s| s.channel == channel)
            .cloned()
            .collect();
        for limit in [1, 2, 6, 50] {
            let listed = read_all(limit, |p| async move {
                store.list_suppressions(Some(channel), &p).await
            })
            .await;
            assert_eq!(listed, expected, "{channel} in pages of {limit}");
        }
    }
}

pub async fn listing_every_suppression_pages_in_channel_then_address_order<S: Store>(store: &S) {
    let all = suppress_many(store).await;
    for limit in [1, 4, 7, 19, 1000] {
        let listed = read_all(
            limit,
            |p| async move { store.list_suppressions(None, &p).await },
        )
        .await;
        assert_eq!(listed, all, "pages of {limit}");
    }
}
