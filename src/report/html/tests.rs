//! The page of synthesized sweep directories, read back with an HTML parser (html5ever, as
//! browsers parse): every table cell, claim and job is there, text stays text, and nothing
//! points outside the sweep.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use scraper::{ElementRef, Html, Selector};

use super::{claim, gather, render, Report, Sources};
use crate::journal::JobView;
use crate::journal::{JobDir, JobResult, JobState, JobStatus, SweepDir};
use crate::launch::protocol::WorkerMessage;
use crate::plan::{Plan, PlanFile};
use crate::report::{self, Table};

/// A spec of fake jobs whose table has a paper reference, a baseline with deltas, a claim,
/// and a row name that looks like markup.
fn spec_text(rows: usize, seeds: usize) -> String {
    let mut s = String::from(
        "name: html_t\ndescription: \"A <test> sweep & its report\"\nbase: {fake: {iterations: 40}}\nvariants:\n  - {name: base}\n  - {name: \"wide <b>\", set: {fake.millis_per_iteration: 2}}\n  - {name: broken, set: {fake.outcome: crash}}\n",
    );
    for i in 3..rows {
        writeln!(
            s,
            "  - {{name: r{i}, set: {{fake.millis_per_iteration: {}}}}}",
            100 + i
        )
        .unwrap();
    }
    let seeds: Vec<String> = (0..seeds).map(|i| i.to_string()).collect();
    writeln!(s, "seeds: [{}]", seeds.join(", ")).unwrap();
    s += "table:\n  title: \"Fake <ablation>\"\n  metrics: [AP, AP50]\n  reference: html_t.paper.yaml\n  baseline: base\n  delta: inline\n  bold: best\n  claims:\n    - {row: \"wide <b>\", than: base, metric: AP}\n    - {row: broken, than: base, metric: AP}\n";
    s
}

const PAPER: &str = "source: \"A paper\"\nrows:\n  base: {AP: 20.1, AP50: 40.0}\n  \"wide <b>\": {AP: 22.3, AP50: \"41.5*\"}\n";

/// Writes the spec, plan and job directories: finished jobs with curves and progress lines,
/// failing jobs with a stderr log. `iterations` logged points per curve.
fn synthesize(dir: &Path, rows: usize, seeds: usize, points: u64) -> (crate::spec::Spec, PlanFile) {
    std::fs::write(dir.join("html_t.yaml"), spec_text(rows, seeds)).unwrap();
    std::fs::write(dir.join("html_t.paper.yaml"), PAPER).unwrap();
    let spec = crate::spec::load(&dir.join("html_t.yaml"), None, &[]).unwrap();
    let plan = Plan::new(crate::expand::expand(&spec).unwrap()).unwrap();
    let file = PlanFile::new(&plan, &spec, &HashMap::new());
    let sweep = SweepDir::new(dir.join("out"));
    sweep.create().unwrap();
    std::fs::write(sweep.spec_path(), &spec.source).unwrap();
    crate::journal::write_json(&sweep.plan_path(), &file).unwrap();
    let mut events = String::new();
    for (n, j) in file.jobs.iter().enumerate() {
        let job = JobDir::new(sweep.job_dir(&j.id));
        std::fs::create_dir_all(&job.path).unwrap();
        std::fs::write(job.config_path(), crate::spec::config_to_yaml(&j.config)).unwrap();
        let shift = (n % 7) as f64 * 0.01;
        let mut log = String::new();
        let mut curves = String::from("iteration,total,cls,reg\n");
        for i in 1..=points {
            let t = 2.0 / (1.0 + i as f64 * 0.05) + shift;
            writeln!(curves, "{i},{t:.6},{:.6},{:.6}", t * 0.6, t * 0.4).unwrap();
            if i % 10 == 0 || i == points {
                let p = WorkerMessage::Progress {
                    iteration: i,
                    iterations: points,
                    lr: 0.01,
                    losses: BTreeMap::new(),
                    weights: BTreeMap::new(),
                    images_per_sec: 1.0,
                    elapsed: i as f64 * 0.1,
                    memory_mib: Some(500 + n as u64),
                };
                writeln!(log, "{}", p.to_line()).unwrap();
            }
        }
        std::fs::write(job.log_path(), log).unwrap();
        std::fs::write(job.path.join("curves.csv"), curves).unwrap();
        let at = 1_000.0 + n as f64;
        if j.variant == "broken" {
            std::fs::write(
                job.stderr_path(),
                "loading\nsweep worker: scripted crash at iteration 5\n",
            )
            .unwrap();
            job.write_state(&JobState {
                status: JobStatus::Failed {
                    cause: "crash".into(),
                    message: "exit code 1".into(),
                },
                attempts: 3,
                threads: 1,
                updated_at: at,
                peak_gpu_memory_bytes: None,
            })
            .unwrap();
        } else {
            let bonus = if j.variant == "wide <b>" { 0.04 } else { 0.0 };
            let ap = 0.20 + bonus + 0.003 * j.seed as f64 + shift * 0.1;
            job.write_result(&JobResult {
                id: j.id.clone(),
                status: "done".into(),
                metrics: [("AP".to_string(), ap), ("AP50".to_string(), ap * 2.0)].into(),
                diverged_at: None,
                val_bootstrap: None,
                progress: Vec::new(),
                extra: Default::default(),
                iterations: points,
                seconds: 12.5,
                device: "Cpu".into(),
                threads: 1,
                parameters: 10,
                finished_at: at,
                train: None,
                peak_gpu_memory_bytes: None,
            })
            .unwrap();
        }
        writeln!(
            events,
            "{{\"at\":{},\"job\":\"{}\",\"state\":\"pending\"}}",
            at - 10.0,
            j.id
        )
        .unwrap();
    }
    std::fs::write(sweep.events_path(), events).unwrap();
    (spec, file)
}

