//! Table building from hand-made plans and results: which job lands in which cell, deltas,
//! bold, sections, claims and the checks.

use std::collections::BTreeMap;

use super::*;
use crate::launch::Placement;
use crate::plan::{PlanFile, PlannedJob};
use crate::spec::config::{JobConfig, RegLossSpec};
use crate::spec::table::*;
use crate::spec::TableSpec;

fn job(id: &str, row: &str, seed: u64, reg: RegLossSpec, width: i64) -> PlannedJob {
    let mut config = JobConfig::default();
    config.loss.reg = reg;
    config.train.seed = seed;
    if let crate::spec::config::BackboneSpec::TinyResnet { width: w, .. } =
        &mut config.model.backbone
    {
        *w = width;
    }
    PlannedJob {
        id: id.into(),
        row: row.into(),
        variant: row.into(),
        seed,
        config,
        depends_on: Vec::new(),
        placement: Placement::Cpu { threads: 1 },
    }
}

fn done(metrics: &[(&str, f64)]) -> JobView {
    JobView::Result(crate::journal::JobResult {
        id: String::new(),
        status: "done".into(),
        metrics: metrics.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        diverged_at: None,
        iterations: 1,
        seconds: 1.0,
        device: "cpu".into(),
        threads: 1,
        parameters: 1,
        finished_at: 0.0,
        train: None,
        peak_gpu_memory_bytes: None,
        val_bootstrap: None,
        progress: Vec::new(),
        extra: Default::default(),
    })
}

/// The job with ALWA_2 task weights of window `c`.
fn alwa(mut j: PlannedJob, c: u64) -> PlannedJob {
    j.config.loss.weights.adapt = Some(crate::spec::config::AdaptSpec::Alwa {
        variant: 2,
        window: c,
        record: Default::default(),
        std: Default::default(),
    });
    j
}

/// Finished jobs with one metric each.
fn views(metric: &str, values: &[(&str, f64)]) -> BTreeMap<String, JobView> {
    values
        .iter()
        .map(|(id, v)| (id.to_string(), done(&[(metric, *v)])))
        .collect()
}

fn plan(jobs: Vec<PlannedJob>) -> PlanFile {
    PlanFile {
        spec: "t".into(),
        scale: Some("quick".into()),
        overrides: Vec::new(),
        jobs,
    }
}

fn spec(yaml: &str) -> TableSpec {
    crate::spec::from_yaml(yaml).unwrap()
}

fn texts(t: &Table, section: usize) -> Vec<Vec<String>> {
    t.sections[section]
        .rows
        .iter()
        .map(|r| {
            std::iter::once(r.label.clone())
                .chain(r.cells.iter().map(|c| {
                    if c.bold {
                        format!("*{}", c.text)
                    } else {
                        c.text.clone()
                    }
                }))
                .collect()
        })
        .collect()
}

#[test]
fn mean_and_sample_std_over_seeds_and_partial_cells() {
    let c = Cell::Values {
        values: vec![0.2, 0.3, 0.4],
        seeds: vec![0, 1, 2],
        boot: vec![None; 3],
        of: 3,
        lost: None,
    };
    let s = c.stat().unwrap();
    assert!((s.mean - 0.3).abs() < 1e-12);
    assert!((s.std.unwrap() - 0.1).abs() < 1e-12);
    let units = Units {
        percent: true,
        decimals: 1,
        delta: DeltaFormat::Value,
    };
    assert_eq!(units.stat_text(&s), "30.0 ± 10.0");
    let partial = Cell::Values {
        values: vec![0.25],
        seeds: vec![0],
        boot: vec![None],
        of: 2,
        lost: None,
    };
    assert_eq!(
        units.stat_text(&partial.stat().unwrap()),
        "25.0 (1/2 seeds)"
    );
    // COCO's −1 (no object in the range) is never averaged; a diverged seed is named.
    let undefined = done(&[("APl", -1.0)]);
    let ok = done(&[("APl", 0.5)]);
    assert_eq!(
        Cell::of(&[(0, Some(&undefined))], "APl"),
        Cell::Missing("n/a (no objects in range)".into())
    );
    let mut diverged = done(&[]);
    if let JobView::Result(r) = &mut diverged {
        r.status = "diverged".into();
    }
    let c = Cell::of(
        &[(0, Some(&ok)), (1, Some(&undefined)), (2, Some(&diverged))],
        "APl",
    );
    assert_eq!(
        units.stat_text(&c.stat().unwrap()),
        "50.0 (1/3 seeds; 1 diverged)"
    );
    let ni = JobView::Status(crate::journal::JobStatus::Unsupported { reason: "x".into() });
    assert_eq!(
        Cell::of(&[(0, Some(&ni))], "AP"),
        Cell::Missing("not implemented".into())
    );
    assert_eq!(
        Cell::of(&[(0, None)], "AP"),
        Cell::Missing("pending".into())
    );
}

