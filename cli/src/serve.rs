//! `herald serve`: the admin and trigger routers on one listener, over SQLite or DynamoDB,
//! delivering into the local outbox (or, for benchmarks, the discard sink); a background tick
//! releases held messages and feeds the outbox's mailbox-simulator events to the feedback path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use herald_core::adapters::discard::Discard;
use herald_core::adapters::dynamo::DynamoStore;
use herald_core::adapters::local_queue::LocalQueue;
use herald_core::adapters::outbox::Outbox;
use herald_core::adapters::sqlite::SqliteStore;
use herald_core::http::auth::require_bearer;
use herald_core::http::layers::finish;
use herald_core::ports::{Delivery, ExecutionStores, Store, SystemClock};
use herald_core::render::TemplateCache;
use herald_core::service::trigger::{TriggerConfig, TriggerService};
use herald_core::service::{AdminConfig, AdminService};
use tokio::net::TcpListener;

use crate::args::{DeliveryKind, ServeArgs, StoreKind};
use crate::outbox_routes;
use crate::tick;
use crate::token::{self, TokenError, TokenSource};

/// The SQLite database's file name inside the data directory.
pub const DATABASE_FILE: &str = "herald.db";
/// The outbox folder inside the data directory.
pub const OUTBOX_DIR: &str = "outbox";
/// The job queue's database inside the data directory.
pub const QUEUE_FILE: &str = "queue.db";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("could not create the data directory {path}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("could not listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not open the store")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("could not open the outbox")]
    Outbox(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
}

/// Where `herald serve` delivers: the outbox (its routes are served and its simulated
/// feedback is recorded by the tick), or the discard sink.
pub trait LocalDelivery: Delivery {
    fn outbox(&self) -> Option<&Outbox>;
}

impl LocalDelivery for Outbox {
    fn outbox(&self) -> Option<&Outbox> {
        Some(self)
    }
}

impl LocalDelivery for Discard {
    fn outbox(&self) -> Option<&Outbox> {
        None
    }
}

/// The local deployment: services over one store and one delivery sink.
pub struct Local<S, D = Outbox> {
    pub admin: Arc<AdminService<S, SystemClock>>,
    pub trigger: Arc<TriggerService<S, D, LocalQueue, SystemClock>>,
    pub queue: LocalQueue,
    pub delivery: D,
}

impl<S: Store + ExecutionStores, D: LocalDelivery> Local<S, D> {
    pub fn new(
        store: S,
        delivery: D,
        queue: LocalQueue,
        public_base_url: String,
        unsubscribe_secret: String,
        require_consent: bool,
    ) -> Self {
        let admin = Arc::new(AdminService::new(
            store.clone(),
            SystemClock,
            AdminConfig {
                public_base_url: public_base_url.clone(),
                ..AdminConfig::default()
            },
        ));
        let templates = Arc::new(TemplateCache::new(256));
        let config = TriggerConfig {
            created_by: "herald serve".into(),
            public_base_url,
            unsubscribe_secret: std::sync::Arc::from(unsubscribe_secret.into_bytes()),
            require_consent,
            ..TriggerConfig::default()
        };
        let trigger = Arc::new(TriggerService::new(
            store,
            delivery.clone(),
            queue.clone(),
            SystemClock,
            templates,
            config,
        ));
        Self {
            admin,
            trigger,
            queue,
            delivery,
        }
    }

    /// The one router `herald serve` runs: admin, trigger and (with the outbox) outbox routes,
    /// shared fallbacks, and the bearer token on every non-public path.
    pub fn app(&self, token: Arc<str>) -> Router {
        let mut routes = Router::new()
            .merge(herald_admin_api::routes(self.admin.clone()))
            .merge(herald_trigger_api::routes(self.trigger.clone()));
        if let Some(outbox) = self.delivery.outbox() {
            routes = routes.merge(outbox_routes::routes(outbox.clone()));
        }
        finish(routes).layer(axum::middleware::from_fn_with_state(token, require_bearer))
    }
}

pub async fn run(args: ServeArgs) -> Result<(), ServeError> {
    std::fs::create_dir_all(&args.data_dir).map_err(|source| ServeError::DataDir {
        path: args.data_dir.display().to_string(),
        source,
    })?;
    let (token, source) =
        token::load_or_create(&args.data_dir, std::env::var("HERALD_API_TOKEN").ok())?;
    let token_path = args.data_dir.join(token::TOKEN_FILE);
    match source {
        TokenSource::Generated => eprintln!(
            "Generated an API token (kept in {}). Send it as `Authorization: Bearer <token>`:\n  {token}",
            token_path.display()
        ),
        TokenSource::Stored => eprintln!("API token: in {}", token_path.display()),
        TokenSource::Environment => eprintln!("API token: from HERALD_API_TOKEN"),
    }
    let (unsubscribe_secret, _) = token::load_or_create_secret(
        &args.data_dir.join(token::UNSUBSCRIBE_SECRET_FILE),
        "HERALD_UNSUBSCRIBE_SECRET",
        std::env::var("HERALD_UNSUBSCRIBE_SECRET").ok(),
    )?;
    let addr = SocketAddr::new(args.addr, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    let public = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let queue = LocalQueue::open(&args.data_dir.join(QUEUE_FILE))
        .map_err(|e| ServeError::Store(Box::new(e)))?;
    let site = Site {
        listener,
        addr: local,
        token: token.into(),
        public,
        unsubscribe_secret,
    };
    match args.store {
        StoreKind::Sqlite => {
            let path = args.data_dir.join(DATABASE_FILE);
            eprintln!("Store: SQLite at {}", path.display());
            let store = SqliteStore::open(&path).map_err(|e| ServeError::Store(Box::new(e)))?;
            with_delivery(store, queue, &args, site).await
        }
        StoreKind::Dynamodb => {
            let store = DynamoStore::connect(args.table.clone())
                .await
                .map_err(|e| ServeError::Store(Box::new(e)))?;
            eprintln!("Store: DynamoDB table {}", store.table());
            with_delivery(store, queue, &args, site).await
        }
    }
}

/// What the server runs on, whatever the store and the delivery.
struct Site {
    listener: TcpListener,
    addr: SocketAddr,
    token: Arc<str>,
    public: String,
    unsubscribe_secret: String,
}

async fn with_delivery<S: Store + ExecutionStores>(
    store: S,
    queue: LocalQueue,
    args: &ServeArgs,
    site: Site,
) -> Result<(), ServeError> {
    match args.delivery {
        DeliveryKind::Outbox => {
            let outbox_dir = args.data_dir.join(OUTBOX_DIR);
            let outbox = Outbox::open(&outbox_dir).map_err(|e| ServeError::Outbox(Box::new(e)))?;
            eprintln!("Delivery: outbox at {}", outbox_dir.display());
            serve(store, outbox, queue, args, site).await
        }
        DeliveryKind::Discard => {
            eprintln!("Delivery: discard (messages are built, counted and dropped)");
            serve(store, Discard::new(), queue, args, site).await
        }
    }
}

async fn serve<S: Store + ExecutionStores, D: LocalDelivery>(
    store: S,
    delivery: D,
    queue: LocalQueue,
    args: &ServeArgs,
    site: Site,
) -> Result<(), ServeError> {
    let local = Local::new(
        store,
        delivery,
        queue,
        site.public,
        site.unsubscribe_secret,
        args.require_consent,
    );
    let (listener, addr) = (site.listener, site.addr);
    let app = local.app(site.token);
    let ticker = tokio::spawn(tick::run(
        local.trigger.clone(),
        local.delivery.outbox().cloned(),
        Duration::from_secs(1),
    ));
    let worker = tokio::spawn(crate::worker::run(
        local.trigger.clone(),
        local.queue.clone(),
        usize::from(args.jobs),
    ));
    // Tests and scripts wait for this line.
    println!("Herald listening on http://{addr}");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    ticker.abort();
    worker.abort();
    served.map_err(ServeError::Serve)?;
    eprintln!("Herald stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
