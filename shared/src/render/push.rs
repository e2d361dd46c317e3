//! Push payloads as SNS sends them to APNs and to FCM (HTTP v1).
//!
//! SNS publishes a JSON message structure whose `APNS` / `APNS_SANDBOX` value is the APNs payload
//! and whose `GCM` value is `{"fcmV1Message": {"message": …}}`; both values are JSON documents
//! encoded as strings. This module builds the two documents; the sender wraps them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// APNs and FCM both refuse notification payloads over 4 KB.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// The rendered parts of a push notification.
#[derive(Clone, Copy, Debug)]
pub struct PushParts<'a> {
    pub title: Option<&'a str>,
    pub body: &'a str,
    pub url: Option<&'a str>,
    pub image_url: Option<&'a str>,
    pub data: &'a BTreeMap<String, String>,
    pub badge: Option<u32>,
    pub sound: Option<&'a str>,
}

/// The two payloads and the serialized size of the larger one.
#[derive(Clone, Debug, PartialEq)]
pub struct Payloads {
    pub apns: PayloadJson,
    pub fcm: PayloadJson,
    pub bytes: usize,
}

/// A payload as the JSON text SNS carries, serialized once when it is rendered: the size check
/// and every delivery attempt use this text. In Herald's own JSON (previews, outbox entries) it
/// appears as the object it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadJson(String);

impl PayloadJson {
    /// Serializes a payload.
    pub fn new(value: &Value) -> Self {
        Self(value.to_string())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The payload parsed back (for inspection and tests).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl serde::Serialize for PayloadJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for PayloadJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| Self::new(&v))
    }
}

/// Builds the APNs payload
/// `{"aps": {"alert": {"title", "body"}, "badge", "sound", "mutable-content"}, …data, "url",
/// "imageUrl"}` and the FCM v1 payload
/// `{"fcmV1Message": {"message": {"notification": {"title", "body", "image"}, "data": {…},
/// "android": {"notification": {"sound", "notification_count"}}}}}`.
///
/// Custom data keys sit beside `aps` in the APNs payload and in FCM's `data`; `url` and
/// `imageUrl` are added to both and win over custom keys of the same name, and a custom `aps`
/// key is ignored. `mutable-content` is set when there is an image, so that an iOS
/// notification service extension can download it.
pub fn payloads(p: &PushParts<'_>) -> Payloads {
    let mut alert = Map::new();
    if let Some(t) = p.title {
        alert.insert("title".into(), Value::String(t.to_string()));
    }
    alert.insert("body".into(), Value::String(p.body.to_string()));
    let mut aps = Map::new();
    aps.insert("alert".into(), Value::Object(alert));
    if let Some(b) = p.badge {
        aps.insert("badge".into(), json!(b));
    }
    if let Some(s) = p.sound {
        aps.insert("sound".into(), Value::String(s.to_string()));
    }
    if p.image_url.is_some() {
        aps.insert("mutable-content".into(), json!(1));
    }

    let mut data: Map<String, Value> = p
        .data
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    if let Some(u) = p.url {
        data.insert("url".into(), Value::String(u.to_string()));
    }
    if let Some(i) = p.image_url {
        data.insert("imageUrl".into(), Value::String(i.to_string()));
    }

    let mut apns = data.clone();
    apns.insert("aps".into(), Value::Object(aps));
    let apns = Value::Object(apns);

    let mut notification = Map::new();
    if let Some(t) = p.title {
        notification.insert("title".into(), Value::String(t.to_string()));
    }
    notification.insert("body".into(), Value::String(p.body.to_string()));
    if let Some(i) = p.image_url {
        notification.insert("image".into(), Value::String(i.to_string()));
    }
    let mut message = Map::new();
    message.insert("notification".into(), Value::Object(notification));
    if !data.is_empty() {
        message.insert("data".into(), Value::Object(data));
    }
    let mut android = Map::new();
    if let Some(s) = p.sound {
        android.insert("sound".into(), Value::String(s.to_string()));
    }
    if let Some(b) = p.badge {
        android.insert("notification_count".into(), json!(b));
    }
    if !android.is_empty() {
        message.insert("android".into(), json!({ "notification": android }));
    }
    let fcm = json!({ "fcmV1Message": { "message": message } });

    let (apns, fcm) = (PayloadJson::new(&apns), PayloadJson::new(&fcm));
    let bytes = apns.as_str().len().max(fcm.as_str().len());
    Payloads { apns, fcm, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_payloads_carry_title_body_data_url_and_image() {
        let data = BTreeMap::from([("orderId".to_string(), "42".to_string())]);
        let p = payloads(&PushParts {
            title: Some("Shipped"),
            body: "Your order is on its way",
            url: Some("app://orders/42"),
            image_url: Some("https://img.example/1.png"),
            data: &data,
            badge: Some(3),
            sound: Some("default"),
        });
        assert_eq!(
            p.apns.value(),
            json!({
                "aps": {"alert": {"title": "Shipped", "body": "Your order is on its way"},
                        "badge": 3, "sound": "default", "mutable-content": 1},
                "orderId": "42", "url": "app://orders/42", "imageUrl": "https://img.example/1.png"
            })
        );
        assert_eq!(
            p.fcm.value(),
            json!({"fcmV1Message": {"message": {
                "notification": {"title": "Shipped", "body": "Your order is on its way",
                                 "image": "https://img.example/1.png"},
                "data": {"orderId": "42", "url": "app://orders/42",
                         "imageUrl": "https://img.example/1.png"},
                "android": {"notification": {"sound": "default", "notification_count": 3}}
            }}})
        );
        assert_eq!(p.bytes, p.apns.as_str().len().max(p.fcm.as_str().len()));
    }

    #[test]
    fn a_minimal_notification_has_only_the_body() {
        let data = BTreeMap::new();
        let p = payloads(&PushParts {
            title: None,
            body: "Hi",
            url: None,
            image_url: None,
            data: &data,
            badge: None,
            sound: None,
        });
        assert_eq!(p.apns.value(), json!({"aps": {"alert": {"body": "Hi"}}}));
        assert_eq!(
            p.fcm.value(),
            json!({"fcmV1Message": {"message": {"notification": {"body": "Hi"}}}})
        );
    }

    #[test]
    fn a_custom_aps_key_cannot_replace_the_notification() {
        let data = BTreeMap::from([("aps".to_string(), "oops".to_string())]);
        let p = payloads(&PushParts {
            title: None,
            body: "Hi",
            url: None,
            image_url: None,
            data: &data,
            badge: None,
            sound: None,
        });
        assert_eq!(p.apns.value()["aps"], json!({"alert": {"body": "Hi"}}));
    }
}
