//! What the HTTP functions share: problem JSON errors ([`problem`]), request extraction with
//! clear 4xx messages ([`extract`]), bearer-token authentication for `herald serve`
//! ([`auth`]), and the fallbacks and layers every router gets ([`layers`]).

pub mod auth;
pub mod extract;
pub mod layers;
pub mod problem;

pub use extract::{IfMatch, JsonBody, Paging};
pub use problem::{ApiError, ApiResult, Problem};
