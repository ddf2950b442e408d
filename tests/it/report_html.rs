//! The HTML report in a real browser: a small real sweep (trained jobs and a job that
//! crashes) and a synthesized 500-job sweep, each report opened from `file://` by headless
//! Chromium with no network. Checked from the rendered DOM, a screenshot and the console.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use scraper::{Html, Selector};

use crate::browser::{self, chromium};
use crate::util::{run, sweep, temp_dir, write};

const SPEC: &str = r#"name: tiny_report
description: "Two regression losses on a tiny detector, and a row that crashes"
base:
  dataset: {kind: synthetic, image_size: 64, train_images: 32, val_images: 8, max_object_size: 40}
  model: {fpn_channels: 16, backbone: {kind: tiny_resnet, width: 8}}
  train: {iterations: 8, batch_size: 2, warmup_iterations: 2, checkpoint_every: 4, log_every: 2}
variants:
  - {name: l1, set: {loss.reg.kind: l1}}
  - {name: giou, set: {loss.reg.kind: giou}}
  - {name: crash, set: {fake: {iterations: 3, outcome: crash, at_iteration: 1}}}
seeds: [0, 1]
table:
  title: "Tiny <regression> losses"
  metrics: [AP, AP50]
  reference: tiny_report.paper.yaml
  claims: [{row: giou, than: l1, metric: AP}]
"#;

const PAPER: &str = "source: \"made-up numbers\"\nrows:\n  l1: {AP: 31.2, AP50: 50.4}\n  giou: {AP: 33.0, AP50: 51.9}\n";

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

/// Pixels of a screenshot: enough of them not background, and a spread of intensities.
fn assert_not_blank(png: &Path) {
    let img = image::open(png).expect("a PNG screenshot").to_luma8();
    let px: Vec<f64> = img.pixels().map(|p| f64::from(p.0[0])).collect();
    let mean = px.iter().sum::<f64>() / px.len() as f64;
    let var = px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / px.len() as f64;
    let inked = px.iter().filter(|v| **v < 200.0).count() as f64 / px.len() as f64;
    assert!(
        var > 100.0 && inked > 0.01,
        "{} looks blank: variance {var:.1}, {:.2}% dark pixels",
        png.display(),
        inked * 100.0
    );
}

/// The console capture works: a page that logs, throws and tries a fetch shows all three.
fn assert_console_is_watched(dir: &Path) {
    let probe = write(
        dir,
        "probe.html",
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body><img src=\"https://example.invalid/x.png\"><script>console.error('probe'); nope();</script></body></html>",
    );
    let run = browser::open(&probe, &["--dump-dom"], &dir.join("profile-probe"));
    let text = run.console.join("\n");
    assert!(
        text.contains("probe") && text.contains("Uncaught") && text.contains("example.invalid"),
        "the console capture missed something: {text}"
    );
}