#[test]
fn deltas_format_as_the_papers_print_them() {
    let value = Units {
        percent: true,
        decimals: 1,
        delta: DeltaFormat::Value,
    };
    assert_eq!(value.delta(0.025), "+2.5");
    assert_eq!(value.delta(-0.0004), "0.0");
    let alwa = Units {
        percent: false,
        decimals: 4,
        delta: DeltaFormat::PointsPercent,
    };
    // ALWA's "+1.46%" is 0.7663 − 0.7517, in points.
    assert_eq!(alwa.delta(0.7663 - 0.7517), "+1.46%");
    assert_eq!(alwa.paper_delta(0.7663 - 0.7517), "+1.46%");
    assert_eq!(alwa.delta(-0.0059), "-0.59%");
}

/// ALWA Table 1's shape: weight rows × regression-loss column groups, first row absolute,
/// the others replaced by their difference, bold where better.
#[test]
fn column_groups_from_an_axis_with_replaced_deltas_and_bold_above_baseline() {
    let p = plan(vec![
        job("a1", "1.00:1.00", 0, RegLossSpec::L1, 32),
        job("a2", "1.00:1.00", 0, RegLossSpec::Ciou, 32),
        job("b1", "0.25:0.25", 0, RegLossSpec::L1, 32),
        job("b2", "0.25:0.25", 0, RegLossSpec::Ciou, 32),
    ]);
    let views = views(
        "AP50",
        &[
            ("a1", 0.7517),
            ("a2", 0.7535),
            ("b1", 0.7663),
            ("b2", 0.7476),
        ],
    );
    let s = spec(
        "{columns: {axis: loss.reg.kind, labels: {l1: L1, ciou: CIoU}}, metrics: [AP50], \
         baseline: '1.00:1.00', delta: replace, delta_format: points_percent, \
         bold: above_baseline, percent: false, decimals: 4}",
    );
    assert!(check(&p, &s, None).is_empty(), "{:?}", check(&p, &s, None));
    let t = build(&p, &s, None, &views, "t");
    let headers: Vec<&str> = t.columns.iter().map(|c| c.header.as_str()).collect();
    assert_eq!(headers, ["L1", "CIoU"]);
    assert_eq!(
        texts(&t, 0),
        [
            vec!["1.00:1.00", "0.7517", "0.7535"],
            vec!["0.25:0.25", "*+1.46%", "-0.59%"],
        ]
    );
}

/// ALWA Table 2's shape: sections from an axis, an Improvement% row after each compared row.
#[test]
fn axis_sections_with_delta_rows_and_best_in_bold() {
    let p = plan(vec![
        job("s", "baseline", 0, RegLossSpec::L1, 32),
        job("a", "+ALWA_2", 0, RegLossSpec::L1, 32),
        job("S", "baseline", 0, RegLossSpec::L1, 64),
        job("A", "+ALWA_2", 0, RegLossSpec::L1, 64),
    ]);
    let views = views(
        "AP50",
        &[("s", 0.70), ("a", 0.71), ("S", 0.75), ("A", 0.74)],
    );
    let s = spec(
        "{sections: {axis: model.backbone.width, labels: {64: 'w64'}, format: 'w{}'}, \
         metrics: [AP50], baseline: baseline, delta: rows, delta_format: points_percent, \
         bold: best, percent: false, decimals: 4}",
    );
    let t = build(&p, &s, None, &views, "t");
    // Labelled values come first.
    assert_eq!(t.sections[0].header.as_deref(), Some("w64"));
    assert_eq!(t.sections[1].header.as_deref(), Some("w32"));
    assert_eq!(
        texts(&t, 0),
        [
            vec!["baseline", "*0.7500"],
            vec!["+ALWA_2", "0.7400"],
            vec!["Improvement%", "-1.00%"],
        ]
    );
    assert_eq!(
        texts(&t, 1),
        [
            vec!["baseline", "0.7000"],
            vec!["+ALWA_2", "*0.7100"],
            vec!["Improvement%", "+1.00%"],
        ]
    );
    assert!(t.sections[1].rows[2].is_delta);
}

/// AP-loss Table 1's shape: listed sub-tables sharing one job under different labels; the
/// paper's numbers keyed by section.
#[test]
fn listed_sections_relabel_shared_rows_and_find_their_paper_values() {
    let p = plan(vec![
        job("d", "default", 0, RegLossSpec::Giou, 32),
        job("b1", "bs 1", 0, RegLossSpec::L1, 32),
        job("n", "no interp", 0, RegLossSpec::l2(), 32),
    ]);
    let views = views("AP", &[("d", 0.5), ("b1", 0.4), ("n", 0.45)]);
    let s = spec(
        "{metrics: [AP], sections: [{header: Batch Size, rows: [{row: bs 1, label: '1'}, \
         {row: default, label: '8'}]}, {header: Interpolated, rows: [{row: no interp, label: No}, \
         {row: default, label: 'Yes'}]}]}",
    );
    let reference: TableReference = crate::spec::from_yaml(
        "{source: paper, rows: {'Batch Size/8': {AP: 53.1}, 'Interpolated/No': {AP: 52.6}}}",
    )
    .unwrap();
    let t = build(&p, &s, Some(&reference), &views, "t");
    assert_eq!(texts(&t, 0), [vec!["1", "40.0"], vec!["8", "50.0"]]);
    assert_eq!(texts(&t, 1), [vec!["No", "45.0"], vec!["Yes", "50.0"]]);
    assert_eq!(t.sections[0].rows[1].paper, [Some("53.1".to_string())]);
    assert_eq!(t.sections[0].rows[0].paper, [None]);
    assert_eq!(t.sections[1].rows[0].paper, [Some("52.6".to_string())]);
    assert!(t.caption.ends_with("Paper: paper."), "{}", t.caption);
}