/// What the CLI reads: job views and tables.
fn sources(
    dir: &Path,
    spec: &crate::spec::Spec,
    plan: &PlanFile,
) -> (BTreeMap<String, JobView>, Vec<Table>) {
    let sweep = SweepDir::new(dir.join("out"));
    let mut views = BTreeMap::new();
    for j in &plan.jobs {
        let d = JobDir::new(sweep.job_dir(&j.id));
        if let Some(r) = d.read_result().unwrap() {
            views.insert(j.id.clone(), JobView::Result(r));
        } else if let Some(s) = d.read_state().unwrap() {
            views.insert(j.id.clone(), JobView::Status(s.status));
        }
    }
    let reference = spec.read_reference().unwrap();
    let tables = spec
        .tables
        .iter()
        .map(|t| {
            let name = t.name.clone().unwrap_or_else(|| spec.name.clone());
            let r = reference.as_ref().and_then(|r| r.table(&name));
            report::build(plan, t, r.as_ref(), &views, &spec.name)
        })
        .collect();
    (views, tables)
}

fn page(dir: &Path, rows: usize, seeds: usize, points: u64, running: bool) -> (Report, String) {
    let (spec, plan) = synthesize(dir, rows, seeds, points);
    let start = std::time::Instant::now();
    let (views, tables) = sources(dir, &spec, &plan);
    let sweep = SweepDir::new(dir.join("out"));
    let report = gather(Sources {
        sweep: &sweep,
        spec: &spec,
        plan: &plan,
        views: &views,
        tables,
        running: Some(running),
    });
    let gathered = start.elapsed();
    let html = render(&report, &[]);
    eprintln!(
        "{} jobs: read and tabled in {:.2} s, rendered in {:.2} s",
        report.jobs.len(),
        gathered.as_secs_f64(),
        (start.elapsed() - gathered).as_secs_f64()
    );
    (report, html)
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn text(e: ElementRef) -> String {
    e.text().collect::<String>().trim().to_string()
}

#[test]
fn every_cell_claim_and_job_is_on_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (report, html) = page(dir.path(), 3, 3, 60, false);
    let doc = Html::parse_document(&html);

    // Title and the description, as text.
    assert_eq!(text(doc.select(&sel("h1")).next().unwrap()), "html_t");
    assert_eq!(
        text(doc.select(&sel("p.desc")).next().unwrap()),
        "A <test> sweep & its report"
    );

    // Every table cell, in order, ours beside the paper's.
    let t = &report.tables[0];
    assert!(t.has_reference);
    let tables: Vec<ElementRef> = doc.select(&sel("table.paper-table")).collect();
    assert_eq!(tables.len(), t.sections.len());
    for (section, el) in t.sections.iter().zip(&tables) {
        let got: Vec<Vec<String>> = el
            .select(&sel("tbody tr"))
            .map(|tr| tr.select(&sel("th, td")).map(text).collect())
            .collect();
        let want: Vec<Vec<String>> = section
            .rows
            .iter()
            .map(|r| {
                let mut cells = vec![r.label.clone()];
                for (c, p) in r.cells.iter().zip(&r.paper) {
                    cells.push(c.text.clone());
                    cells.push(p.clone().unwrap_or_else(|| "–".into()));
                }
                cells
            })
            .collect();
        assert_eq!(got, want);
    }
    // The paper's numbers are there, and the row named like markup stayed text.
    assert!(
        html.contains("<td class=\"paper\">20.1</td>"),
        "paper value"
    );
    let labels: Vec<String> = doc
        .select(&sel("table.paper-table tbody th"))
        .map(text)
        .collect();
    assert!(labels.contains(&"wide <b>".to_string()), "{labels:?}");
    assert_eq!(doc.select(&sel("table.paper-table b")).count(), 0);
    // Bold as the model says.
    let bold: usize = t
        .sections
        .iter()
        .flat_map(|s| &s.rows)
        .flat_map(|r| &r.cells)
        .filter(|c| c.bold)
        .count();
    assert!(bold > 0);
    assert_eq!(doc.select(&sel("table.paper-table strong")).count(), bold);

    // Every claim, with its verdict and a drawn interval where it has numbers.
    let items: Vec<ElementRef> = doc.select(&sel("li.claim")).collect();
    assert_eq!(items.len(), t.claims.len());
    for (c, li) in t.claims.iter().zip(&items) {
        let v = claim::of(c, t.delta_scale, t.delta_unit);
        assert_eq!(text(li.select(&sel(".claim-text")).next().unwrap()), c.text);
        assert_eq!(
            text(li.select(&sel(".verdict")).next().unwrap()),
            v.verdict.word()
        );
        assert_eq!(
            li.select(&sel("svg.interval line.ci")).count(),
            usize::from(v.interval.is_some()),
            "{}",
            c.text
        );
    }
    // "wide <b>" beats base by 0.04 with little spread: reproduced, interval drawn.
    assert_eq!(
        claim::of(&t.claims[0], t.delta_scale, t.delta_unit).verdict,
        claim::Verdict::Reproduced,
        "{}",
        t.claims[0].text
    );
    assert!(claim::of(&t.claims[0], t.delta_scale, t.delta_unit)
        .interval
        .is_some());

    // Every job: its row, seed, id and state; the failed ones with cause and stderr.
    let ids: Vec<&str> = {
        let mut seen = std::collections::HashSet::new();
        report
            .jobs
            .iter()
            .map(|j| j.id.as_str())
            .filter(|id| seen.insert(*id))
            .collect()
    };
    assert_eq!(ids.len(), 9);
    for j in &report.jobs {
        let tr = doc
            .select(&sel(&format!("tr#job-{}", j.id)))
            .next()
            .unwrap_or_else(|| panic!("job {} missing", j.id));
        let cells: Vec<String> = tr.select(&sel(":scope > td")).map(text).collect();
        assert_eq!(cells[0], j.rows.join(""));
        assert_eq!(cells[1], j.seed.to_string());
        assert_eq!(cells[2], j.id);
        assert_eq!(cells[3], j.state);
        assert_eq!(cells[6], j.peak_mib.map(|m| format!("{m} MiB")).unwrap());
        if j.state == "failed" {
            assert_eq!(cells[4], "60", "iterations from the progress lines");
            let why = text(tr.select(&sel("p.cause")).next().unwrap());
            assert_eq!(why, "crash: exit code 1");
            let pre = text(tr.select(&sel("pre")).next().unwrap());
            assert!(pre.ends_with("scripted crash at iteration 5"), "{pre}");
            assert!(tr.select(&sel("details[open]")).next().is_some());
        } else {
            assert_eq!(cells[3], "done");
            assert_eq!(cells[5], "12.5 s");
            assert!(
                tr.select(&sel("details[open]")).next().is_none(),
                "collapsed"
            );
        }
    }
    // The failed row's config differs from the base by the outcome it scripts.
    let broken = report.jobs.iter().find(|j| j.state == "failed").unwrap();
    assert!(
        broken.diff.iter().any(|c| c.key == "fake.outcome"),
        "{:?}",
        broken.diff
    );
    let plain = report.jobs.iter().find(|j| j.rows[0] == "base").unwrap();
    assert!(plain.diff.is_empty(), "{:?}", plain.diff);

    // State counts and provenance.
    let counts: Vec<String> = doc.select(&sel("#state .badge")).map(text).collect();
    assert_eq!(counts, ["6 done", "3 failed"]);
    assert!(html.contains("finished"));

    // Figures: inline SVG, curves with their band.
    let figs: Vec<ElementRef> = doc.select(&sel("#figures figure svg.fig")).collect();
    assert!(figs.len() >= 3, "curves of total, cls, reg: {}", figs.len());
    assert!(html.contains("id=\"fig-curves-total\""));
}