#[test]
fn a_real_sweeps_report_renders_in_a_browser() {
    let dir = temp_dir("report-html");
    let spec = write(&dir, "tiny_report.yaml", SPEC);
    write(&dir, "tiny_report.paper.yaml", PAPER);
    let out = dir.join("out");
    let (code, _, err) = run(sweep()
        .arg("run")
        .arg(&spec)
        .arg("--out")
        .arg(&out)
        .args(["--retries", "0"]));
    assert_eq!(code, 1, "the crash row fails the sweep: {err}");
    assert!(err.contains("sweep: report in"), "{err}");
    let page = out.join("report.html");
    let html = std::fs::read_to_string(&page).expect("sweep run wrote report.html");
    let doc = Html::parse_document(&html);
    let ids: Vec<String> = crate::util::plan_rows(&out)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    assert_eq!(ids.len(), 6);
    for id in &ids {
        assert!(
            doc.select(&sel(&format!("tr#job-{id}"))).next().is_some(),
            "job {id}"
        );
    }
    let failed: Vec<String> = doc
        .select(&sel("tr.state-failed pre"))
        .map(|e| e.text().collect())
        .collect();
    assert_eq!(failed.len(), 2, "{html}");
    assert!(
        failed.iter().all(|t| t.contains("scripted crash")),
        "{failed:?}"
    );
    let runs: Vec<String> = doc
        .select(&sel("ol.runs code.cmd"))
        .map(|e| e.text().collect())
        .collect();
    assert!(runs.iter().any(|c| c.starts_with("sweep run ")), "{runs:?}");
    assert!(!html.contains("http://") && !html.contains("https://"));

    // The same page written elsewhere links back to the sweep's files.
    let elsewhere = dir.join("share").join("html");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let moved = elsewhere.join("r.html");
    let (code, stdout, err) = run(sweep().arg("report").arg(&out).arg("--out").arg(&moved));
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout.trim(), moved.display().to_string());
    let doc2 = Html::parse_document(&std::fs::read_to_string(&moved).unwrap());
    let mut links = 0;
    for a in doc2.select(&sel("a[href]")) {
        let href = a.value().attr("href").unwrap();
        if !href.starts_with('#') {
            assert!(href.starts_with("../../out/"), "{href}");
            assert!(
                elsewhere.join(href.trim_end_matches('/')).exists(),
                "{href}"
            );
            links += 1;
        }
    }
    assert!(links >= 6 * 3, "links to every job's files: {links}");

    let Some(_) = chromium() else { return };
    assert_console_is_watched(&dir);
    let profile = dir.join("profile");
    let dom = browser::open(&page, &["--dump-dom"], &profile);
    assert!(dom.console.is_empty(), "console: {:?}", dom.console);
    let rendered = Html::parse_document(&dom.stdout);
    assert_eq!(rendered.select(&sel("table.paper-table")).count(), 1);
    assert_eq!(
        rendered.select(&sel("table.paper-table tbody tr")).count(),
        3
    );
    assert_eq!(rendered.select(&sel("li.claim svg.interval")).count(), 1);
    assert!(rendered.select(&sel("figure svg.fig polyline")).count() >= 2);
    assert_eq!(rendered.select(&sel("table.jobs tr[id]")).count(), 6);
    // The sort script ran (it marks the headers it made clickable).
    assert!(rendered.select(&sel("th.sort")).count() >= 5);

    // Clicking a header sorts: seeds ascending, then descending; a paper table by AP.
    let clicks = "<script>\
        function col(sel, i) { return Array.prototype.map.call(document.querySelectorAll(sel), function (r) { return r.children[i].textContent.trim(); }).join(','); }\
        var seed = document.querySelector('table.jobs th[data-col=\"1\"]');\
        seed.click(); console.log('sorted-up ' + col('table.jobs > tbody > tr', 1));\
        seed.click(); console.log('sorted-down ' + col('table.jobs > tbody > tr', 1));\
        document.querySelector('table.paper-table th[data-col=\"1\"]').click();\
        console.log('sorted-ap ' + col('table.paper-table > tbody > tr', 0));\
        </script></body>";
    let clicked = write(&dir, "clicked.html", &html.replacen("</body>", clicks, 1));
    let sorted = browser::open(&clicked, &["--dump-dom"], &profile)
        .console
        .join("\n");
    assert!(sorted.contains("sorted-up 0,0,0,1,1,1\""), "{sorted}");
    assert!(sorted.contains("sorted-down 1,1,1,0,0,0\""), "{sorted}");
    let by_ap = sorted
        .split("sorted-ap ")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("{sorted}"));
    let table = std::fs::read_to_string(out.join("tables/tiny_report.csv")).unwrap();
    let mut rows: Vec<(f64, String)> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let (name, mean) = (f.next()?, f.next()?);
            Some((mean.parse().unwrap_or(f64::INFINITY), name.to_string()))
        })
        .collect();
    // Numbers ascending, then the rows without one (the failed row).
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let want: Vec<String> = rows.into_iter().map(|(_, n)| n).collect();
    assert_eq!(by_ap, want.join(","), "{table}");

    let shot = dir.join("report.png");
    let run = browser::open(
        &page,
        &[
            "--window-size=1280,1800",
            &format!("--screenshot={}", shot.display()),
        ],
        &profile,
    );
    assert!(run.console.is_empty(), "console: {:?}", run.console);
    assert_not_blank(&shot);
}