#[test]
fn inline_deltas_per_row_baseline_and_where_filter() {
    let p = plan(vec![
        job("f", "FCOS", 0, RegLossSpec::Giou, 32),
        job("fu", "FCOS + UGS", 0, RegLossSpec::l2(), 32),
        job("w", "FCOS", 0, RegLossSpec::Giou, 64),
    ]);
    let views: BTreeMap<String, JobView> = [
        ("f", [0.199, 0.377]),
        ("fu", [0.224, 0.397]),
        ("w", [0.3, 0.4]),
    ]
    .into_iter()
    .map(|(id, [ap, ap50])| (id.to_string(), done(&[("AP", ap), ("AP50", ap50)])))
    .collect();
    let s = spec(
        "{where: {model.backbone.width: 32}, metrics: [AP, AP50], \
         baseline: {FCOS + UGS: FCOS}, delta: inline, delta_metrics: [AP]}",
    );
    assert!(check(&p, &s, None).is_empty());
    let t = build(&p, &s, None, &views, "t");
    assert_eq!(
        texts(&t, 0),
        [
            vec!["FCOS", "19.9", "37.7"],
            vec!["FCOS + UGS", "22.4 (+2.5)", "39.7"]
        ]
    );
}

#[test]
fn claims_are_paired_t_tests_with_holm_across_the_table() {
    let mut jobs = Vec::new();
    let mut views = BTreeMap::new();
    for (seed, (b, u, n)) in [(0.20, 0.25, 0.21), (0.21, 0.26, 0.19), (0.22, 0.24, 0.23)]
        .into_iter()
        .enumerate()
    {
        let seed = seed as u64;
        for (row, v, reg) in [
            ("L2", b, RegLossSpec::l2()),
            ("UGS", u, RegLossSpec::L1),
            ("noise", n, RegLossSpec::Giou),
        ] {
            let id = format!("{row}{seed}");
            jobs.push(job(&id, row, seed, reg, 32));
            views.insert(id, done(&[("AP", v)]));
        }
    }
    let p = plan(jobs);
    let s = spec(
        "{metrics: [AP], claims: [{row: UGS, than: L2, metric: AP}, \
         {row: noise, than: L2, metric: AP}, {row: L2, than: UGS, metric: AP}]}",
    );
    let reference: TableReference =
        crate::spec::from_yaml("{rows: {UGS: {AP: 23.5}, L2: {AP: 21.3}}}").unwrap();
    let t = build(&p, &s, Some(&reference), &views, "t");
    // scipy: ttest_rel(UGS, L2) t = 4, df 2, p = 0.0572, CI [-0.0030, 0.0830]; statsmodels'
    // Holm over the three claims: 0.172, 1, 0.172. Two standard errors apart, yet unresolved.
    assert_eq!(
        t.claims[0].text,
        "UGS > L2 on AP: unresolved, +4.0 [95% CI -0.3, +8.3] (paired t, 3 seeds, df 2, \
          p = 0.057, Holm p = 0.17 (3 claims)); paper +2.2, inside our CI; 10 seeds a row \
         would resolve a difference of the paper's size (80% power)"
    );
    // statsmodels' TTestPower().solve_power(0.022 / 0.0173, alpha=0.05 / 3, power=0.8) is
    // 9.50 seeds: Holm's strictest level for three claims, rounded up.
    assert_eq!(t.claims[0].seeds_to_resolve, Some(10));
    let c = &t.claims[0];
    assert_eq!(c.verdict, Verdict::Unresolved);
    let test = c.test.as_ref().unwrap();
    assert_eq!(test.kind, crate::stats::TestKind::Paired);
    assert!((test.p - 0.057190958417936665).abs() < 1e-12);
    assert!((c.holm_p.unwrap() - 0.17157288).abs() < 1e-7);
    assert!((c.paper_diff.unwrap() - 0.022).abs() < 1e-12);
    assert_eq!(c.paper_in_ci, Some(true));
    assert_eq!(t.claims[1].verdict, Verdict::Unresolved);
    assert!(
        t.claims[2]
            .text
            .starts_with("L2 > UGS on AP: unresolved, -4.0"),
        "{}",
        t.claims[2].text
    );
    // At 80% the same data settles the first and third claim, in opposite directions.
    let s = spec(
        "{metrics: [AP], claims_level: 0.8, claims: [{row: UGS, than: L2, metric: AP}, \
         {row: noise, than: L2, metric: AP}, {row: L2, than: UGS, metric: AP, level: 0.5}]}",
    );
    let t = build(&p, &s, None, &views, "t");
    assert_eq!(t.claims[0].verdict, Verdict::Reproduced);
    assert_eq!(t.claims[0].level, 0.8);
    assert_eq!(t.claims[2].verdict, Verdict::Contradicted);
    assert_eq!(t.claims[2].level, 0.5);
    assert!(
        t.claims[0].text.contains("[80% CI "),
        "{}",
        t.claims[0].text
    );
}