#[test]
fn nothing_points_outside_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let (_, html) = page(dir.path(), 3, 2, 30, false);
    let doc = Html::parse_document(&html);
    for bad in [
        "link",
        "script[src]",
        "img",
        "iframe",
        "object",
        "embed",
        "base",
        "form",
    ] {
        assert_eq!(doc.select(&sel(bad)).count(), 0, "{bad}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.to_lowercase().contains("url("), "no CSS fetch");
    let out = dir.path().join("out");
    let mut links = 0;
    for a in doc.select(&sel("[href], [src], [xlink\\:href]")) {
        for (name, value) in a.value().attrs() {
            if !matches!(name, "href" | "src" | "xlink:href") {
                continue;
            }
            assert!(!value.contains(':'), "{name}={value}: no scheme");
            assert!(
                !value.starts_with("//") && !value.starts_with('/'),
                "{value}"
            );
            if let Some(frag) = value.strip_prefix('#') {
                assert!(
                    doc.select(&sel(&format!("#{frag}"))).next().is_some(),
                    "{value}"
                );
            } else {
                // A relative link to a file of the sweep that exists.
                assert!(out.join(value.trim_end_matches('/')).exists(), "{value}");
                links += 1;
            }
        }
    }
    assert!(links > 6, "links to the jobs' files: {links}");
    // The script is inline, and the browser is told to fetch nothing.
    assert_eq!(doc.select(&sel("script")).count(), 1);
    assert!(html.contains("default-src 'none'"));
}

#[test]
fn a_running_sweep_says_so_with_an_eta() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, plan) = synthesize(dir.path(), 3, 2, 20);
    let sweep = SweepDir::new(dir.path().join("out"));
    // One job not finished yet, and a run that started before the others finished.
    let pending = &plan.jobs[1].id;
    std::fs::remove_file(JobDir::new(sweep.job_dir(pending)).result_path()).unwrap();
    let runs = serde_json::json!({"runs": [{"started_at": 990.0, "command": ["sweep", "run", "x"], "version": "0.1.0", "hardware": "2 CPU cores", "libtorch": "2.11.0+cpu"}]});
    crate::journal::write_json(&sweep.root.join("provenance.json"), &runs).unwrap();
    let (views, tables) = sources(dir.path(), &spec, &plan);
    let report = gather(Sources {
        sweep: &sweep,
        spec: &spec,
        plan: &plan,
        views: &views,
        tables,
        running: Some(true),
    });
    assert!(report.state.running);
    assert!(report.state.eta_seconds.is_some_and(|e| e > 0.0));
    let html = render(&report, &[]);
    assert!(html.contains("<dt>ETA</dt>"));
    assert!(html.contains("<b>1</b> pending"));
    assert!(html.contains("2.11.0+cpu") && html.contains("<code class=\"cmd\">sweep run x</code>"));
}

