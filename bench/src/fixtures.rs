//! Realistic campaign fixtures shared by the benchmarks: an order-confirmation email
//! (transactional), a promotional SMS (marketing, with a rule set) and an order-shipped push
//! notification (transactional), with the channel configurations, profiles and trigger context
//! they are rendered from.
//!
//! Every body is JSON in the shape the admin API accepts: [`email_campaign`] and friends are
//! `POST /campaigns` bodies, [`email_channel_config`] and friends `POST /channel-configs`
//! bodies, [`marketing_rule_set`] a `POST /rule-sets` body, [`profile`] a
//! `PUT /profiles/{namespace}/{value}` body. Ids created at run time (channel configuration,
//! rule set, audience) are parameters.
//!
//! The templates read 10 profile attributes ([`profile_attributes`]) and the 5 context keys
//! of [`order_context`] (one of them a list walked with `{{#each}}`), and use only helpers that
//! are both Handlebars built-ins and Herald helpers (`if`, `unless`, `each`, `eq`, `gt`), so a
//! bare `handlebars` registry renders the very same sources: that is the library ceiling the
//! pipeline benchmark compares Herald with.

use serde_json::{Value, json};

/// The instant the benchmarks' fixed clock shows: a Monday, 12:00 UTC (13:00 in Paris, outside
/// the quiet hours of [`marketing_rule_set`]).
pub const FIXED_NOW: &str = "2026-03-02T12:00:00Z";

/// The time zone of every fixture profile.
pub const PROFILE_TIMEZONE: &str = "Europe/Paris";

/// Email subject template.
pub const EMAIL_SUBJECT: &str =
    "{{profile.firstName}}, your order {{context.orderId}} is confirmed";