#[test]
fn claims_over_different_seeds_use_welch_and_one_seed_is_never_judged() {
    let mut jobs = Vec::new();
    let mut views = BTreeMap::new();
    for (seed, v) in [(0, 0.30), (1, 0.31), (2, 0.32), (3, 0.305)] {
        jobs.push(job(&format!("a{seed}"), "A", seed, RegLossSpec::L1, 32));
        views.insert(format!("a{seed}"), done(&[("AP", v)]));
    }
    for (seed, v) in [(10, 0.20), (11, 0.22), (12, 0.21)] {
        jobs.push(job(&format!("b{seed}"), "B", seed, RegLossSpec::l2(), 32));
        views.insert(format!("b{seed}"), done(&[("AP", v)]));
    }
    jobs.push(job("c0", "C", 0, RegLossSpec::Giou, 32));
    views.insert("c0".into(), done(&[("AP", 0.5)]));
    jobs.push(job("d0", "D", 0, RegLossSpec::Diou, 32));
    let p = plan(jobs);
    let s = spec(
        "{metrics: [AP], claims: [{row: A, than: B, metric: AP}, {row: C, than: A, metric: AP}, \
         {row: D, than: A, metric: AP}]}",
    );
    let t = build(&p, &s, None, &views, "t");
    // scipy: ttest_ind(A, B, equal_var=False): t = 13.75, df 3.99, p = 1.65e-4,
    // CI [0.0788, 0.1187]; Holm over three claims (two without a test count as p = 1).
    let c = &t.claims[0];
    assert_eq!(c.verdict, Verdict::Reproduced);
    let test = c.test.as_ref().unwrap();
    assert_eq!(test.kind, crate::stats::TestKind::Welch);
    assert!((test.df - 3.9900936355000716).abs() < 1e-9);
    assert!((test.ci.0 - 0.07879363525761494).abs() < 1e-9);
    assert!((test.ci.1 - 0.11870636474238501).abs() < 1e-9);
    assert!((c.holm_p.unwrap() - 3.0 * 0.00016451808686863324).abs() < 1e-9);
    assert_eq!(
        c.text,
        "A > B on AP: reproduced, +9.9 [95% CI +7.9, +11.9] (Welch t, 4 vs 3 seeds, \
         df 4.0, p < 0.001, Holm p < 0.001 (3 claims))"
    );
    assert_eq!(t.claims[1].verdict, Verdict::UnresolvedOneSeed);
    assert_eq!(
        t.claims[1].text,
        "C > A on AP: unresolved (one seed), +19.1 (1 vs 4 seeds)"
    );
    assert_eq!(t.claims[1].holm_p, None);
    assert_eq!(t.claims[2].verdict, Verdict::Pending);
    assert_eq!(t.claims[2].text, "D > A on AP: not yet (results missing)");
    let json = claims_json("s", std::slice::from_ref(&t));
    assert_eq!(json["tables"][0]["claims"][0]["verdict"], "reproduced");
    assert_eq!(json["tables"][0]["claims"][0]["test"]["kind"], "welch");
    assert_eq!(json["tables"][0]["claims"][0]["values"][3]["seed"], 3);
    let csv = claims_csv(&t).unwrap();
    assert!(csv.starts_with("row,than,metric,column,section,level,verdict,test,"));
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("A,B,AP,,,0.95,reproduced,Welch t,4,3,"));
}

#[test]
fn checks_name_unknown_rows_and_cells_that_would_mix_configs() {
    let p = plan(vec![
        job("a", "A", 0, RegLossSpec::L1, 32),
        job("b", "A", 0, RegLossSpec::l2(), 32),
    ]);
    let s = spec("{rows: variant, baseline: Z, claims: [{row: A, than: Q, metric: AP}]}");
    let problems: Vec<String> = check(&p, &s, None)
        .into_iter()
        .map(|(k, p, _)| format!("{k}: {p}"))
        .collect();
    assert!(
        problems.iter().any(|p| p == "baseline: no row `Z`"),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p == "claims[0].than: no row `Q`"),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p
            .starts_with("rows: row `A` would average two different jobs of seed 0")
            && p.contains("differ in `loss.reg")),
        "{problems:?}"
    );
    let s = spec("{columns: {axis: loss.nothing}}");
    assert_eq!(
        check(&p, &s, None)[0].1,
        "no job's config has `loss.nothing`".to_string()
    );
}

#[test]
fn renderers_agree_on_cells_bold_and_paper_values() {
    let p = plan(vec![
        job("a", "L2", 0, RegLossSpec::l2(), 32),
        job("b", "UGS", 0, RegLossSpec::L1, 32),
    ]);
    let views = views("AP", &[("a", 0.2), ("b", 0.25)]);
    let s =
        spec("{title: T, metrics: [AP], bold: best, claims: [{row: UGS, than: L2, metric: AP}]}");
    let reference: TableReference =
        crate::spec::from_yaml("{source: S, rows: {UGS: {AP: '23.5 (+2.2)'}}}").unwrap();
    let t = build(&p, &s, Some(&reference), &views, "t");
    let md = markdown(&t);
    assert!(md.contains("| UGS | **25.0** | 23.5 (+2.2) |"), "{md}");
    assert!(md.contains("| L2 | 20.0 | – |"), "{md}");
    assert!(
        md.contains("- Claim: UGS > L2 on AP: unresolved (one seed), +5.0 (1 vs 1 seeds)\n"),
        "{md}"
    );
    let tex = latex(&t);
    assert!(
        tex.contains("UGS & \\textbf{25.0} & 23.5 (+2.2) \\\\"),
        "{tex}"
    );
    assert!(tex.contains("\\multicolumn{2}{c}{AP}"), "{tex}");
    let csv = csv(&t);
    assert!(
        csv.starts_with("Configuration,AP,AP_std,AP_seeds,AP_paper,status,still_rising\n"),
        "{csv}"
    );
    assert!(csv.contains("UGS,25.0,,1/1,23.5 (+2.2),ok"), "{csv}");
}

