//! `GET /u/{token}` (a confirmation page; a GET never unsubscribes, so link scanners and
//! prefetchers cannot unsubscribe anyone) and `POST /u/{token}` (RFC 8058 one-click, and the
//! page's button). Public routes: the signed token is the authorization.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use herald_core::http::problem::error_chain;
use herald_core::ports::{Clock, Delivery, ExecutionStores, Queue, Store};
use herald_core::service::trigger::TriggerError;
use herald_core::service::trigger::unsubscribe::Unsubscribe;

use crate::Trigger;

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}\
         button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head><body><h1>{title}</h1>{body}</body></html>"
    );
    (status, Html(html)).into_response()
}

fn what(u: &Unsubscribe) -> String {
    let channel = match u.channel {
        herald_core::domain::Channel::Email => "emails",
        herald_core::domain::Channel::Sms => "text messages",
        herald_core::domain::Channel::Push => "notifications",
    };
    format!(
        "marketing {channel} from {} to <strong>{}</strong>",
        handlebars::html_escape(&u.campaign_name),
        handlebars::html_escape(&u.address)
    )
}

fn failure(e: TriggerError) -> Response {
    match e {
        TriggerError::BadToken(_) => page(
            StatusCode::BAD_REQUEST,
            "This link does not work",
            "<p>The unsubscribe link is incomplete or was not issued by this sender. Copy the whole link from the message and try again.</p>",
        ),
        other => {
            tracing::error!(error = %error_chain(&other), "unsubscribe failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>We could not record your choice. Please try again in a minute.</p>",
            )
        }
    }
}

pub async fn confirm<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    Path(token): Path<String>,
) -> Response
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    match trigger.inspect_unsubscribe(&token).await {
        Ok(u) => page(
            StatusCode::OK,
            "Unsubscribe?",
            &format!(
                "<p>Stop {}?</p><form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>",
                what(&u)
            ),
        ),
        Err(e) => failure(e),
    }
}

pub async fn one_click<S, D, Q, C>(
    State(trigger): State<Trigger<S, D, Q, C>>,
    Path(token): Path<String>,
) -> Response
where
    S: Store + ExecutionStores,
    D: Delivery,
    Q: Queue,
    C: Clock,
{
    match trigger.unsubscribe(&token).await {
        Ok(u) => page(
            StatusCode::OK,
            "You are unsubscribed",
            &format!("<p>You will no longer receive {}.</p>", what(&u)),
        ),
        Err(e) => failure(e),
    }
}