#[test]
fn a_500_job_sweep_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let (report, html) = page(dir.path(), 100, 5, 800, false);
    let took = start.elapsed();
    let doc = Html::parse_document(&html);
    assert_eq!(doc.select(&sel("table.jobs tbody tr[id]")).count(), 500);
    assert_eq!(report.jobs.len(), 500);
    // Per-job sections collapsed (the failed row's are open: 5 of them).
    assert_eq!(doc.select(&sel("table.jobs details[open]")).count(), 5);
    assert_eq!(doc.select(&sel("table.jobs details")).count(), 500);
    // Curves drawn thinned: 800 logged points per line become at most 201.
    for (_, fig) in &report.figures {
        for s in fig.panels.iter().flat_map(|p| &p.series) {
            assert!(
                s.line.len() <= 201 && s.band.len() <= 201,
                "{}",
                s.line.len()
            );
        }
    }
    eprintln!(
        "500-job report: {} bytes, {} figures, gathered and rendered in {:.2} s",
        html.len(),
        report.figures.len(),
        took.as_secs_f64()
    );
    assert!(html.len() < 3 * 1024 * 1024, "{} bytes", html.len());
}

/// A table with column groups of two metrics, two sub-tables and a delta row, built by hand.
fn grouped_table() -> Table {
    use crate::report::{Column, Row, Section, Shown};
    let columns: Vec<Column> = ["L1", "CIoU"]
        .iter()
        .flat_map(|g| {
            ["AP", "AP50"].iter().map(move |m| Column {
                group: Some(g.to_string()),
                metric: m.to_string(),
                metric_label: m.to_string(),
                header: format!("{g}/{m}"),
                key: format!("{g}/{m}"),
            })
        })
        .collect();
    let cell = |t: &str| Shown {
        text: t.into(),
        status: "ok".into(),
        ..Shown::default()
    };
    let row = |label: &str, delta: bool, base: f64| Row {
        label: label.into(),
        is_delta: delta,
        cells: (0..4)
            .map(|i| cell(&format!("{:.1}", base + i as f64)))
            .collect(),
        paper: (0..4)
            .map(|i| (i % 2 == 0).then(|| format!("{:.1}", base + 10.0 + i as f64)))
            .collect(),
    };
    Table {
        name: "t1".into(),
        title: "Grouped".into(),
        caption: "cap".into(),
        still_rising_note: None,
        row_header: "Loss Weight".into(),
        delta_scale: 1.0,
        delta_unit: "",
        text_claims: Vec::new(),
        columns,
        sections: vec![
            Section {
                header: Some("Batch Size".into()),
                rows: vec![
                    row("1", false, 1.0),
                    row("Improvement%", true, 0.1),
                    row("8", false, 2.0),
                ],
            },
            Section {
                header: Some("δ".into()),
                rows: vec![row("0.5", false, 3.0)],
            },
        ],
        has_reference: true,
        claims: Vec::new(),
    }
}