#[test]
fn a_null_filter_keeps_jobs_without_the_optional_section() {
    let adaptive = alwa(job("a", "ALWA", 0, RegLossSpec::L1, 32), 100);
    let p = plan(vec![job("f", "fixed", 0, RegLossSpec::L1, 32), adaptive]);
    let s = spec("{where: {loss.weights.adapt: null}, metrics: [AP]}");
    assert!(check(&p, &s, None).is_empty(), "{:?}", check(&p, &s, None));
    let t = build(&p, &s, None, &BTreeMap::new(), "t");
    assert_eq!(texts(&t, 0), [vec!["fixed", "pending"]]);
    let s = spec("{where: {loss.weights.adapt.variant: 2}, metrics: [AP]}");
    let t = build(&p, &s, None, &BTreeMap::new(), "t");
    assert_eq!(texts(&t, 0), [vec!["ALWA", "pending"]]);
}

#[test]
fn reference_keys_must_name_rows_and_columns_and_inline_deltas_reach_the_paper_column() {
    let p = plan(vec![
        job("f", "FCOS", 0, RegLossSpec::Giou, 32),
        job("u", "FCOS + UGS", 0, RegLossSpec::l2(), 32),
    ]);
    let views = views("AP", &[("f", 0.199), ("u", 0.224)]);
    let s = spec(
        "{metrics: [AP], metric_labels: {AP: 'AP (COCO)'}, baseline: {FCOS + UGS: FCOS}, \
         delta: inline}",
    );
    let good: TableReference =
        crate::spec::from_yaml("{rows: {FCOS: {AP: 19.9}, FCOS + UGS: {AP: 22.4}}}").unwrap();
    assert!(check(&p, &s, Some(&good)).is_empty());
    let t = build(&p, &s, Some(&good), &views, "t");
    assert_eq!(t.columns[0].header, "AP (COCO)");
    assert_eq!(t.columns[0].key, "AP");
    assert_eq!(
        t.sections[0].rows[1].paper,
        [Some("22.4 (+2.5)".to_string())]
    );
    assert_eq!(texts(&t, 0)[1], ["FCOS + UGS", "22.4 (+2.5)"]);
    let typo: TableReference =
        crate::spec::from_yaml("{rows: {FCOS+UGS: {AP: 22.4}, FCOS: {AP5: 1.0}}}").unwrap();
    let problems: Vec<String> = check(&p, &s, Some(&typo))
        .into_iter()
        .map(|(_, p, _)| p)
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("row `FCOS+UGS` is not a row")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("column `AP5` is not a column")),
        "{problems:?}"
    );
}

#[test]
fn a_job_shared_by_two_rows_counts_once_and_ties_are_not_bold() {
    // Two plan entries of one row resolving to the same job id (same config): one seed, not two.
    let p = plan(vec![
        job("x", "A", 0, RegLossSpec::L1, 32),
        job("x", "A", 0, RegLossSpec::L1, 32),
        job("y", "B", 0, RegLossSpec::l2(), 32),
    ]);
    let views = views("AP", &[("x", 0.41), ("y", 0.41)]);
    let t = build(&p, &spec("{metrics: [AP], bold: best}"), None, &views, "t");
    assert_eq!(texts(&t, 0), [vec!["A", "41.0"], vec!["B", "41.0"]]);
    assert_eq!(t.sections[0].rows[0].cells[0].seeds, "1/1");
}

#[test]
fn absent_axis_values_are_labelled_by_null_or_reported() {
    let adaptive = alwa(job("a", "ALWA", 0, RegLossSpec::L1, 32), 20);
    let p = plan(vec![job("f", "fixed", 0, RegLossSpec::L1, 32), adaptive]);
    let s = spec("{rows: {axis: loss.weights.adapt.window, format: 'C = {}'}, metrics: [AP]}");
    let problems = check(&p, &s, None);
    assert!(
        problems[0]
            .1
            .starts_with("1 of the table's jobs have no value"),
        "{problems:?}"
    );
    let s = spec(
        "{rows: {axis: loss.weights.adapt.window, labels: {null: fixed weights}, format: 'C = {}'}, metrics: [AP]}",
    );
    assert!(check(&p, &s, None).is_empty());
    let t = build(&p, &s, None, &BTreeMap::new(), "t");
    assert_eq!(
        texts(&t, 0),
        [vec!["fixed weights", "pending"], vec!["C = 20", "pending"]]
    );
}

