//! The baseline: an actix-web hello world, measured in the same run as the ad server.
//! Usage: `hello 127.0.0.1:8090 [WORKERS]` (default 1 worker, as the ad server's benchmarks).

use actix_web::{web, App, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let workers = std::env::args()
        .nth(2)
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    HttpServer::new(|| App::new().route("/", web::get().to(|| async { "hello" })))
        .workers(workers)
        .bind(addr)?
        .run()
        .await
}
