//! Per-request observability: a request id, a tracing span, an access log line and
//! Prometheus metrics, all from one middleware.

use actix_web::{
    body::MessageBody,
    dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform},
    http::header::{HeaderName, HeaderValue},
    HttpMessage,
};
use futures_util::future::LocalBoxFuture;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The id of the request being served (from a sane `X-Request-Id` header, else generated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Handlers take the request id as an argument (for audit records); empty outside the
/// [`Observe`] middleware.
impl actix_web::FromRequest for RequestId {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        use actix_web::HttpMessage;
        std::future::ready(Ok(req
            .extensions()
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(String::new()))))
    }
}

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request counts and latency histograms by method, route pattern and status.
#[derive(Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl HttpMetrics {
    /// Records one finished request.
    pub fn record(&self, method: &str, route: &str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        // A poisoned lock only means another thread panicked mid-update; counts stay usable.
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum += secs;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    /// Renders every series in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP endcap_http_requests_total HTTP requests served.\n");
        out.push_str("# TYPE endcap_http_requests_total counter\n");
        for ((m, r, st), s) in map.iter() {
            let _ = writeln!(
                out,
                "endcap_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{st}\"}} {}",
                escape(m),
                escape(r),
                s.count
            );
        }
        out.push_str("# HELP endcap_http_request_duration_seconds Time to answer HTTP requests.\n");
        out.push_str("# TYPE endcap_http_request_duration_seconds histogram\n");
        for ((m, r, st), s) in map.iter() {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{st}\"",
                escape(m),
                escape(r)
            );
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "endcap_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "endcap_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "endcap_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "endcap_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

/// Middleware: request id, span, access log, metrics.
#[derive(Clone)]
pub struct Observe {
    metrics: Arc<HttpMetrics>,
}

impl Observe {
    /// Records into `metrics`.
    pub fn new(metrics: Arc<HttpMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type InitError = ();
    type Transform = ObserveService<S>;
    type Future = std::future::Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(ObserveService {
            service: Rc::new(service),
            metrics: self.metrics.clone(),
        }))
    }
}

/// The service [`Observe`] wraps around the app.
pub struct ObserveService<S> {
    service: Rc<S>,
    metrics: Arc<HttpMetrics>,
}

fn incoming_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let sane = !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    sane.then(|| v.to_string())
}

impl<S, B> Service<ServiceRequest> for ObserveService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let start = Instant::now();
        let id = incoming_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        req.extensions_mut().insert(RequestId(id.clone()));
        let method = req.method().to_string();
        // The route pattern, not the path, so ids do not explode the metric's cardinality.
        let route = req
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_string());
        let span =
            tracing::info_span!("request", request_id = %id, method = %method, route = %route);
        let fut = self.service.call(req);
        let metrics = self.metrics.clone();
        Box::pin(
            async move {
                let mut res = fut.await?;
                let status = res.status().as_u16();
                let took = start.elapsed();
                metrics.record(&method, &route, status, took);
                if let Ok(v) = HeaderValue::from_str(&id) {
                    res.headers_mut().insert(REQUEST_ID, v);
                }
                tracing::info!(status, latency_us = took.as_micros() as u64, "served");
                Ok(res)
            }
            .instrument(span),
        )
    }
}

/// Installs the global tracing subscriber: `filter` in `RUST_LOG` syntax, JSON lines or
/// human-readable text, to stderr.
pub fn init_tracing(filter: &str, json: bool) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let res = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    res.map_err(|e| e.to_string())
}

/// Starts the listener that serves `/metrics` alone (ENDCAP_METRICS_LISTEN): the service's
/// shared state `data` and the route `configure` mounts; the running server and its port.
pub fn metrics_server<T: Send + Sync + 'static>(
    at: std::net::SocketAddr,
    data: actix_web::web::Data<T>,
    configure: fn(&mut actix_web::web::ServiceConfig),
) -> std::io::Result<(actix_web::dev::Server, Option<u16>)> {
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .configure(configure)
    })
    .workers(1)
    .bind(at)?;
    let port = server.addrs().first().map(|a| a.port());
    tracing::info!(?port, "metrics listening");
    Ok((server.run(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_falls_in_every_bucket_at_or_above_it() {
        let m = HttpMetrics::default();
        m.record("GET", "/v1/campaigns/{id}", 200, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains(r#"route="/v1/campaigns/{id}",status="200",le="0.0025"} 0"#));
        assert!(text.contains(r#"route="/v1/campaigns/{id}",status="200",le="0.005"} 1"#));
        assert!(text.contains(
            r#"endcap_http_requests_total{method="GET",route="/v1/campaigns/{id}",status="200"} 1"#
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