#[test]
fn perturbed_metrics_need_the_perturbation_and_latex_needs_no_unicode() {
    let p = plan(vec![job("a", "λ=0.5 > δ", 0, RegLossSpec::L1, 32)]);
    let s = spec("{metrics: [AP50@black_patch]}");
    let problems = check(&p, &s, None);
    assert!(
        problems[0].0 == "metrics[0]" && problems[0].1.contains("add it to `eval.perturbations`"),
        "{problems:?}"
    );
    let t = build(
        &p,
        &spec("{metrics: [AP]}"),
        None,
        &views("AP", &[("a", 0.5)]),
        "t",
    );
    let tex = latex(&t);
    assert!(
        tex.contains("$\\lambda$=0.5 \\textgreater{} $\\delta$ & 50.0"),
        "{tex}"
    );
    assert!(tex.is_ascii(), "pdflatex's default encoding: {tex}");
}

#[test]
fn a_claim_reads_the_papers_printed_difference() {
    let p = plan(vec![
        job("a", "1.00:1.00", 0, RegLossSpec::L1, 32),
        job("b", "0.25:0.25", 0, RegLossSpec::L1, 32),
    ]);
    let views = views("AP50", &[("a", 0.75), ("b", 0.76)]);
    let s = spec(
        "{metrics: [AP50], percent: false, decimals: 4, delta_format: points_percent, \
         claims: [{row: '0.25:0.25', than: '1.00:1.00', metric: AP50}]}",
    );
    let reference: TableReference = crate::spec::from_yaml(
        "{rows: {'1.00:1.00': {AP50: 0.7517}, '0.25:0.25': {AP50: '+1.46%'}}}",
    )
    .unwrap();
    let t = build(&p, &s, Some(&reference), &views, "t");
    assert_eq!(
        t.claims[0].text,
        "0.25:0.25 > 1.00:1.00 on AP50: unresolved (one seed), +1.00% (1 vs 1 seeds); \
         paper +1.46%"
    );
    assert!((t.claims[0].paper_diff.unwrap() - 0.0146).abs() < 1e-12);
}

#[test]
fn a_claim_on_a_row_in_several_sub_tables_must_name_one() {
    let p = plan(vec![
        job("d", "default", 0, RegLossSpec::Giou, 32),
        job("b", "bs 1", 0, RegLossSpec::L1, 32),
    ]);
    let sections = "sections: [{header: B, rows: [bs 1, {row: default, label: '8'}]}, \
                    {header: D, rows: [{row: default, label: '1'}]}]";
    let problems = |claim: &str| -> Vec<String> {
        let s = spec(&format!("{{metrics: [AP], {sections}, claims: [{claim}]}}"));
        check(&p, &s, None)
            .into_iter()
            .map(|(k, p, _)| format!("{k}: {p}"))
            .collect()
    };
    // Shown labels, each in one sub-table: fine.
    assert!(problems("{row: '8', than: '1', metric: AP}").is_empty());
    assert_eq!(
        problems("{row: default, than: bs 1, metric: AP}"),
        ["claims[0].row: `default` is in several sub-tables (B, D): say which with `section`"]
    );
    assert_eq!(
        problems("{row: default, than: bs 1, metric: AP, section: D}"),
        ["claims[0].than: no row `bs 1` in sub-table `D`"]
    );
}

#[test]
fn claims_report_the_share_of_val_set_noise() {
    let mut jobs = Vec::new();
    let mut views = BTreeMap::new();
    // Two resamples of the val set: replicates ±0.01 around each job's value for A, ±0.03 for
    // B, in opposite directions, so the difference's replicates are d ± 0.04.
    for (seed, a, b) in [(0, 0.30, 0.20), (1, 0.32, 0.21), (2, 0.31, 0.22)] {
        for (row, v, spread, reg) in [
            ("A", a, 0.01, RegLossSpec::L1),
            ("B", b, -0.03, RegLossSpec::l2()),
        ] {
            let id = format!("{row}{seed}");
            jobs.push(job(&id, row, seed, reg, 32));
            let mut view = done(&[("AP", v)]);
            if let JobView::Result(r) = &mut view {
                r.val_bootstrap = Some(crate::eval::coco::ImageBootstrap {
                    resamples: 2,
                    seed: 0,
                    ap: vec![v + spread, v - spread],
                    ap50: vec![0.5, 0.5],
                });
            }
            views.insert(id, view);
        }
    }
    let t = build(
        &plan(jobs),
        &spec("{metrics: [AP], claims: [{row: A, than: B, metric: AP}]}"),
        None,
        &views,
        "t",
    );
    let c = &t.claims[0];
    // Replicates of the difference: d + 0.04 and d − 0.04, std 0.04·√2.
    let val_sd = 0.04 * 2f64.sqrt();
    assert!((c.val_sd.unwrap() - val_sd).abs() < 1e-12, "{c:?}");
    let se = c.test.as_ref().unwrap().se;
    let share = val_sd * val_sd / (val_sd * val_sd + se * se);
    assert!((c.val_share.unwrap() - share).abs() < 1e-12);
    assert!(
        c.text.contains(&format!(
            "; val-set noise ±5.7 ({:.0}% of the spread)",
            share * 100.0
        )),
        "{}",
        c.text
    );
}

