//! `attribution-job run` on files, as a finance user runs it.

use std::path::Path;
use std::process::Command;

const C1: &str = "01a20000-0000-7000-8000-0000000000c1";
const C2: &str = "01a20000-0000-7000-8000-0000000000c2";

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

fn inputs(dir: &Path, extra_exposure: &str) -> Vec<String> {
    let exposures = format!(
        "event_id,kind,ts,user_key,campaign_id,line_item_id,advertiser_id,skus\n\
         01a20000-0000-7000-8000-000000000001,click,2026-12-01T10:00:00Z,device-1,{C1},01a20000-0000-7000-8000-0000000000d1,01a20000-0000-7000-8000-0000000000a1,milk-1\n\
         01a20000-0000-7000-8000-000000000002,impression,2026-12-01T11:00:00Z,device-2,{C2},01a20000-0000-7000-8000-0000000000d2,01a20000-0000-7000-8000-0000000000a2,milk-1|milk-2\n{extra_exposure}"
    );
    let receipts = "receipt_id,customer_key,store_id,ts,sku,quantity,amount_micros,version\n\
         r1,shopper-1,s1,2026-12-02T09:00:00Z,milk-1,2,6000000,1\n\
         r1,shopper-1,s1,2026-12-02T09:00:00Z,bread,1,2500000,1\n\
         r2,shopper-1,s1,2026-12-20,milk-1,1,3000000,1\n";
    vec![
        "run".into(),
        "--exposures".into(),
        write(dir, "e.csv", &exposures),
        "--receipts".into(),
        write(dir, "r.csv", receipts),
        "--catalog".into(),
        write(
            dir,
            "c.csv",
            "sku,brand,category\nmilk-1,Acme,dairy\nmilk-2,Acme,dairy\nbread,Baker,bakery\n",
        ),
        "--identity".into(),
        write(
            dir,
            "i.csv",
            "user_key,customer_key\ndevice-1,shopper-1\ndevice-2,shopper-1\n",
        ),
    ]
}

#[test]
fn attributed_sales_by_campaign_and_in_total() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_attribution-job"))
        .args(inputs(dir.path(), ""))
        .args([
            "--model",
            "last_touch",
            "--click-window-days",
            "14",
            "--view-window-days",
            "14",
            "--scope",
            "sku",
        ])
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    // r1's milk line: both advertisers (each alone) get the whole 6.00; bread matches none.
    // r2 is 19 days later: outside both windows.
    let by_campaign = std::fs::read_to_string(out.join("by_campaign.csv")).unwrap();
    assert_eq!(
        by_campaign,
        format!(
            "campaign_id,attributed_orders,attributed_units,attributed_sales\n\
             {C1},1,2.000000,6.000000\n{C2},1,2.000000,6.000000\n"
        )
    );
    let total = std::fs::read_to_string(out.join("total.csv")).unwrap();
    assert_eq!(
        total,
        "attributed_orders,attributed_units,attributed_sales\n1,2.000000,6.000000\n"
    );
    let lines = std::fs::read_to_string(out.join("lines.csv")).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
}

#[test]
fn a_bad_row_is_named_and_nothing_is_written_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let bad = "not-a-uuid,click,2026-12-01T10:00:00Z,device-1,x,y,z,milk-1\n";
    let run = |skip: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_attribution-job"));
        c.args(inputs(dir.path(), bad)).arg("--out").arg(&out);
        if skip {
            c.arg("--skip-bad-rows");
        }
        c.output().unwrap()
    };
    let failed = run(false);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("e.csv:4: event_id: \"not-a-uuid\" is not a UUID"),
        "{stderr}"
    );
    assert!(
        !out.join("by_campaign.csv").exists(),
        "nothing half-written"
    );
    let skipped = run(true);
    assert!(skipped.status.success());
    assert!(out.join("by_campaign.csv").exists());
}

#[test]
fn shards_together_give_exactly_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let total = |shard: &str| -> (u64, f64) {
        let out = dir.path().join(format!("out-{}", shard.replace('/', "-")));
        let ok = Command::new(env!("CARGO_BIN_EXE_attribution-job"))
            .args(inputs(dir.path(), ""))
            .args(["--view-window-days", "14", "--shard", shard])
            .arg("--out")
            .arg(&out)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{shard}");
        let text = std::fs::read_to_string(out.join("total.csv")).unwrap();
        let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
        (row[0].parse().unwrap(), row[2].parse().unwrap())
    };
    let whole = total("1/1");
    let (a, b) = (total("1/2"), total("2/2"));
    assert_eq!((a.0 + b.0, a.1 + b.1), whole);
    let refused = Command::new(env!("CARGO_BIN_EXE_attribution-job"))
        .args(inputs(dir.path(), ""))
        .args(["--shard", "3/2", "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--shard \"3/2\""));
}
