//! `ad-server`: reads settings, sets up logging, serves until stopped.

use ad_server::config::{Cli, Settings};
use ad_server::Application;
use anyhow::Context;
use clap::Parser;

// The request path allocates per request and per candidate; mimalloc's thread-local free
// lists beat glibc's malloc here (BENCHMARKS.md, issue 12).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    let settings =
        endcap_web::config::load(&cli.common, |file| Settings::resolve(&cli, &env, file))
            .map_err(anyhow::Error::msg)?;
    endcap_web::config::init_logging(&settings.common).map_err(anyhow::Error::msg)?;
    let app = Application::build(&settings).await?;
    app.run_until_stopped().await.context("server failed")
}