#[test]
fn claim_levels_must_lie_between_0_and_1() {
    let s = spec(
        "{metrics: [AP], claims_level: 1.5, \
         claims: [{row: A, than: B, metric: AP, level: 0.0}, {row: A, than: B, metric: AP}]}",
    );
    let problems: Vec<String> = s
        .check()
        .into_iter()
        .map(|(k, p, _)| format!("{k}: {p}"))
        .collect();
    assert_eq!(
        problems,
        [
            "claims_level: 1.5 is out of range",
            "claims[0].level: 0 is out of range"
        ]
    );
}

#[test]
fn the_papers_text_is_set_against_its_own_cells() {
    let p = plan(vec![
        job("a", "base", 0, RegLossSpec::L1, 32),
        job("b", "new", 0, RegLossSpec::l2(), 32),
    ]);
    let reference: TableReference = crate::spec::from_yaml(
        "{rows: {base: {AP: 21.3}, new: {AP: 23.5}, 'new/Improvement%': {AP: '+0.82%'}, \
         'x/Improvement%': {AP: '+0.48%'}}, \
         text_claims: [{quote: 'better by 2.2', place: 'Sec. 4', stated: 2.2, \
         difference: {row: new, than: base, column: AP}}, \
         {quote: 'by 1% on average', stated: 1, \
         mean_of: {rows: ['new/Improvement%', 'x/Improvement%'], columns: [AP]}}]}",
    )
    .unwrap();
    let s = spec("{metrics: [AP]}");
    let t = build(&p, &s, Some(&reference), &BTreeMap::new(), "t");
    assert_eq!(
        t.text_claims[0].text,
        "Paper's text (Sec. 4): \"better by 2.2\" states +2.20; its own table gives +2.20 \
         (difference of two cells): they agree"
    );
    assert!((t.text_claims[1].computed.unwrap() - 0.65).abs() < 1e-12);
    assert_eq!(t.text_claims[1].agrees, Some(false));
    assert!(markdown(&t).contains("- Paper's text: \"by 1% on average\" states +1.00; its own table gives +0.65 (mean of 2 cells): they disagree\n"));
    // A cell the file does not have, and a claim that says neither mean nor difference.
    let bad: TableReference = crate::spec::from_yaml(
        "{rows: {base: {AP: 21.3}}, text_claims: [{quote: q, stated: 1, \
         difference: {row: new, than: base, column: AP}}, {quote: r, stated: 1}]}",
    )
    .unwrap();
    let problems: Vec<String> = check(&p, &s, Some(&bad))
        .into_iter()
        .map(|(_, p, _)| p)
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("text_claims[0]: no cell at row `new`, column `AP`")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("text_claims[1]: say what")),
        "{problems:?}"
    );
}

#[test]
fn the_shipped_papers_text_claims_read_their_own_tables() {
    let alwa: crate::spec::ReferenceFile =
        crate::spec::from_yaml(include_str!("../../sweeps/alwa_t2.paper.yaml")).unwrap();
    let r = alwa.table("alwa_t2").unwrap();
    let c = super::text_claims::check(&r.text_claims[0], &r);
    // Twelve Improvement% cells averaging +0.65 points against "1% on average".
    assert_eq!(c.cells, 12);
    assert!((c.computed.unwrap() - 7.79 / 12.0).abs() < 1e-12, "{c:?}");
    assert_eq!(c.agrees, Some(false));
    let ugs: crate::spec::ReferenceFile =
        crate::spec::from_yaml(include_str!("../../sweeps/ablation_ugs.paper.yaml")).unwrap();
    let r = ugs.table("ablation_ugs").unwrap();
    let c = super::text_claims::check(&r.text_claims[0], &r);
    assert!(
        (c.computed.unwrap() - 2.2).abs() < 1e-9 && c.agrees == Some(true),
        "{c:?}"
    );
}

#[test]
fn a_claims_jobs_are_the_ones_its_test_reads() {
    let mut jobs = Vec::new();
    for seed in 0..3 {
        for (row, reg, tag) in [
            ("1.00:1.00", RegLossSpec::L1, "a1"),
            ("1.00:1.00", RegLossSpec::Ciou, "a2"),
            ("0.25:0.25", RegLossSpec::L1, "b1"),
            ("0.25:0.25", RegLossSpec::Ciou, "b2"),
        ] {
            jobs.push(job(&format!("{tag}s{seed}"), row, seed, reg, 32));
        }
    }
    let p = plan(jobs);
    let values: Vec<(String, f64)> = p
        .jobs
        .iter()
        .map(|j| (j.id.clone(), 0.7 + 0.01 * j.seed as f64))
        .collect();
    let refs: Vec<(&str, f64)> = values.iter().map(|(i, v)| (i.as_str(), *v)).collect();
    let views = views("AP50", &refs);
    let s = spec(
        "{columns: {axis: loss.reg.kind, labels: {l1: L1, ciou: CIoU}}, metrics: [AP50], \
         claims: [{row: '0.25:0.25', than: '1.00:1.00', metric: AP50, column: CIoU}, \
         {row: '0.25:0.25', than: '1.00:1.00', metric: AP50}, \
         {row: '0.25:0.25', than: '1.00:1.00', metric: AP50, column: SmoothL1}]}",
    );
    let cells = crate::report::claim_jobs(&p, &s);
    let ids = |side: &[&PlannedJob]| side.iter().map(|j| j.id.clone()).collect::<Vec<_>>();
    let [row, than] = cells[0].as_ref().unwrap();
    assert_eq!(ids(row), ["b2s0", "b2s1", "b2s2"]);
    assert_eq!(ids(than), ["a2s0", "a2s1", "a2s2"]);
    // No column named: the first group, as the claim's test takes it.
    let [row, _] = cells[1].as_ref().unwrap();
    assert_eq!(ids(row), ["b1s0", "b1s1", "b1s2"]);
    assert!(cells[2].is_none(), "a column the table does not have");
    // The test reads exactly these jobs' seeds.
    let t = build(&p, &s, None, &views, "t");
    let seeds: Vec<u64> = t.claims[0]
        .values
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.seed)
        .collect();
    assert_eq!(seeds, [0, 1, 2]);
    assert_eq!(t.claims[2].verdict, Verdict::NoSuchCell);
}

