//! What a DynamoDB call asks for and what it reports, read from the JSON bodies on the wire
//! (DynamoDB's JSON 1.0 protocol): which items a write touches and how big they are, which
//! entity a key belongs to (`message#…` → `message`), the `ConsumedCapacity` a response carries
//! (an object, or an array for batch and transaction calls), and a refused condition.

use serde_json::{Map, Value};

use super::size::{item_bytes, read_units, write_units};

/// What an operation does to capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Table management (CreateTable, DescribeTable…): no capacity.
    Control,
}

pub fn access(op: &str) -> Access {
    match op {
        "GetItem" | "BatchGetItem" | "Query" | "Scan" | "TransactGetItems" => Access::Read,
        "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" | "TransactWriteItems" => {
            Access::Write
        }
        _ => Access::Control,
    }
}

/// One item a write touches.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemWrite {
    /// `Put`, `Update`, `Delete` or `ConditionCheck`.
    pub action: &'static str,
    /// The entity of its partition key (`message`, `counts#execution`…).
    pub entity: String,
    /// The item's size, when the request carries the whole item (a put).
    pub bytes: Option<u64>,
    /// Whether an index entry is written too: the item carries `gsi1pk` (an index that
    /// projects every attribute, rewritten on every put), or it carries `gsi2pk` (keys only,
    /// written only when the entry is new: a put conditioned on `attribute_not_exists(pk)`;
    /// the wire cannot tell whether an unconditioned put creates the item or replaces it, and
    /// Herald's only unconditioned `gsi2` puts replace).
    pub indexed: bool,
}

/// What a call asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The operation name (`PutItem`).
    pub op: String,
    /// The entities it touches, in order (`message+providerMessage`); for a Query, the index
    /// read first (`gsi1 messages`).
    pub label: String,
    pub writes: Vec<ItemWrite>,
    /// Strongly consistent: `ConsistentRead` of the request, or of any table a BatchGetItem
    /// reads.
    pub consistent: bool,
    /// Keys a BatchGetItem asks for (0 for other calls).
    pub keys: u64,
}

impl Request {
    /// `PutItem message`.
    pub fn key(&self) -> String {
        if self.label.is_empty() {
            self.op.clone()
        } else {
            format!("{} {}", self.op, self.label)
        }
    }
}

/// Capacity units, split between the table and its indexes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Units {
    pub table: f64,
    pub index: f64,
}

impl Units {
    pub fn total(&self) -> f64 {
        self.table + self.index
    }
}

/// The entity a key belongs to: the text before the first `#` (`counts` keeps its scope,
/// `counts#execution` or `counts#campaign`).
pub fn entity(pk: &str) -> String {
    let mut parts = pk.split('#');
    let first = parts.next().unwrap_or("");
    match (first, parts.next()) {
        ("counts", Some(scope)) => format!("counts#{scope}"),
        _ => first.to_string(),
    }
}

fn s<'a>(v: &'a Value, attribute: &str) -> Option<&'a str> {
    v.get(attribute)?.get("S")?.as_str()
}

fn object(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object()
}

fn indexed(item: &Map<String, Value>, creates: bool) -> bool {
    item.contains_key("gsi1pk") || (creates && item.contains_key("gsi2pk"))
}

/// A put: a `PutItem` body, a transaction's `Put` or a batch's `PutRequest`.
fn put(request: &Value) -> Option<ItemWrite> {
    let item = request.get("Item")?;
    let map = object(item);
    let creates = request
        .get("ConditionExpression")
        .and_then(Value::as_str)
        .is_some_and(|c| c.contains("attribute_not_exists(pk)"));
    Some(ItemWrite {
        action: "Put",
        entity: entity(s(item, "pk").unwrap_or("")),
        bytes: map.map(item_bytes),
        indexed: map.is_some_and(|m| indexed(m, creates)),
    })
}

fn keyed(action: &'static str, key: &Value) -> ItemWrite {
    ItemWrite {
        action,
        entity: entity(s(key, "pk").unwrap_or("")),
        bytes: None,
        indexed: false,
    }
}