#[test]
fn groups_sections_and_delta_rows_keep_the_papers_layout() {
    let t = grouped_table();
    let doc = Html::parse_fragment(&super::tables::table(&t));
    let tables: Vec<ElementRef> = doc.select(&sel("table")).collect();
    assert_eq!(tables.len(), 2, "one per sub-table");
    for (table, section) in tables.iter().zip(&t.sections) {
        let heads: Vec<Vec<(String, String)>> = table
            .select(&sel("thead tr"))
            .map(|tr| {
                tr.select(&sel("th"))
                    .map(|th| {
                        (
                            text(th),
                            th.value().attr("colspan").unwrap_or("1").to_string(),
                        )
                    })
                    .collect()
            })
            .collect();
        let corner = section.header.clone().unwrap();
        assert_eq!(heads.len(), 3, "groups, metrics, ours/paper");
        assert_eq!(
            heads[0],
            [
                (corner, "1".into()),
                ("L1".into(), "4".into()),
                ("CIoU".into(), "4".into())
            ]
        );
        assert_eq!(heads[1].len(), 4);
        assert!(heads[1].iter().all(|(_, span)| span == "2"));
        assert_eq!(heads[2].len(), 8);
        // Every body cell: label, then ours and the paper's per column.
        let got: Vec<Vec<String>> = table
            .select(&sel("tbody tr"))
            .map(|tr| tr.select(&sel("th, td")).map(text).collect())
            .collect();
        let want: Vec<Vec<String>> = section
            .rows
            .iter()
            .map(|r| {
                std::iter::once(r.label.clone())
                    .chain(r.cells.iter().zip(&r.paper).flat_map(|(c, p)| {
                        [c.text.clone(), p.clone().unwrap_or_else(|| "–".into())]
                    }))
                    .collect()
            })
            .collect();
        assert_eq!(got, want);
    }
    // A delta row sorts with its row: both in one tbody.
    let first: Vec<ElementRef> = tables[0].select(&sel("tbody")).collect();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].select(&sel("tr")).count(), 2);
    assert_eq!(first[0].select(&sel("tr.delta")).count(), 1);
}