/// A finished job whose `metric` was `at` at 75% of its 800 iterations and `last` at the end.
fn done_with_progress(metric: &str, at: f64, last: f64) -> JobView {
    let mut view = done(&[(metric, last)]);
    if let JobView::Result(r) = &mut view {
        r.iterations = 800;
        r.progress = [(400, at / 2.0), (600, at), (800, last)]
            .iter()
            .map(|&(iteration, v)| crate::journal::EvalPoint {
                iteration,
                metrics: [(metric.to_string(), v)].into(),
            })
            .collect();
    }
    view
}

#[test]
fn a_still_rising_cell_is_marked_in_every_format_and_named_in_the_caption() {
    // Columns L1 and GIoU; in L1, "L2" rose by 4.0 against a std of 1.0; "UGS" stayed.
    let with_reg = |id: &str, row: &str, seed: u64, reg: RegLossSpec| job(id, row, seed, reg, 32);
    let p = plan(vec![
        with_reg("a0", "L2", 0, RegLossSpec::L1),
        with_reg("a1", "L2", 1, RegLossSpec::L1),
        with_reg("b0", "UGS", 0, RegLossSpec::L1),
        with_reg("b1", "UGS", 1, RegLossSpec::L1),
        with_reg("c0", "L2", 0, RegLossSpec::Giou),
    ]);
    let views: BTreeMap<String, JobView> = [
        ("a0", done_with_progress("AP50", 0.26, 0.30)),
        ("a1", done_with_progress("AP50", 0.2741, 0.3141)),
        ("b0", done_with_progress("AP50", 0.30, 0.30)),
        ("b1", done_with_progress("AP50", 0.31, 0.31)),
        ("c0", done_with_progress("AP50", 0.20, 0.30)),
    ]
    .into_iter()
    .map(|(id, v)| (id.to_string(), v))
    .collect();
    let s = spec(
        "{title: T, metrics: [AP50@black_patch, AP50], columns: {axis: loss.reg.kind, labels: {l1: L1, giou: GIoU}}}",
    );
    let t = build(&p, &s, None, &views, "t");
    let md = markdown(&t);
    assert!(
        md.contains("| L2 | no AP50@black_patch | 30.7 ± 1.0 † |"),
        "{md}"
    );
    assert!(
        md.contains("| UGS | no AP50@black_patch | 30.5 ± 0.7 |"),
        "{md}"
    );
    assert!(
        md.contains(
            "Still rising (†) in 1 of 2 cells judged: the mean AP50 over seeds rose from the \
             evaluation at 75% of the schedule to the end by more than its std over seeds in L2 \
             (L1) (+4.0 vs std 1.0). L2 (GIoU), with one seed, is not judged (no spread over \
             seeds): its AP50 changed by +10.0 from 75% of the schedule to the end."
        ),
        "{md}"
    );
    let tex = latex(&t);
    assert!(tex.contains("30.7 $\\pm$ 1.0 $^\\dagger$"), "{tex}");
    assert!(
        tex.contains("{\\footnotesize $^\\dagger$ still rising: the mean AP50 over seeds"),
        "{tex}"
    );
    let text = csv(&t);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(",status,still_rising"), "{text}");
    assert!(
        lines[1].starts_with("L2,") && lines[1].ends_with(",L1"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("UGS,") && lines[2].ends_with(",no"),
        "{text}"
    );
    let html = super::html::tables::table(&t);
    assert!(html.contains("30.7 ± 1.0 †</td>"), "{html}");
    assert!(
        html.contains("seeds; † still rising: the mean AP50"),
        "{html}"
    );
    // Results without progress: no mark, no caption sentence, an empty flag.
    let old: BTreeMap<String, JobView> = ["a0", "a1", "b0", "b1", "c0"]
        .iter()
        .map(|id| (id.to_string(), done(&[("AP50", 0.3)])))
        .collect();
    let t = build(&p, &s, None, &old, "t");
    assert!(
        !markdown(&t).contains('†') && !t.caption.contains("rising"),
        "{}",
        t.caption
    );
    assert!(
        csv(&t).lines().nth(1).unwrap().ends_with(','),
        "{}",
        csv(&t)
    );
}