/// A 500-job sweep (100 rows × 5 seeds) laid out by `sweep plan`, with results and 800-point
/// curves written as finished jobs leave them.
fn synthesize_500(dir: &Path) -> std::path::PathBuf {
    let mut spec = String::from("name: big\nbase: {fake: {iterations: 800}}\nvariants:\n");
    for i in 0..100 {
        writeln!(
            spec,
            "  - {{name: row{i:03}, set: {{fake.millis_per_iteration: {}}}}}",
            100 + i
        )
        .unwrap();
    }
    spec += "seeds: [0, 1, 2, 3, 4]\ntable: {metrics: [AP], claims: [{row: row001, than: row000, metric: AP}]}\n";
    let spec_path = write(dir, "big.yaml", &spec);
    let (code, plan, err) = run(sweep().arg("plan").arg(&spec_path).arg("--json"));
    assert_eq!(code, 0, "{err}");
    let out = dir.join("out");
    std::fs::create_dir_all(out.join("jobs")).unwrap();
    std::fs::write(out.join("plan.json"), &plan).unwrap();
    std::fs::write(out.join("spec.yaml"), &spec).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    for (n, job) in plan["jobs"].as_array().unwrap().iter().enumerate() {
        let id = job["id"].as_str().unwrap();
        let jd = out.join("jobs").join(id);
        std::fs::create_dir_all(&jd).unwrap();
        let mut curves = String::from("iteration,total,cls,reg\n");
        for i in 1..=800 {
            let t = 2.0 / (1.0 + f64::from(i) * 0.01) + (n % 9) as f64 * 0.02;
            writeln!(curves, "{i},{t:.5},{:.5},{:.5}", t * 0.6, t * 0.4).unwrap();
        }
        std::fs::write(jd.join("curves.csv"), curves).unwrap();
        let result = sweep::journal::JobResult {
            id: id.into(),
            status: "done".into(),
            metrics: BTreeMap::from([("AP".to_string(), 0.2 + (n % 13) as f64 * 0.001)]),
            diverged_at: None,
            val_bootstrap: None,
            progress: Vec::new(),
            extra: Default::default(),
            iterations: 800,
            seconds: 30.0,
            device: "Cpu".into(),
            threads: 1,
            parameters: 1,
            finished_at: 0.0,
            train: None,
            peak_gpu_memory_bytes: None,
        };
        sweep::journal::write_json(&jd.join("result.json"), &result).unwrap();
    }
    out
}

#[test]
fn a_500_job_report_is_small_and_opens_within_a_second() {
    let dir = temp_dir("report-html-500");
    let out = synthesize_500(&dir);
    let (code, _, err) = run(sweep().arg("report").arg(&out));
    assert_eq!(code, 0, "{err}");
    let page = out.join("report.html");
    let bytes = std::fs::metadata(&page).unwrap().len();
    eprintln!("500-job report: {bytes} bytes");
    assert!(bytes < 3 * 1024 * 1024, "{bytes} bytes");
    let html = std::fs::read_to_string(&page).unwrap();
    let doc = Html::parse_document(&html);
    assert_eq!(doc.select(&sel("table.jobs tr[id]")).count(), 500);
    assert_eq!(
        doc.select(&sel("table.jobs details:not([open])")).count(),
        500
    );

    let Some(_) = chromium() else { return };
    // A copy that reports its own load time on the console (the page itself logs nothing).
    let probe = "<script>addEventListener('load',function(){setTimeout(function(){var n=performance.getEntriesByType('navigation')[0];console.log('sweep-load-ms '+Math.round(n.loadEventEnd));},0);});</script></body>";
    let timed = write(&out, "timed.html", &html.replacen("</body>", probe, 1));
    let mut best = f64::INFINITY;
    for i in 0..3 {
        let run = browser::open(
            &timed,
            &["--window-size=1280,900", "--dump-dom"],
            &dir.join(format!("profile{i}")),
        );
        let (load, other): (Vec<&String>, Vec<&String>) = run
            .console
            .iter()
            .partition(|l| l.contains("sweep-load-ms "));
        assert!(other.is_empty(), "console: {other:?}");
        let ms: f64 = load
            .first()
            .and_then(|l| l.split("sweep-load-ms ").nth(1))
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no load time on the console: {:?}", run.console));
        best = best.min(ms);
    }
    eprintln!("500-job report: loaded in {best} ms (best of 3)");
    assert!(best < 1000.0, "the 500-job report took {best} ms to load");
}

#[test]
fn the_report_follows_a_running_sweep() {
    let dir = temp_dir("report-html-live");
    // Jobs of about a second each.
    let spec = write(
        &dir,
        "live.yaml",
        "name: live\nbase: {fake: {iterations: 20, millis_per_iteration: 60}}\nvariants:\n  - {name: a}\n  - {name: b, set: {fake.memory_mib: 7}}\nseeds: [0, 1, 2]\ntable: {metrics: [AP]}\n",
    );
    let out = dir.join("out");
    let mut child = crate::util::start_run(&mut sweep(), &spec, &out, std::process::Stdio::null());
    let page = out.join("report.html");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut live = None;
    while std::time::Instant::now() < deadline && live.is_none() {
        if let Ok(html) = std::fs::read_to_string(&page) {
            if html.contains("running: an orchestrator is working on it") {
                live = Some(html);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    let live = live.expect("a page saying the sweep runs, written during the run");
    assert!(live.contains("<dt>ETA</dt>"), "{live}");
    assert!(status.success());
    let end = std::fs::read_to_string(&page).unwrap();
    assert!(end.contains("<dd>finished</dd>") && !end.contains("<dt>ETA</dt>"));
    assert!(end.contains("<b>6</b> done"), "{end}");
    // `sweep report` afterwards sees no orchestrator either.
    let (code, _, err) = run(sweep().arg("report").arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .contains("<dd>finished</dd>"));
}
