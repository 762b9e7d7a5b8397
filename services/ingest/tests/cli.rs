//! The `endcap-ingest` binary against a campaign API started on a random port.

use campaign_api::config::{Cli, Settings};
use campaign_api::Application;
use endcap_ingest::RECEIPT_CSV_HEADER;
use std::collections::HashMap;
use tokio::process::Command;

const ADMIN: &str = "ingest-test-admin-key-01";
const BIN: &str = env!("CARGO_BIN_EXE_endcap-ingest");

async fn spawn_api(events: &std::path::Path) -> String {
    let cli = Cli {
        common: endcap_web::config::CommonArgs {
            listen: Some("127.0.0.1:0".into()),
            database: Some(endcap_store::testing::fresh_sqlite_url()),
            event_dir: Some(events.to_path_buf()),
            ..Default::default()
        },
        ..Default::default()
    };
    let env: HashMap<String, String> = [("ENDCAP_ADMIN_KEY", ADMIN), ("ENDCAP_WORKERS", "1")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let app = Application::build(&Settings::resolve(&cli, &env, None).unwrap())
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    url
}

async fn run(api: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["--api", api, "--key", ADMIN, "--part-size", "2"])
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[actix_web::test]
async fn a_csv_export_is_uploaded_in_parts_and_bad_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let api = spawn_api(&dir.path().join("events")).await;
    let k = "c".repeat(64);
    let csv = format!(
        "{RECEIPT_CSV_HEADER}\n\
         r1,1,{k},,s1,,2026-11-20T10:00:00Z,sku-1,1,1000000,,\n\
         r1,1,{k},,s1,,2026-11-20T10:00:00Z,sku-2,2,3000000,,\n\
         r2,1,{k},,s1,,2026-11-20T11:00:00Z,sku-1,0,1000000,,\n\
         r3,1,{k},,s1,,yesterday,sku-1,1,1000000,,\n\
         r4,1,{k},,s2,online,2026-11-20T12:00:00Z,sku-3,1,500000,,\n\
         r5,1,{k},,s2,,2026-11-20T13:00:00Z,sku-3,1,500000,,\n"
    );
    let file = dir.path().join("pos.csv");
    std::fs::write(&file, csv).unwrap();
    let path = file.display().to_string();

    let (code, out, err) = run(&api, &["receipts", &path]).await;
    assert_eq!(code, 1, "some lines refused: {err}");
    assert!(out.contains("accepted 3, rejected 2, duplicate 0"), "{out}");
    assert!(
        err.contains(&format!("{path}:4: lines[0].quantity")),
        "server-side refusal mapped to its file line: {err}"
    );
    assert!(
        err.contains(&format!("{path}:5: ts")),
        "client-side refusal: {err}"
    );

    let (code, out, _) = run(&api, &["receipts", &path]).await;
    assert_eq!(code, 1);
    assert!(
        out.contains("accepted 0, rejected 2, duplicate 3"),
        "a re-run stores nothing twice: {out}"
    );
    let stored = std::fs::read_to_string(dir.path().join("events/receipts.ndjson")).unwrap();
    assert_eq!(
        stored.lines().count(),
        4,
        "r1 has two lines, r4 and r5 one each"
    );
}

#[actix_web::test]
async fn a_missing_file_or_a_bad_key_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let api = spawn_api(&dir.path().join("events")).await;
    let (code, _, err) = run(&api, &["catalog", "/nonexistent/catalog.csv"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
    let file = dir.path().join("catalog.csv");
    std::fs::write(&file, "sku-1,Acme,dairy\n").unwrap();
    let out = Command::new(BIN)
        .args(["--api", &api, "--key", "wrong-key", "catalog"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}