/// The items of a TransactWriteItems or BatchWriteItem request.
fn writes_of(op: &str, body: &Value) -> Vec<ItemWrite> {
    match op {
        "PutItem" => put(body).into_iter().collect(),
        "UpdateItem" => body
            .get("Key")
            .map(|k| keyed("Update", k))
            .into_iter()
            .collect(),
        "DeleteItem" => body
            .get("Key")
            .map(|k| keyed("Delete", k))
            .into_iter()
            .collect(),
        "TransactWriteItems" => body
            .get("TransactItems")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|t| {
                        if let Some(p) = t.get("Put") {
                            return put(p);
                        }
                        [
                            ("Update", "Update"),
                            ("Delete", "Delete"),
                            ("ConditionCheck", "ConditionCheck"),
                        ]
                        .into_iter()
                        .find_map(|(field, action)| {
                            t.get(field)?.get("Key").map(|k| keyed(action, k))
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        "BatchWriteItem" => body
            .get("RequestItems")
            .and_then(Value::as_object)
            .map(|tables| {
                tables
                    .values()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter_map(|r| {
                        if let Some(p) = r.get("PutRequest") {
                            return put(p);
                        }
                        r.get("DeleteRequest")?
                            .get("Key")
                            .map(|k| keyed("Delete", k))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        _ => vec![],
    }
}

/// The entities a read request names.
fn read_label(op: &str, body: &Value) -> String {
    match op {
        "GetItem" => entity(body.get("Key").and_then(|k| s(k, "pk")).unwrap_or("")),
        "Query" | "Scan" => {
            let placeholder = body
                .get("KeyConditionExpression")
                .and_then(Value::as_str)
                .and_then(|e| e.split_whitespace().find(|w| w.starts_with(':')))
                .map(|w| w.trim_end_matches(')'));
            let partition = placeholder
                .and_then(|p| body.get("ExpressionAttributeValues")?.get(p)?.get("S"))
                .and_then(Value::as_str)
                .map(entity)
                .unwrap_or_default();
            match body.get("IndexName").and_then(Value::as_str) {
                Some(index) => format!("{index} {partition}"),
                None => partition,
            }
        }
        "BatchGetItem" => joined(batch_keys(op, body).map(|k| entity(s(k, "pk").unwrap_or("")))),
        "TransactGetItems" => joined(
            body.get("TransactItems")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.get("Get")?.get("Key"))
                .map(|k| entity(s(k, "pk").unwrap_or(""))),
        ),
        _ => String::new(),
    }
}

/// Distinct names in first-seen order, joined with `+`.
fn joined(names: impl Iterator<Item = String>) -> String {
    let mut seen: Vec<String> = vec![];
    for n in names {
        if !seen.contains(&n) {
            seen.push(n);
        }
    }
    seen.join("+")
}

/// Reads a request body of operation `op`.
pub fn parse_request(op: &str, body: &Value) -> Request {
    let writes = writes_of(op, body);
    let label = match access(op) {
        Access::Write => joined(writes.iter().map(|w| w.entity.clone())),
        Access::Read => read_label(op, body),
        Access::Control => String::new(),
    };
    Request {
        op: op.to_string(),
        label,
        writes,
        consistent: body
            .get("ConsistentRead")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || batch_tables(op, body).any(|t| t.get("ConsistentRead") == Some(&Value::Bool(true))),
        keys: batch_keys(op, body).count() as u64,
    }
}

/// The per-table requests of a BatchGetItem (none for other calls).
fn batch_tables<'a>(op: &str, body: &'a Value) -> impl Iterator<Item = &'a Value> {
    (op == "BatchGetItem")
        .then(|| body.get("RequestItems").and_then(Value::as_object))
        .flatten()
        .into_iter()
        .flat_map(|t| t.values())
}

/// The keys a BatchGetItem asks for, in every table (none for other calls).
fn batch_keys<'a>(op: &str, body: &'a Value) -> impl Iterator<Item = &'a Value> {
    batch_tables(op, body)
        .filter_map(|t| t.get("Keys")?.as_array())
        .flatten()
}

/// The `ConsumedCapacity` of a response body: an object, or an array (batch and transaction
/// calls), each with `Table` and `GlobalSecondaryIndexes` / `LocalSecondaryIndexes` when
/// `INDEXES` was asked, or only a total `CapacityUnits`.
pub fn reported_units(body: &Value) -> Option<Units> {
    let consumed = body.get("ConsumedCapacity")?;
    let entries: Vec<&Value> = match consumed {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let units = |v: Option<&Value>| {
        v.and_then(|v| v.get("CapacityUnits"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    let indexes = |v: Option<&Value>| {
        v.and_then(Value::as_object)
            .map(|m| m.values().map(|i| units(Some(i))).sum::<f64>())
            .unwrap_or(0.0)
    };
    let mut total = Units::default();
    for e in entries {
        let index =
            indexes(e.get("GlobalSecondaryIndexes")) + indexes(e.get("LocalSecondaryIndexes"));
        let table = match e.get("Table") {
            Some(t) => units(Some(t)),
            None => units(Some(e)) - index,
        };
        total.table += table;
        total.index += index;
    }
    Some(total)
}

/// Whether the response is a refused condition (a conditional write or a cancelled
/// transaction): DynamoDB bills the write, but reports no capacity for it.
pub fn refused(body: &Value) -> bool {
    body.get("__type").and_then(Value::as_str).is_some_and(|t| {
        t.ends_with("ConditionalCheckFailedException")
            || t.ends_with("TransactionCanceledException")
    })
}

fn returned_bytes(items: Option<&Value>) -> u64 {
    items
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).map(item_bytes).sum())
        .unwrap_or(0)
}

/// The units DynamoDB's documented rules give this call, from the item sizes in its request
/// (writes) or its response (reads). An update or delete counts its minimum (1 unit), its item
/// not being on the wire.
pub fn computed_units(request: &Request, response: &Value) -> Units {
    match access(&request.op) {
        Access::Write => {
            let factor = if request.op == "TransactWriteItems" {
                2.0
            } else {
                1.0
            };
            let mut u = Units::default();
            for w in &request.writes {
                let units = w.bytes.map_or(1, write_units) as f64 * factor;
                u.table += units;
                if w.indexed {
                    u.index += units;
                }
            }
            u
        }
        Access::Read => {
            let on_index = request.label.starts_with("gsi");
            let units = match request.op.as_str() {
                "GetItem" => read_units(
                    response
                        .get("Item")
                        .and_then(Value::as_object)
                        .map_or(0, item_bytes),
                    request.consistent,
                ),
                "Query" | "Scan" => {
                    read_units(returned_bytes(response.get("Items")), request.consistent)
                }
                "BatchGetItem" | "TransactGetItems" => {
                    let per_item: Vec<u64> = match request.op.as_str() {
                        "BatchGetItem" => response
                            .get("Responses")
                            .and_then(Value::as_object)
                            .into_iter()
                            .flat_map(|t| t.values())
                            .filter_map(Value::as_array)
                            .flatten()
                            .filter_map(Value::as_object)
                            .map(item_bytes)
                            .collect(),
                        _ => response
                            .get("Responses")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|r| r.get("Item")?.as_object())
                            .map(item_bytes)
                            .collect(),
                    };
                    let factor = if request.op == "TransactGetItems" {
                        2.0
                    } else {
                        1.0
                    };
                    // A key with no item is billed the minimum, as GetItem's is.
                    let missing = request.keys.saturating_sub(per_item.len() as u64);
                    per_item
                        .into_iter()
                        .chain(std::iter::repeat_n(0, missing as usize))
                        .map(|b| read_units(b, request.consistent) * factor)
                        .sum()
                }
                _ => 0.0,
            };
            if on_index {
                Units {
                    table: 0.0,
                    index: units,
                }
            } else {
                Units {
                    table: units,
                    index: 0.0,
                }
            }
        }
        Access::Control => Units::default(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_put_is_labelled_by_its_entity_and_sized() {
        let body = json!({"TableName": "t", "Item": {"pk": {"S": "message#ab"}, "sk": {"S": "_"},
                          "gsi1pk": {"S": "messages#e"}, "gsi1sk": {"S": "ab"}}});
        let r = parse_request("PutItem", &body);
        assert_eq!(r.key(), "PutItem message");
        assert_eq!(r.writes.len(), 1);
        assert!(r.writes[0].indexed);
        assert_eq!(r.writes[0].bytes, Some(2 + 10 + 2 + 1 + 6 + 10 + 6 + 2));
    }

    #[test]
    fn a_keys_only_index_entry_is_written_only_by_a_put_that_creates_the_item() {
        let item = json!({"pk": {"S": "message#ab"}, "sk": {"S": "_"},
                          "gsi2pk": {"S": "messages#e"}, "gsi2sk": {"S": "ab"}});
        let claim = json!({"TableName": "t", "Item": item,
                           "ConditionExpression": "attribute_not_exists(pk)"});
        let outcome = json!({"TableName": "t", "Item": item,
                             "ConditionExpression": "#outcome = :expected"});
        assert!(parse_request("PutItem", &claim).writes[0].indexed);
        assert!(!parse_request("PutItem", &outcome).writes[0].indexed);
        let u = computed_units(&parse_request("PutItem", &outcome), &json!({}));
        assert_eq!(u.index, 0.0);
    }

    #[test]
    fn a_transaction_names_each_entity_once_and_costs_twice() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "message#ab"}, "gsi1pk": {"S": "m"}}}},
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "providerMessage#x"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "message#cd"}}}}
        ]});
        let r = parse_request("TransactWriteItems", &body);
        assert_eq!(r.label, "message+providerMessage");
        let u = computed_units(&r, &json!({}));
        assert_eq!(
            u,
            Units {
                table: 6.0,
                index: 2.0
            }
        );
    }

    #[test]
    fn counters_keep_their_scope_and_queries_name_their_index() {
        assert_eq!(entity("counts#campaign#c1#v1"), "counts#campaign");
        assert_eq!(entity("identity#email#a@b.c"), "identity");
        let q = json!({"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p",
                       "ExpressionAttributeValues": {":p": {"S": "messages#e1"}}});
        assert_eq!(parse_request("Query", &q).key(), "Query gsi1 messages");
    }

    #[test]
    fn reported_capacity_is_read_from_an_object_or_an_array() {
        let one = json!({"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 2.0,
            "Table": {"CapacityUnits": 1.0}, "GlobalSecondaryIndexes": {"gsi1": {"CapacityUnits": 1.0}}}});
        assert_eq!(
            reported_units(&one),
            Some(Units {
                table: 1.0,
                index: 1.0
            })
        );
        let many = json!({"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 6.0,
            "Table": {"CapacityUnits": 4.0}, "GlobalSecondaryIndexes": {"gsi1": {"CapacityUnits": 2.0}}}]});
        assert_eq!(
            reported_units(&many),
            Some(Units {
                table: 4.0,
                index: 2.0
            })
        );
        let total_only = json!({"ConsumedCapacity": {"CapacityUnits": 0.5}});
        assert_eq!(
            reported_units(&total_only),
            Some(Units {
                table: 0.5,
                index: 0.0
            })
        );
        assert_eq!(reported_units(&json!({"Item": {}})), None);
    }

    #[test]
    fn refused_conditions_are_recognized() {
        let e =
            json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"});
        assert!(refused(&e));
        assert!(!refused(
            &json!({"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"})
        ));
    }

    #[test]
    fn reads_are_computed_from_the_returned_items() {
        let get = parse_request(
            "GetItem",
            &json!({"Key": {"pk": {"S": "profile#1"}}, "ConsistentRead": true}),
        );
        assert_eq!(
            computed_units(&get, &json!({})),
            Units {
                table: 1.0,
                index: 0.0
            }
        );
        let q = parse_request(
            "Query",
            &json!({"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "messages#e"}}}),
        );
        let items: Vec<Value> = (0..3)
            .map(|_| json!({"pk": {"S": "x".repeat(2000)}}))
            .collect();
        let batch = parse_request(
            "BatchGetItem",
            &json!({"RequestItems": {"t": {"ConsistentRead": true, "Keys": [
                {"pk": {"S": "profile#1"}}, {"pk": {"S": "profile#2"}}, {"pk": {"S": "profile#3"}}
            ]}}}),
        );
        assert!(batch.consistent);
        assert_eq!(batch.keys, 3);
        let found = json!({"Responses": {"t": [{"pk": {"S": "x".repeat(5000)}}]}});
        assert_eq!(
            computed_units(&batch, &found),
            Units {
                table: 2.0 + 1.0 + 1.0,
                index: 0.0
            },
            "the found item by its size, each missing key the minimum"
        );
        assert_eq!(
            computed_units(&q, &json!({"Items": items})),
            Units {
                table: 0.0,
                index: 1.0
            }
        );
    }
}
