//! `sweep plan`: expansion, job ids and the JSON a script reads.

use serde_json::Value;

use crate::util::{repo, run, sweep, temp_dir, write};

fn plan_json(args: &[&str], cwd: &std::path::Path) -> Value {
    let (code, out, err) = run(sweep()
        .current_dir(cwd)
        .arg("plan")
        .args(args)
        .arg("--json"));
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("plan --json prints JSON")
}

#[test]
fn shipped_ablation_expands_to_five_rows_times_seeds() {
    let plan = plan_json(&["ablation_ugs"], &repo());
    let jobs = plan["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 15);
    let rows: Vec<&str> = jobs
        .iter()
        .step_by(3)
        .map(|j| j["row"].as_str().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "L2 (Baseline)",
            "L_CE",
            "L_CE + IN",
            "L_CE + λL_UM (λ=0.5)",
            "L_CE + λL_UM + γL^ur (full UGS)"
        ]
    );
    for j in jobs {
        for key in ["id", "variant", "seed", "config", "depends_on", "placement"] {
            assert!(j.get(key).is_some(), "job lacks {key}: {j}");
        }
        assert_eq!(j["placement"]["device"], "cpu");
    }
    let ids: std::collections::HashSet<&str> =
        jobs.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 15, "every row × seed is a distinct job");
}

#[test]
fn ids_depend_on_values_not_on_spelling() {
    let dir = temp_dir("ids");
    let a = write(
        &dir,
        "a.yaml",
        "name: a\nbase: {train: {lr: 0.02, iterations: 10}}\n",
    );
    let b = write(
        &dir,
        "b.yaml",
        "name: b\nbase:\n  train:\n    iterations: 10\n    lr: 2.0e-2\n    batch_size: 8\n",
    );
    let id = |p: &std::path::Path, extra: &[&str]| {
        let mut args = vec![p.to_str().unwrap()];
        args.extend_from_slice(extra);
        plan_json(&args, &dir)["jobs"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        id(&a, &[]),
        id(&b, &[]),
        "defaults written out or not, the same config"
    );
    assert_ne!(
        id(&a, &[]),
        id(&a, &["--set", "train.lr=0.03"]),
        "--set applies before hashing"
    );
    assert_eq!(id(&a, &["--set", "train.lr=0.02"]), id(&a, &[]));
}

#[test]
fn grid_axes_are_cartesian_per_variant_with_seeds() {
    let dir = temp_dir("grid");
    let s = write(&dir, "g.yaml", "name: g\nvariants:\n  - {name: l1, set: {loss.reg.kind: l1}}\n  - {name: sl1, set: {loss.reg.kind: smooth_l1}, grid: {loss.reg.beta: [0.1, 0.5]}}\ngrid:\n  train.batch_size: [4, 8]\nseeds: [0, 1]\n");
    let plan = plan_json(&[s.to_str().unwrap()], &dir);
    let jobs = plan["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2 * 2 + 2 * 2 * 2);
    assert_eq!(jobs[0]["row"], "l1 [batch_size=4]");
    assert_eq!(jobs[4]["row"], "sl1 [batch_size=4, beta=0.1]");
    assert_eq!(jobs[5]["config"]["loss"]["reg"]["beta"], 0.1);
    assert_eq!(jobs[5]["seed"], 1);
}

#[test]
fn bare_name_is_looked_up_in_sweeps() {
    let (code, out, err) = run(sweep()
        .current_dir(repo())
        .args(["plan", "ablation_ugs.yaml"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("15 jobs"), "{out}");
    assert!(
        !out.contains("not run"),
        "every row of the UGS ablation can run: {out}"
    );
}

#[test]
fn a_scale_may_set_the_seeds() {
    let dir = temp_dir("scale-seeds");
    let spec = write(
        &dir,
        "s.yaml",
        "name: s\nbase: {fake: {iterations: 2}}\nseeds: [0]\nscales:\n  quick: {}\n  full: {seeds: [0, 1, 2], fake.iterations: 5}\n",
    );
    let count = |scale: &str| {
        let plan = plan_json(&[spec.to_str().unwrap(), "--scale", scale], &dir);
        plan["jobs"].as_array().unwrap().len()
    };
    assert_eq!(count("quick"), 1);
    assert_eq!(count("full"), 3);
    let bad = write(&dir, "b.yaml", "name: b\nscales:\n  full: {seeds: [a]}\n");
    let (code, _, err) = run(sweep().arg("plan").arg(&bad));
    assert_eq!(code, 2);
    assert!(
        err.contains("b.yaml:3:") && err.contains("scales.full.seeds"),
        "{err}"
    );
}