/// Email preheader-free HTML template (about 3.5 KB).
pub const EMAIL_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Order {{context.orderId}} confirmed</title>
<style>
  body { margin: 0; padding: 0; background: #f4f4f7; font-family: Helvetica, Arial, sans-serif; color: #33334d; }
  .wrapper { width: 100%; background: #f4f4f7; padding: 24px 0; }
  .card { max-width: 600px; margin: 0 auto; background: #ffffff; border-radius: 8px; overflow: hidden; }
  .header { background: #1f2a44; color: #ffffff; padding: 24px 32px; font-size: 22px; font-weight: bold; }
  .content { padding: 24px 32px; font-size: 15px; line-height: 1.6; }
  .items { width: 100%; border-collapse: collapse; margin: 16px 0; }
  .items th { text-align: left; font-size: 12px; text-transform: uppercase; color: #8a8aa3; border-bottom: 1px solid #e6e6ef; padding: 8px 0; }
  .items td { padding: 10px 0; border-bottom: 1px solid #f0f0f5; vertical-align: top; }
  .num { text-align: right; white-space: nowrap; }
  .total td { font-weight: bold; border-bottom: none; padding-top: 14px; }
  .button { display: inline-block; background: #3869d4; color: #ffffff !important; text-decoration: none; padding: 12px 24px; border-radius: 6px; font-weight: bold; }
  .badge { display: inline-block; background: #f5c542; color: #1f2a44; border-radius: 4px; padding: 2px 8px; font-size: 12px; font-weight: bold; }
  .footer { padding: 16px 32px 32px; font-size: 12px; color: #8a8aa3; line-height: 1.5; }
</style>
</head>
<body>
<div class="wrapper">
<div class="card">
  <div class="header">Thank you for your order, {{profile.firstName}}!</div>
  <div class="content">
    <p>Hi {{profile.firstName}} {{profile.lastName}},</p>
    <p>We have received your order <strong>{{context.orderId}}</strong> and it is being prepared at our
    {{profile.preferredStore}} warehouse. It should reach you in {{profile.city}} on
    <strong>{{context.deliveryDate}}</strong>.</p>
    {{#if profile.vip}}<p><span class="badge">VIP</span> As a VIP member your delivery is free and your parcel travels first.</p>{{/if}}
    <table class="items" role="presentation">
      <tr><th>#</th><th>Item</th><th class="num">Qty</th><th class="num">Price</th></tr>
      {{#each context.items}}
      <tr>
        <td>{{@index}}</td>
        <td>{{this.name}}<br><span style="font-size:12px;color:#8a8aa3">SKU {{this.sku}}</span></td>
        <td class="num">{{this.qty}}</td>
        <td class="num">&euro;{{this.price}}</td>
      </tr>
      {{/each}}
      <tr class="total"><td></td><td>Total</td><td></td><td class="num">&euro;{{context.orderTotal}}</td></tr>
    </table>
    <p>You bought {{#each context.items}}{{this.name}}{{#unless @last}}, {{/unless}}{{/each}}.</p>
    <p style="text-align:center;margin:28px 0">
      <a class="button" href="{{context.trackingUrl}}">Track your order</a>
    </p>
    {{#if (eq profile.tier "gold")}}
    <p>Gold members earn double points: this order adds to your {{profile.points}} points.</p>
    {{else}}
    <p>This order adds to your {{profile.points}} {{profile.tier}} points.</p>
    {{/if}}
    {{#if (gt profile.points 1000)}}<p>You have enough points for a reward: see our {{profile.favoriteCategory}} picks.</p>{{/if}}
    <p>Invite a friend with your code <strong>{{profile.referralCode}}</strong> and you both get &euro;10.</p>
  </div>
  <div class="footer">
    You receive this email because you placed order {{context.orderId}} as a member since
    {{profile.memberSince}}. Questions? Reply to this email or visit our help centre.<br>
    Example Shop Ltd, 1 Market Street, London EC1A 1AA, United Kingdom.
  </div>
</div>
</div>
</body>
</html>
"#;

/// Email plain-text template.
pub const EMAIL_TEXT: &str = "Thank you for your order, {{profile.firstName}}!

Hi {{profile.firstName}} {{profile.lastName}},

We have received your order {{context.orderId}}; it should reach you in {{profile.city}} on {{context.deliveryDate}}.
{{#if profile.vip}}As a VIP member your delivery is free.
{{/if}}
{{#each context.items}}- {{this.qty}} x {{this.name}} (SKU {{this.sku}}): EUR {{this.price}}
{{/each}}
Total: EUR {{context.orderTotal}}

Track your order: {{context.trackingUrl}}

You have {{profile.points}} {{profile.tier}} points. Invite a friend with your code {{profile.referralCode}}.

Example Shop Ltd, 1 Market Street, London EC1A 1AA, United Kingdom.
";

/// Marketing SMS template (one GSM-7 segment for typical values).
pub const SMS_TEXT: &str = "{{profile.firstName}}, {{#if profile.vip}}VIP early access: {{/if}}{{context.discountPercent}}% off {{profile.favoriteCategory}} at Example Shop until {{context.endsOn}}. Code {{context.promoCode}}. STOP to opt out";

/// Push title template.
pub const PUSH_TITLE: &str = "Order {{context.orderId}} has shipped";
/// Push body template.
pub const PUSH_BODY: &str = "{{profile.firstName}}, your {{#each context.items}}{{#if @first}}{{this.name}}{{/if}}{{/each}} and the rest of your order arrive {{context.deliveryDate}}.";
/// Push deep-link template.
pub const PUSH_URL: &str = "exampleshop://orders/{{context.orderId}}";
/// Push custom data: `orderId`.
pub const PUSH_DATA_ORDER_ID: &str = "{{context.orderId}}";

/// `POST /channel-configs` body: transactional email from the shop.
pub fn email_channel_config() -> Value {
    json!({
        "name": "Shop transactional email",
        "category": "transactional",
        "email": {
            "fromAddress": "orders@shop.example.com",
            "fromName": "Example Shop",
            "replyTo": "help@shop.example.com",
            "configurationSet": "herald-events"
        }
    })
}

/// `POST /channel-configs` body: promotional SMS with an alphanumeric sender id.
pub fn sms_channel_config() -> Value {
    json!({
        "name": "Shop marketing SMS",
        "category": "marketing",
        "sms": {"senderId": "ExShop"}
    })
}

/// `POST /channel-configs` body: transactional push through SNS platform applications.
pub fn push_channel_config() -> Value {
    json!({
        "name": "Shop app push",
        "category": "transactional",
        "push": {
            "apnsPlatformArn": "arn:aws:sns:eu-west-1:123456789012:app/APNS/example-shop",
            "fcmPlatformArn": "arn:aws:sns:eu-west-1:123456789012:app/GCM/example-shop"
        }
    })
}

/// `POST /rule-sets` body: at most 3 marketing SMS a day and 10 marketing messages a week,
/// quiet hours 21:00–08:00 in the recipient's time zone (messages are queued).
pub fn marketing_rule_set() -> Value {
    json!({
        "name": "Marketing defaults",
        "caps": [
            {"channel": "sms", "limit": 3, "period": "day"},
            {"limit": 10, "period": "week"}
        ],
        "quietHours": {
            "start": "21:00",
            "end": "08:00",
            "action": "queue",
            "defaultTimezone": PROFILE_TIMEZONE
        }
    })
}

/// `POST /campaigns` body: the transactional order-confirmation email (subject, HTML, text)
/// without its `channelConfigId` (set it before posting; [`email_campaign`] does).
pub fn transactional_email_campaign() -> Value {
    json!({
        "name": "Order confirmation",
        "description": "Sent by the shop backend when an order is paid",
        "tags": ["orders", "benchmark"],
        "type": "transactional",
        "channel": "email",
        "content": {"email": {
            "subject": EMAIL_SUBJECT,
            "html": EMAIL_HTML,
            "text": EMAIL_TEXT
        }}
    })
}

/// [`transactional_email_campaign`] sent through the channel configuration `channel_config_id`.
pub fn email_campaign(channel_config_id: &str) -> Value {
    let mut body = transactional_email_campaign();
    if let Some(map) = body.as_object_mut() {
        map.insert("channelConfigId".into(), json!(channel_config_id));
    }
    body
}

/// `POST /campaigns` body: the marketing SMS under the rule set, optionally with an audience.
pub fn sms_campaign(
    channel_config_id: &str,
    rule_set_id: &str,
    audience_id: Option<&str>,
) -> Value {
    let mut body = json!({
        "name": "Spring promotion",
        "tags": ["promotions", "benchmark"],
        "type": "marketing",
        "channel": "sms",
        "channelConfigId": channel_config_id,
        "ruleSetId": rule_set_id,
        "content": {"sms": {"text": SMS_TEXT}}
    });
    if let (Some(id), Some(map)) = (audience_id, body.as_object_mut()) {
        map.insert("audience".into(), json!({"id": id}));
    }
    body
}

/// `POST /campaigns` body: the transactional order-shipped push notification.
pub fn push_campaign(channel_config_id: &str) -> Value {
    json!({
        "name": "Order shipped",
        "tags": ["orders", "benchmark"],
        "type": "transactional",
        "channel": "push",
        "channelConfigId": channel_config_id,
        "content": {"push": {
            "title": PUSH_TITLE,
            "body": PUSH_BODY,
            "url": PUSH_URL,
            "data": {"orderId": PUSH_DATA_ORDER_ID},
            "sound": "default"
        }}
    })
}

const FIRST_NAMES: [&str; 8] = [
    "Ann", "Bruno", "Chloé", "Dmitri", "Emma", "Farid", "Greta", "Hiro",
];
const LAST_NAMES: [&str; 8] = [
    "Martin", "Rossi", "Dubois", "Ivanov", "Smith", "Haddad", "Larsen", "Tanaka",
];
const CITIES: [&str; 4] = ["Paris", "Lyon", "Bordeaux", "Lille"];
const TIERS: [&str; 3] = ["silver", "gold", "bronze"];
const CATEGORIES: [&str; 4] = ["running shoes", "rain jackets", "camping gear", "yoga mats"];

/// A fixture profile index given as any unsigned integer (`usize`, `u32`, `u64`).
fn index(i: impl TryInto<u64>) -> u64 {
    i.try_into().unwrap_or_default()
}

/// The email identity of fixture profile `i`.
pub fn email_of(i: impl TryInto<u64>) -> String {
    let i = index(i);
    format!("customer{i}@example.com")
}

/// The E.164 phone number of fixture profile `i` (unique for `i` below 8,000,000).
pub fn phone_of(i: impl TryInto<u64>) -> String {
    let i = index(i);
    format!("+33{}", 612_000_000 + (i % 8_000_000))
}

/// The FCM registration token of fixture profile `i` (about FCM's usual length).
pub fn push_token_of(i: impl TryInto<u64>) -> String {
    let i = index(i);
    format!(
        "fcm{i:010}:APA91bH3kq2x9vZ7yW5rT1pL8mN4cB6dF0gJ2hK7sQ9uE3iO5aR1tY8wX6zV4nM2bC0dG7fJ5kL3pS9qU1eI"
    )
}

/// The 10 profile attributes of fixture profile `i`.
pub fn profile_attributes(i: impl TryInto<u64>) -> Value {
    let i = index(i);
    let n = usize::try_from(i).unwrap_or_default();
    json!({
        "firstName": FIRST_NAMES[n % FIRST_NAMES.len()],
        "lastName": LAST_NAMES[(n / 8) % LAST_NAMES.len()],
        "city": CITIES[n % CITIES.len()],
        "tier": TIERS[n % TIERS.len()],
        "points": 250 + (i % 20) * 97,
        "memberSince": format!("20{:02}-0{}-1{}", 15 + i % 10, 1 + i % 9, i % 10),
        "favoriteCategory": CATEGORIES[n % CATEGORIES.len()],
        "preferredStore": "Lyon Part-Dieu",
        "vip": i.is_multiple_of(5),
        "referralCode": format!("FRIEND-{:06}", i % 1_000_000)
    })
}

/// `PUT /profiles/email/{email_of(i)}` body: identities (email, phone), the 10 attributes,
/// consent in on every channel, an FCM push token, the Paris time zone.
pub fn profile(i: impl TryInto<u64>) -> Value {
    let i = index(i);
    json!({
        "identities": {"email": email_of(i), "phone": phone_of(i)},
        "attributes": profile_attributes(i),
        "consent": {"email": "in", "sms": "in", "push": "in"},
        "pushTokens": [{"platform": "fcm", "appId": "com.example.shop", "token": push_token_of(i)}],
        "timezone": PROFILE_TIMEZONE,
        "locale": "en-GB"
    })
}

/// The trigger context of the order email and push: 5 keys, `items` a list of 3.
pub fn order_context() -> Value {
    json!({
        "orderId": "ORD-2026-004217",
        "orderTotal": "184.70",
        "deliveryDate": "Thursday 5 March",
        "trackingUrl": "https://shop.example.com/orders/ORD-2026-004217/track?utm_source=email&utm_medium=transactional",
        "items": [
            {"name": "Trail running shoes", "sku": "TRS-4471-42", "qty": 1, "price": "119.90"},
            {"name": "Merino socks (3 pairs)", "sku": "MSO-0032-M", "qty": 2, "price": "24.90"},
            {"name": "Water bottle 750 ml", "sku": "WBT-0750-B", "qty": 1, "price": "15.00"}
        ]
    })
}

/// The trigger context of the order-confirmation email (the same as [`order_context`]).
pub fn email_context() -> Value {
    order_context()
}

/// The audience-execution context of the promotional SMS.
pub fn promo_context() -> Value {
    json!({"promoCode": "SPRING20", "discountPercent": 20, "endsOn": "Sunday"})
}

/// The template data Herald builds for a recipient, `{"profile", "context", "campaign"}`, as a
/// bare renderer would get it (`campaign` is `{id, name, version, type, channel}`).
pub fn render_data(profile_index: impl TryInto<u64>, context: Value, campaign: &Value) -> Value {
    json!({
        "profile": profile_attributes(profile_index),
        "context": context,
        "campaign": {
            "id": "0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7c",
            "name": campaign.get("name").cloned().unwrap_or(Value::Null),
            "version": 1,
            "type": campaign.get("type").cloned().unwrap_or(Value::Null),
            "channel": campaign.get("channel").cloned().unwrap_or(Value::Null)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_email_html_is_about_three_and_a_half_kilobytes() {
        let n = EMAIL_HTML.len();
        assert!((3_200..=3_900).contains(&n), "EMAIL_HTML is {n} bytes");
    }

    #[test]
    fn profiles_carry_ten_attributes_and_contexts_five_keys() {
        assert_eq!(profile_attributes(7).as_object().map(|m| m.len()), Some(10));
        assert_eq!(order_context().as_object().map(|m| m.len()), Some(5));
    }

    #[test]
    fn every_fixture_body_parses_as_what_the_admin_api_accepts() {
        use herald_core::domain::{CampaignSpec, ChannelConfigSpec, ProfileUpdate, RuleSetSpec};
        let id = "0190f1c2-3d4e-7f00-8a1b-2c3d4e5f6a7c";
        for body in [
            email_campaign(id),
            sms_campaign(id, id, Some(id)),
            push_campaign(id),
        ] {
            let spec: CampaignSpec = serde_json::from_value(body).unwrap();
            spec.validate().unwrap();
        }
        for body in [
            email_channel_config(),
            sms_channel_config(),
            push_channel_config(),
        ] {
            let spec: ChannelConfigSpec = serde_json::from_value(body).unwrap();
            spec.validate().unwrap();
        }
        let rules: RuleSetSpec = serde_json::from_value(marketing_rule_set()).unwrap();
        rules.validate().unwrap();
        let update: ProfileUpdate = serde_json::from_value(profile(3_u32)).unwrap();
        assert_eq!(
            update.validate().unwrap().len(),
            2,
            "email and phone identities"
        );
    }

    #[test]
    fn fixture_addresses_are_unique_per_profile() {
        assert_ne!(phone_of(1), phone_of(2));
        assert_ne!(email_of(1), email_of(2));
        assert_ne!(push_token_of(1), push_token_of(2));
    }
}
